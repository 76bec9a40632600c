"""One `kedro run` = one MLflow run holding everything the catalog declares, whatever the runner.

A generated project (the example pipeline) plus a `branches` pipeline of 8 parallel branches that
each save a metric and an artifact through dataset-factory entries.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import generate, kedro, recorded_runs

pytestmark = pytest.mark.e2e
BRANCHES = 8

BRANCH_PIPELINE = (
    """
from kedro.pipeline import Node, Pipeline


def score(data, weight):
    return float(data["radius"].mean() * weight)


def summarize(data, weight):
    return (data.describe() * weight).reset_index()


BRANCHES = {branches}


def create_pipeline(**kwargs):
    nodes = []
    for i in range(BRANCHES):
        weight = f"params:branches.b{i}"
        nodes.append(Node(score, ["breast_cancer", weight], f"b{i}_score", name=f"score_b{i}"))
        nodes.append(
            Node(summarize, ["breast_cancer", weight], f"b{i}_summary", name=f"summarize_b{i}")
        )
    return Pipeline(nodes)
"""
).replace("{branches}", str(BRANCHES))

BRANCH_CATALOG = """
"{branch}_score":
  type: kedro_mlflow_runtime.MlflowMetricDataset

"{branch}_summary":
  type: kedro_mlflow_runtime.MlflowArtifactDataset
  artifact_path: summaries
  dataset:
    type: pandas.CSVDataset
    filepath: data/08_reporting/{branch}_summary.csv
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    path = generate(tmp_path_factory.mktemp("runners") / "project")
    package = path / "src" / "kedro_mlflow_project" / "pipelines" / "branches"
    package.mkdir()
    (package / "__init__.py").write_text("from .pipeline import create_pipeline\n")
    (package / "pipeline.py").write_text(BRANCH_PIPELINE)
    (path / "conf/base/catalog_branches.yml").write_text(BRANCH_CATALOG)
    weights = "\n".join(f"  b{i}: {i + 1}" for i in range(BRANCHES))
    (path / "conf/base/parameters_branches.yml").write_text(f"branches:\n{weights}\n")
    return path


def artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    found: set[str] = set()
    for item in client.list_artifacts(run_id, path):
        found |= artifacts(client, run_id, item.path) if item.is_dir else {item.path}
    return found


@pytest.mark.parametrize(
    ("runner", "flags"),
    [
        ("SequentialRunner", []),
        ("ThreadRunner", []),
        ("ParallelRunner", []),
        ("SequentialRunner", ["--async"]),  # datasets load and save in threads
        ("ParallelRunner", ["--env", "server"]),  # a real tracking server, artifacts proxied
    ],
    ids=["sequential", "thread", "parallel", "async", "parallel-server"],
)
def test_every_runner_records_one_run_with_everything(project, runner, flags, request):
    store: Path | str = project / "mlflow.db"
    if "server" in flags:  # conf/server/mlflow.yml: only the tracking URI differs (soft merge)
        store = request.getfixturevalue("mlflow_server").uri
        (project / "conf/server").mkdir(exist_ok=True)
        (project / "conf/server/mlflow.yml").write_text(
            f"server:\n  mlflow_tracking_uri: {store}\n"
        )
    exists = isinstance(store, str) or store.exists()
    before = {run.info.run_id for run in recorded_runs(store)} if exists else set()
    result = kedro(project, "run", "--runner", runner, *flags)
    assert result.returncode == 0, result.stdout + result.stderr

    new = [r for r in recorded_runs(store) if r.info.run_id not in before]
    assert len(new) == 1, f"{runner} split the Kedro run into {len(new)} MLflow runs"
    [run] = new
    assert run.info.status == "FINISHED"
    assert run.data.tags["runner"] == runner

    assert set(run.data.params) == {
        "split",
        "model",
        "threshold",
        *(f"branches.b{i}" for i in range(BRANCHES)),
    }
    expected_metrics = {
        "training_loss",
        "metrics.accuracy",
        "metrics.f1",
        "metrics.roc_auc",
        *(f"b{i}_score" for i in range(BRANCHES)),
    }
    assert set(run.data.metrics) == expected_metrics
    client = MlflowClient(store if isinstance(store, str) else f"sqlite:///{store}")
    assert len(client.get_metric_history(run.info.run_id, "training_loss")) == 20  # epochs

    assert artifacts(client, run.info.run_id) == {
        "plots/training_loss.png",
        "reports/classification_report.csv",
        *(f"summaries/b{i}_summary.csv" for i in range(BRANCHES)),
    }
    models = client.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{run.info.run_id}'",
    )
    # the catalog's model, and the inference pipeline logged at the end of the run
    assert sorted(model.name for model in models) == ["classifier", "inference_model"]
