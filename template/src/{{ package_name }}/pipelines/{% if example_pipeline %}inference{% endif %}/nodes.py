"""Nodes of the inference pipeline. The training pipeline logs this pipeline as one MLflow
model (see ../training/pipeline.py), so these functions are what the served model runs."""

import pandas as pd
from sklearn.pipeline import Pipeline


def predict(
    classifier: Pipeline, x_test: pd.DataFrame, threshold: float
) -> pd.DataFrame:
    """Probability of malignancy for each row, and the decision at `threshold`."""
    probability = classifier.predict_proba(x_test)[:, 1]
    return pd.DataFrame(
        {
            "malignant_probability": probability,
            "malignant": (probability >= threshold).astype(int),
        },
        index=x_test.index,
    )
