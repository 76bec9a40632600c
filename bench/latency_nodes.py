"""The 2-node inference pipeline that bench/pipeline_model_latency.py serves as a model."""

import numpy as np
import pandas as pd


def prepare(features: pd.DataFrame, scaler) -> np.ndarray:
    return scaler.transform(features)


def score(classifier, prepared: np.ndarray, threshold: float) -> np.ndarray:
    return (classifier.predict_proba(prepared)[:, 1] >= threshold).astype(int)
