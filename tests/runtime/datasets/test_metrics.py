"""Metric datasets against a real SQLite store."""

import mlflow
import pytest
from kedro.io import DatasetError
from mlflow import MlflowClient

from kedro_mlflow_runtime import (
    MlflowMetricDataset,
    MlflowMetricHistoryDataset,
    MlflowMetricsHistoryDataset,
)
from kedro_mlflow_runtime.tracking import run_context
from tests.runtime.datasets.conftest import from_catalog


def history(store, key, run_id=None):
    points = store.client.get_metric_history(run_id or store.run_id, key)
    return [(p.step, p.value) for p in points]


def test_metric_overwrite_logs_at_the_last_step_and_loads_the_last_value(store):
    dataset = MlflowMetricDataset(key="accuracy")
    dataset.save(0.5)
    dataset.save(0.75)
    assert history(store, "accuracy") == [(0, 0.5), (0, 0.75)]
    assert dataset.load() == 0.75
    assert dataset.exists()


def test_metric_append_and_explicit_step(store):
    append = MlflowMetricDataset(key="loss", save_args={"mode": "append"})
    for value in (3.0, 2.0, 1.0):
        append.save(value)
    assert history(store, "loss") == [(0, 3.0), (1, 2.0), (2, 1.0)]
    MlflowMetricDataset(key="loss", save_args={"step": 10}).save(0.5)
    assert MlflowMetricDataset(key="loss", load_args={"step": 1}).load() == 2.0
    assert MlflowMetricDataset(key="loss").load() == 0.5


def test_metric_reloads_from_a_past_run(store):
    MlflowMetricDataset(key="auc").save(0.9)
    past = store.run_id
    store.new_run()
    assert MlflowMetricDataset(key="auc", run_id=past).load() == 0.9
    assert not MlflowMetricDataset(key="auc").exists()


@pytest.mark.parametrize("bad", ["0.5", [1.0], True])
def test_a_metric_that_is_not_a_number_names_the_entry(store, bad):
    dataset = MlflowMetricDataset(key="accuracy")
    with pytest.raises(DatasetError, match=r"key='accuracy'.*a metric value must be a number"):
        dataset.save(bad)


def test_bad_arguments_name_the_catalog_entry_and_the_argument():
    message = from_catalog(
        "my_metric", type="kedro_mlflow_runtime.MlflowMetricDataset", save_args={"mode": "max"}
    )
    assert "dataset 'my_metric'" in message
    assert "save_args.mode must be one of 'overwrite', 'append', got 'max'" in message
    message = from_catalog(
        "hist", type="kedro_mlflow_runtime.MlflowMetricHistoryDataset", load_args={"mode": "x"}
    )
    assert "dataset 'hist'" in message
    assert "load_args.mode must be one of 'list', 'dict', 'history', got 'x'" in message


@pytest.mark.parametrize(
    ("save_mode", "data"),
    [
        ("list", [0.9, 0.5, 0.25]),
        ("dict", {0: 0.9, 1: 0.5, 2: 0.25}),
        (
            "history",
            [{"step": 0, "value": 0.9}, {"step": 1, "value": 0.5}, {"step": 2, "value": 0.25}],
        ),
    ],
)
def test_metric_history_formats(store, save_mode, data):
    MlflowMetricHistoryDataset(key="loss", save_args={"mode": save_mode}).save(data)
    assert history(store, "loss") == [(0, 0.9), (1, 0.5), (2, 0.25)]
    assert MlflowMetricHistoryDataset(key="loss").load() == [0.9, 0.5, 0.25]
    assert MlflowMetricHistoryDataset(key="loss", load_args={"mode": "dict"}).load() == {
        0: 0.9,
        1: 0.5,
        2: 0.25,
    }
    loaded = MlflowMetricHistoryDataset(key="loss", load_args={"mode": "history"}).load()
    assert [(p["step"], p["value"]) for p in loaded] == [(0, 0.9), (1, 0.5), (2, 0.25)]


@pytest.fixture
def log_batch_calls(monkeypatch):
    """Count requests: the real log_batch runs, we only count the calls."""
    calls = []
    original = MlflowClient.log_batch

    def counting(self, run_id, metrics=(), params=(), tags=(), **kwargs):
        calls.append(len(metrics))
        return original(self, run_id, metrics=metrics, params=params, tags=tags, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_batch", counting)
    return calls


def test_saving_n_points_costs_one_request_per_thousand(store, log_batch_calls):
    MlflowMetricHistoryDataset(key="curve").save([float(i) for i in range(2500)])
    assert log_batch_calls == [1000, 1000, 500]
    assert len(history(store, "curve")) == 2500
    log_batch_calls.clear()
    MlflowMetricsHistoryDataset(prefix="m").save({f"k{i}": i for i in range(1200)})
    assert log_batch_calls == [1000, 200]


def test_metrics_history_formats_and_prefix(store):
    dataset = MlflowMetricsHistoryDataset(prefix="model")
    dataset.save(
        {
            "accuracy": 0.9,
            "f1": {"value": 0.8, "step": 2},
            "loss": [{"value": 1.0, "step": 0}, {"value": 0.5, "step": 1}],
        }
    )
    metrics = store.client.get_run(store.run_id).data.metrics
    assert metrics == {"model.accuracy": 0.9, "model.f1": 0.8, "model.loss": 0.5}
    assert dataset.load() == {
        "model.accuracy": {"step": 0, "value": 0.9},
        "model.f1": {"step": 2, "value": 0.8},
        "model.loss": [{"step": 0, "value": 1.0}, {"step": 1, "value": 0.5}],
    }
    assert dataset.exists()
    assert not MlflowMetricsHistoryDataset(prefix="other").exists()


def test_metrics_history_lists_without_steps_are_at_steps_0_1_and_a_model_still_logs(store):
    """Two values of one key at one step and millisecond make MLflow refuse a model logged in
    the same run (its logged-model metrics are unique by key, step and time)."""
    MlflowMetricsHistoryDataset(prefix="m").save(
        {"loss": [0.5, 0.25, 0.125], "f1": [{"value": 0.7}, {"value": 0.8, "step": 5}]}
    )
    assert history(store, "m.loss") == [(0, 0.5), (1, 0.25), (2, 0.125)]
    assert sorted(history(store, "m.f1")) == [(0, 0.7), (5, 0.8)]
    mlflow.set_tracking_uri(store.uri)
    with mlflow.start_run(run_id=store.run_id):
        info = mlflow.pyfunc.log_model(
            name="echo", python_model=Echo(), pip_requirements=["pandas"]
        )
    assert store.client.get_logged_model(info.model_id).source_run_id == store.run_id


class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input):
        return model_input


def test_metrics_history_rejects_what_is_not_a_metric(store):
    with pytest.raises(DatasetError, match=r"metric 'f1': expected \{'value'"):
        MlflowMetricsHistoryDataset(prefix="m").save({"f1": {"val": 1}})
    with pytest.raises(DatasetError, match=r"metric 'f1': a metric value must be a number"):
        MlflowMetricsHistoryDataset(prefix="m").save({"f1": "high"})


def test_with_no_run_at_all_a_metric_save_is_an_error_as_in_kedro_mlflow(no_run):
    dataset = MlflowMetricDataset(key="accuracy")
    with pytest.raises(DatasetError, match=r"no MLflow run to log into.*mlflow.start_run"):
        dataset.save(0.5)
    with pytest.raises(DatasetError, match="no MLflow run to log into"):
        MlflowMetricsHistoryDataset(prefix="p").save({"a": 1})
    runs = no_run.client.search_runs([no_run.experiment_id])
    assert [r.info.run_id for r in runs] == [no_run.run_id]  # no stray run
    with pytest.raises(DatasetError, match="no MLflow run to load from"):
        dataset.load()


def test_in_a_pipeline_with_tracking_disabled_nothing_is_logged_and_one_warning_is_given(
    no_run, runtime_logs
):
    run_context.publish_disabled(True)
    dataset = MlflowMetricDataset(key="accuracy")
    dataset.save(0.5)
    dataset.save(0.6)
    MlflowMetricsHistoryDataset(prefix="p").save({"a": 1})
    warnings = [r for r in runtime_logs if "no MLflow run to log into" in r.getMessage()]
    assert len(warnings) == 2  # once per dataset
    assert "disabled" in warnings[0].getMessage()
    assert no_run.client.get_run(no_run.run_id).data.metrics == {}


def test_every_metric_dataset_logs_into_mlflows_active_run(no_run):
    """A notebook's `with mlflow.start_run():` (kedro-mlflow's documented use)."""
    mlflow.set_tracking_uri(no_run.uri)
    with mlflow.start_run(experiment_id=no_run.experiment_id) as active:
        MlflowMetricDataset(key="accuracy").save(0.5)
        MlflowMetricHistoryDataset(key="loss").save([0.3, 0.2])
        MlflowMetricsHistoryDataset(prefix="p").save({"a": {"value": 1.0, "step": 0}})
        assert MlflowMetricDataset(key="accuracy").load() == 0.5
    logged = no_run.client.get_run(active.info.run_id).data.metrics
    assert logged == {"accuracy": 0.5, "loss": 0.2, "p.a": 1.0}
    assert no_run.client.get_run(no_run.run_id).data.metrics == {}  # not the other run


def test_a_run_id_can_be_set_on_the_dataset(no_run):
    dataset = MlflowMetricDataset(key="accuracy")
    dataset.run_id = no_run.run_id
    dataset.save(0.7)
    assert dataset.run_id == no_run.run_id
    assert no_run.client.get_run(no_run.run_id).data.metrics == {"accuracy": 0.7}
