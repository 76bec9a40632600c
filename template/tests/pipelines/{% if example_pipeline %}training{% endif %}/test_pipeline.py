"""The training pipeline on the shipped data set, without MLflow (an in-memory catalog)."""

import importlib
from pathlib import Path

import pandas as pd
import pytest
from kedro.framework.startup import bootstrap_project
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

PROJECT_PATH = Path(__file__).resolve().parents[3]
# bootstrap_project puts src/ on sys.path, so this works without `pip install -e .`
PACKAGE = bootstrap_project(PROJECT_PATH).package_name
training = importlib.import_module(f"{PACKAGE}.pipelines.training")
nodes = importlib.import_module(f"{PACKAGE}.pipelines.training.nodes")

SPLIT = {"target": "malignant", "test_size": 0.25, "random_state": 0}
MODEL = {"alpha": 0.001, "epochs": 10, "random_state": 0}


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(Path(PROJECT_PATH, "data", "01_raw", "breast_cancer.csv"))


def test_split_data_keeps_every_row(data):
    x_train, x_test, y_train, y_test = nodes.split_data(data, SPLIT)
    assert len(x_train) + len(x_test) == len(data)
    assert SPLIT["target"] not in x_train.columns
    assert len(y_train) == len(x_train)


def test_training_loss_is_recorded_per_epoch_and_decreases(data):
    x_train, _, y_train, _ = nodes.split_data(data, SPLIT)
    _, loss = nodes.train_model(x_train, y_train, MODEL)
    assert len(loss) == MODEL["epochs"]
    assert loss[-1] < loss[0]


def test_pipeline_trains_a_useful_classifier(data):
    catalog = DataCatalog(
        {
            "breast_cancer": MemoryDataset(data),
            "params:split": MemoryDataset(SPLIT),
            "params:model": MemoryDataset(MODEL),
        }
    )
    # every output stays in memory: nothing is written, nothing is logged to MLflow
    SequentialRunner().run(training.create_pipeline(), catalog)
    metrics = catalog.load("metrics")
    assert metrics["accuracy"] > 0.85
    assert 0.5 < metrics["roc_auc"] <= 1.0
    report = catalog.load("classification_report")
    assert list(report["class"]) == ["benign", "malignant"]
    assert catalog.load("training_loss_plot").axes
