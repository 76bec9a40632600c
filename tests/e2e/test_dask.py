"""A `kedro run` on a Dask cluster is one MLflow run holding everything its nodes logged.

The cluster (a scheduler and two single-threaded worker processes) starts before `kedro run`, in
another folder and without MlflowHook's environment, so the run reaches its workers only with the
datasets. The runner and its catalog are the ones docs/kedro-mlflow-starter.md gives users, taken
from the generated project's docs as they are.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import generate, kedro, recorded_runs
from tests.e2e.test_runners import artifacts

pytestmark = pytest.mark.e2e

# A LocalCluster in a process of its own, serving until its stdin closes.
CLUSTER = """
import json, os, sys
from distributed import Client, LocalCluster

cluster = LocalCluster(
    n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
)
with Client(cluster) as client:
    pids = sorted(client.run(os.getpid).values())
print(json.dumps({"address": cluster.scheduler_address, "pids": pids}), flush=True)
sys.stdin.read()
cluster.close()
"""

# Two nodes that need nothing run at once, one on each worker: each records its process.
WHERE_PIPELINE = """
import os
import time

from kedro.pipeline import Node, Pipeline


def pid():
    time.sleep(2)  # the other node, ready at the same time, goes to the other worker
    return os.getpid()


def create_pipeline(**kwargs):
    return Pipeline([Node(pid, None, f"pid_{x}", name=f"pid_{x}") for x in "ab"])
"""

WHERE_CATALOG = """
"pid_{node}":
  type: kedro_mlflow_runtime.MlflowMetricDataset
"""


def write_recipe(project: Path) -> list[str]:
    """Write each code block of the docs' Dask section that starts with `# <file path>` to
    that file."""
    docs = (project / "docs/kedro-mlflow-starter.md").read_text()
    section = docs.split("\n## Running on a Dask cluster\n")[1].split("\n## ")[0]
    written = []
    for body in re.findall(r"```(?:python|yaml)\n(# [\w./-]+\n.*?)```", section, re.S):
        path = body.splitlines()[0][2:]
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(body)
        written.append(path)
    return written


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    path = generate(tmp_path_factory.mktemp("dask") / "project")
    assert write_recipe(path) == [
        "src/kedro_mlflow_project/dask_runner.py",
        "conf/dask/catalog.yml",
    ]
    package = path / "src/kedro_mlflow_project/pipelines/where"
    package.mkdir()
    (package / "__init__.py").write_text("from .pipeline import create_pipeline\n")
    (package / "pipeline.py").write_text(WHERE_PIPELINE)
    (path / "conf/base/catalog_where.yml").write_text(WHERE_CATALOG)
    return path


@pytest.fixture
def cluster(project: Path, tmp_path: Path) -> Iterator[dict]:
    """Started before the run, from another folder, with the project importable (as
    `pip install -e .` makes it) and none of what MlflowHook publishes in its environment."""
    env = {name: value for name, value in os.environ.items() if "KEDRO_MLFLOW" not in name}
    env["PYTHONPATH"] = os.pathsep.join(
        path for path in (str(project / "src"), os.environ.get("PYTHONPATH")) if path
    )
    log = tmp_path / "cluster.log"
    with open(log, "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", CLUSTER],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 120)
        line = process.stdout.readline() if ready else ""
        assert line, f"the Dask cluster did not start:\n{log.read_text()}"
        yield json.loads(line)
    finally:
        process.stdin.close()  # the cluster closes its workers and exits
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_run_on_a_dask_cluster_is_one_mlflow_run_with_everything(project, cluster):
    result = kedro(
        project,
        "run",
        "--env",
        "dask",
        "--runner",
        "kedro_mlflow_project.dask_runner.DaskRunner",
        "--runner-params",
        f"client_args.address={cluster['address']}",
    )
    assert result.returncode == 0, result.stdout + result.stderr

    [run] = recorded_runs(project / "mlflow.db")
    assert run.info.status == "FINISHED"
    assert run.data.tags["runner"] == "DaskRunner"
    # logged by the `kedro run` process
    assert set(run.data.params) == {"split", "model", "threshold"}
    # logged by the workers, through each kind of metric dataset
    assert set(run.data.metrics) == {
        "training_loss",  # MlflowMetricHistoryDataset
        "metrics.accuracy",  # MlflowMetricsHistoryDataset
        "metrics.f1",
        "metrics.roc_auc",
        "pid_a",  # MlflowMetricDataset
        "pid_b",
    }
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    assert len(client.get_metric_history(run.info.run_id, "training_loss")) == 20
    assert artifacts(client, run.info.run_id) == {
        "plots/training_loss.png",
        "reports/classification_report.csv",
    }
    models = client.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{run.info.run_id}'",
    )
    # the classifier, logged by a worker; the inference pipeline, by `kedro run` at the end
    assert sorted(model.name for model in models) == ["classifier", "inference_model"]
    assert not (project / "mlflow-not-logged").exists()  # nothing left for `kedro mlflow retry`

    # the nodes ran on the workers, both of them, not in the `kedro run` process
    pids = {int(run.data.metrics["pid_a"]), int(run.data.metrics["pid_b"])}
    assert pids == set(cluster["pids"])
