"""The inference pipeline and its link to training, without MLflow."""

import importlib
from pathlib import Path

import pandas as pd
from kedro.framework.startup import bootstrap_project
from kedro_mlflow_runtime import PipelineML

PROJECT_PATH = Path(__file__).resolve().parents[3]
PACKAGE = bootstrap_project(PROJECT_PATH).package_name
inference = importlib.import_module(f"{PACKAGE}.pipelines.inference.nodes")
training = importlib.import_module(f"{PACKAGE}.pipelines.training")


class Constant:
    """A stand-in classifier that is always 70% sure."""

    def predict_proba(self, rows: pd.DataFrame):
        return pd.DataFrame(
            {"benign": 0.3, "malignant": 0.7}, index=rows.index
        ).to_numpy()


def test_predict_applies_the_threshold():
    rows = pd.DataFrame({"radius": [10.0, 20.0]})
    assert inference.predict(Constant(), rows, 0.5)["malignant"].tolist() == [1, 1]
    assert inference.predict(Constant(), rows, 0.9)["malignant"].tolist() == [0, 0]


def test_training_carries_the_inference_pipeline_to_log_as_a_model():
    pipeline = training.create_pipeline()
    assert isinstance(pipeline, PipelineML)
    assert pipeline.input_name == "x_test"
    assert pipeline.inference.outputs() == {"predictions"}
