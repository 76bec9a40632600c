"""Catalog arguments MLflow would refuse fail when the catalog entry is built, naming the entry,
the argument and the value, rather than when the node saves (or as a "not logged" note)."""

from __future__ import annotations

import pytest
from kedro.io import DatasetError
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repo import verify_artifact_path
from mlflow.utils.uri import validate_path_is_safe
from mlflow.utils.validation import _validate_metric_name

from kedro_mlflow_runtime import MlflowArtifactDataset, MlflowMetricsHistoryDataset
from kedro_mlflow_runtime.datasets.metrics import metric_key_problem
from tests.runtime.datasets.conftest import from_catalog

METRIC = "kedro_mlflow_runtime.MlflowMetricDataset"
HISTORY = "kedro_mlflow_runtime.MlflowMetricHistoryDataset"
METRICS = "kedro_mlflow_runtime.MlflowMetricsHistoryDataset"
ARTIFACT = "kedro_mlflow_runtime.MlflowArtifactDataset"
JSON = {"type": "json.JSONDataset", "filepath": "data/x.json"}

KEYS = [
    "accuracy", "val/loss", "f1 score", "a.b-c_d", "time:ms", "x" * 250, "é",
    "", ".", "..", "a/../b", "/abs", "a//b", "a/", "./a", "acc@1", "loss!", "a\\b", "x" * 251,
]  # fmt: skip


def mlflow_accepts_metric(key: str) -> bool:
    try:
        _validate_metric_name(key)
    except MlflowException:
        return False
    return len(key) <= 250  # checked by MLflow with the value, in _validate_metric


@pytest.mark.parametrize("key", KEYS)
def test_the_metric_key_rule_is_mlflows(key):
    assert (metric_key_problem(key) is None) == mlflow_accepts_metric(key)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"type": METRIC, "key": "acc@1"}, "key: 'acc@1': MLflow metric names may only contain"),
        ({"type": HISTORY, "key": "a/../b"}, "key: 'a/../b': MLflow metric names are also file"),
        ({"type": METRIC, "key": 3}, "key: 3: a metric key is a string, got int"),
        ({"type": METRICS, "prefix": "/model"}, "prefix: '/model': MLflow metric names are also"),
        (
            {"type": METRIC, "key": "acc", "save_args": {"step": "3"}},
            "save_args.step: a metric step must be an integer, got '3'",
        ),
        (
            {"type": METRIC, "key": "acc", "save_args": {"step": 1.5}},
            "save_args.step: a metric step must be an integer, got 1.5",
        ),
        (
            {"type": METRIC, "key": "acc", "load_args": {"step": True}},
            "load_args.step: a metric step must be an integer, got True",
        ),
        (
            {"type": METRIC, "key": "acc", "save_args": {"timestamp": -1}},
            "save_args.timestamp: a timestamp is a non-negative integer",
        ),
        (
            {"type": ARTIFACT, "dataset": JSON, "artifact_path": "/tmp/reports"},
            "artifact_path: '/tmp/reports': it is a folder inside the run's artifacts, not an "
            "absolute path. Write a relative folder such as 'reports'",
        ),
        (
            {"type": ARTIFACT, "dataset": JSON, "artifact_path": "reports/../../etc"},
            "artifact_path: 'reports/../../etc': '..' would leave the run's artifacts",
        ),
        (
            {"type": ARTIFACT, "dataset": JSON, "artifact_path": "reports\\2024"},
            "artifact_path: 'reports\\\\2024': use '/' between folders, not '\\'",
        ),
        (
            {"type": ARTIFACT, "dataset": JSON, "artifact_path": "C:/reports"},
            "artifact_path: 'C:/reports': it is a folder inside the run's artifacts",
        ),
        (
            {"type": ARTIFACT, "dataset": JSON, "artifact_path": ["reports"]},
            "artifact_path: a folder of the run's artifacts is a string, got ['reports']",
        ),
    ],
)
def test_a_bad_argument_fails_when_the_entry_is_built(config, expected):
    message = from_catalog("my_entry", **config)
    assert "dataset 'my_entry'" in message
    assert expected in message


def test_negative_steps_are_accepted_as_mlflow_does(store):
    from kedro_mlflow_runtime import MlflowMetricDataset

    MlflowMetricDataset(key="warmup", save_args={"step": -1}).save(0.5)
    [point] = store.client.get_metric_history(store.run_id, "warmup")
    assert point.step == -1


ARTIFACT_PATHS = [
    "reports", "reports/2024", "reports/", "a b", "é/x", ".hidden",
    "./reports", "a//b", "a/./b", "/tmp/reports", "/", "a/../b", "..", "a\\b", "a#b", "C:/x",
]  # fmt: skip


def mlflow_accepts_artifact_path(path: str) -> bool:
    path = path.rstrip("/") or path  # a trailing '/' is dropped before MLflow sees it
    if "\\" in path:
        # refused everywhere on purpose: MLflow refuses it on Windows, and elsewhere makes one
        # folder named 'a\b', so a catalog would mean different things on different machines
        return False
    try:
        verify_artifact_path(path)
        validate_path_is_safe(path)
    except MlflowException:
        return False
    return True


@pytest.mark.parametrize("path", ARTIFACT_PATHS)
def test_the_artifact_path_rule_is_mlflows(path):
    try:
        MlflowArtifactDataset(dataset=JSON, artifact_path=path)
        accepted = True
    except DatasetError:
        accepted = False
    assert accepted == mlflow_accepts_artifact_path(path)


@pytest.mark.parametrize("path", [None, "", "reports", "reports/2024/", "a b"])
def test_accepted_artifact_paths_log(store, tmp_path, path):
    dataset = MlflowArtifactDataset(
        dataset={"type": "json.JSONDataset", "filepath": str(tmp_path / "x.json")},
        artifact_path=path,
    )
    dataset.save([1])
    [logged] = store.artifacts(store.run_id)
    assert logged == "/".join(filter(None, [(path or "").rstrip("/"), "x.json"]))


def test_a_metric_name_in_the_saved_data_mlflow_refuses_fails_the_save(store):
    dataset = MlflowMetricsHistoryDataset(prefix="model")
    with pytest.raises(DatasetError, match=r"metric 'top@5': its MLflow key: 'model.top@5': MLf"):
        dataset.save({"accuracy": 0.9, "top@5": 0.8})
    assert store.client.get_run(store.run_id).data.metrics == {}  # nothing half-logged


# --- in a real `kedro run`: before any node ------------------------------------------------------


def test_a_bad_metric_key_in_the_catalog_stops_the_run_before_any_node(project):
    catalog = (project.path / "conf/base/catalog.yml").read_text()
    catalog = catalog.replace(
        "result:\n  type: json.JSONDataset\n  filepath: data/result.json\n",
        f"result:\n  type: {METRIC}\n  key: 'total (€)'\n",
    )
    project.write("conf/base/catalog.yml", catalog)
    with pytest.raises(DatasetError) as raised:
        project.run()
    assert "dataset 'result'" in str(raised.value)
    assert "key: 'total (€)': MLflow metric names may only contain" in str(raised.value)
    assert not (project.path / "data/scaled.json").exists()  # not even the first node ran


def test_a_catalog_entry_name_that_is_not_a_metric_name_is_named(project):
    # the key defaults to the entry name: a transcoded entry `result@metric` has an '@'
    catalog = (project.path / "conf/base/catalog.yml").read_text().replace("result:", "result@x:")
    project.write("conf/base/catalog.yml", catalog + f"\nresult@metric:\n  type: {METRIC}\n")
    project.write(
        f"src/{project.package}/pipeline_registry.py",
        "from kedro.pipeline import Node, Pipeline\n"
        f"from {project.package}.nodes import scale, total\n\n"
        "def register_pipelines():\n"
        "    return {'__default__': Pipeline([\n"
        "        Node(scale, ['raw', 'params:factor'], 'scaled', name='scale'),\n"
        "        Node(total, ['scaled', 'params:model'], 'result@metric', name='total'),\n"
        "    ])}\n",
    )
    with pytest.raises(DatasetError) as raised:
        project.run()
    message = str(raised.value)
    assert "key (the catalog entry name; set `key:` in entry 'result@metric'): 'result@metric'" in (
        message
    )
    assert not (project.path / "data/scaled.json").exists()


def test_a_bad_artifact_path_in_the_catalog_stops_the_run_before_any_node(project):
    catalog = (project.path / "conf/base/catalog.yml").read_text()
    catalog = catalog.replace(
        "scaled:\n  type: json.JSONDataset\n  filepath: data/scaled.json\n",
        f"scaled:\n  type: {ARTIFACT}\n  artifact_path: ../outside\n"
        "  dataset:\n    type: json.JSONDataset\n    filepath: data/scaled.json\n",
    )
    project.write("conf/base/catalog.yml", catalog)
    with pytest.raises(DatasetError) as raised:
        project.run()
    assert "dataset 'scaled'" in str(raised.value)
    assert "artifact_path: '../outside': '..' would leave the run's artifacts" in str(raised.value)
    assert not (project.path / "data/scaled.json").exists()
