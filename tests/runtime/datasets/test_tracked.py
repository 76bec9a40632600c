"""The run travels with the datasets: a dataset pickled during a tracked run logs into that run in
a process that runs no pipeline of its own (a Dask worker started before the run), and into the
process's own run where there is one. Real SQLite stores; the "other process" is this one with
nothing published (the e2e Dask test runs real worker processes)."""

import json
import os
import pickle

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

from kedro_mlflow_runtime import (
    MlflowArtifactDataset,
    MlflowMetricDataset,
    MlflowMetricsHistoryDataset,
    MlflowModelTrackingDataset,
)
from kedro_mlflow_runtime.tracking import not_logged, run_context


def shipped(*datasets):
    """The datasets as a worker gets them: pickled here, unpickled where nothing is published
    (a worker started before the run never saw MlflowHook's environment variables)."""
    payload = pickle.dumps(datasets)
    run_context.publish(None)
    os.environ.pop(not_logged.ENV_VAR, None)
    return pickle.loads(payload)


def test_a_worker_with_nothing_published_logs_into_the_run_the_datasets_carry(store, tmp_path):
    metric = MlflowMetricDataset(key="accuracy")
    metric._name_after_catalog_entry("accuracy")
    report = MlflowArtifactDataset(
        dataset={"type": "pandas.CSVDataset", "filepath": str(tmp_path / "report.csv")},
        artifact_path="reports",
    )
    model = MlflowModelTrackingDataset(
        flavor="mlflow.sklearn", save_args={"name": "clf", "pip_requirements": ["scikit-learn"]}
    )
    metric, report, model = shipped(metric, report, model)
    # MLflow's own default store on the worker is elsewhere: the model must not land there
    elsewhere = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    mlflow.set_tracking_uri(elsewhere)

    metric.save(0.9)
    report.save(pd.DataFrame({"a": [1]}))
    model.save(LogisticRegression().fit(np.array([[0.0], [1.0]]), np.array([0, 1])))

    run = store.client.get_run(store.run_id)
    assert run.data.metrics == {"accuracy": 0.9}
    assert store.artifacts(store.run_id) == ["reports/report.csv"]
    [logged] = store.client.search_logged_models(experiment_ids=[store.experiment_id])
    assert (logged.name, logged.source_run_id) == ("clf", store.run_id)
    assert not MlflowClient(elsewhere).search_logged_models(experiment_ids=["0"])
    assert metric.load() == 0.9  # reads from the carried run too


def test_a_process_running_its_own_pipeline_logs_into_its_own_run(store):
    [metric] = pickle.loads(pickle.dumps([MlflowMetricDataset(key="loss")]))
    other = store.new_run()  # this process now tracks another pipeline: published, it wins
    metric.save(0.5)
    assert store.client.get_run(other).data.metrics == {"loss": 0.5}
    assert store.client.get_run(store.run_id).data.metrics == {}


def test_a_worker_whose_context_has_no_run_uses_the_carried_one(store, tmp_path):
    """A Dask cluster started from a notebook after its Kedro context was created: the workers
    inherit the project's store, but no run (it starts later)."""
    [metric] = shipped(MlflowMetricsHistoryDataset(prefix="m"))
    run_context.publish(run_context.RunTarget(f"sqlite:///{tmp_path / 'project.db'}"))
    metric.save({"f1": 0.7})
    assert store.client.get_run(store.run_id).data.metrics == {"m.f1": 0.7}


def test_what_a_worker_could_not_log_goes_to_the_ledger_of_the_run(store, tmp_path, monkeypatch):
    ledger = not_logged.ledger_path(tmp_path, store.run_id)
    monkeypatch.setenv(not_logged.ENV_VAR, str(ledger))  # as the run's start sets it
    [metric] = shipped(MlflowMetricDataset(key="accuracy"))
    store.client.delete_run(store.run_id)  # the store now refuses to log into it
    metric.save(0.9)
    [note] = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert note["replay"]["metrics"][0][:2] == ["accuracy", 0.9]
    assert note["replay"]["run_id"] == store.run_id


def test_a_dataset_pickled_outside_any_run_carries_no_run(no_run):
    [metric] = shipped(MlflowMetricDataset(key="x"))
    assert metric.run_id is None
