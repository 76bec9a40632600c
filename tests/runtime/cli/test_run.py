"""`kedro mlflow run start|end`: an orchestrator's first task opens the run, its `kedro run --nodes`
tasks (separate processes) log into it, its last task ends it."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from kedro_mlflow_runtime.cli.runs import GONE, open_runs
from tests.conftest import TEMPLATE_DIR, free_port, kedro, recorded_runs

pytestmark = pytest.mark.e2e

# the nodes' outputs are logged: `scaled` as an artifact, `result` as a metric
CATALOG = """
raw:
  type: json.JSONDataset
  filepath: data/raw.json
scaled:
  type: kedro_mlflow_runtime.MlflowArtifactDataset
  dataset: {type: json.JSONDataset, filepath: data/scaled.json}
result:
  type: kedro_mlflow_runtime.MlflowMetricDataset
"""
# the template's own logging (the runtime's INFO lines, rich) plus a plain handler on stdout
LOGGING = (
    (TEMPLATE_DIR / "conf" / "logging.yml")
    .read_text()
    .replace("handlers: [rich]", "handlers: [rich, console]")
)


@pytest.fixture(params=["sqlite", "server"])
def store(request, project):
    """Where the DAG's run lives: the project's SQLite file, or a real tracking server."""
    if request.param == "sqlite":
        return f"sqlite:///{project.db}"
    server = request.getfixturevalue("mlflow_server")
    project.mlflow_yml(f"server:\n  mlflow_tracking_uri: {server.uri}\n")
    return server.uri


def mlflow_run(project, *args, **env):
    return kedro(project.path, "mlflow", "run", *args, COLUMNS="1000", **env)


def start(project, **env) -> str:
    started = mlflow_run(project, "start", **env)
    assert started.returncode == 0, started.stderr
    *kedros_own, run_id = started.stdout.splitlines()
    # before the command runs, Kedro logs which logging configuration it uses
    assert all("as logging configuration" in line for line in kedros_own), started.stdout
    return run_id


def task(project, node, **env):
    result = kedro(project.path, "run", "--pipelines", "steps", "--nodes", node, **env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_dag_of_processes_logs_into_the_run_start_opened_and_end_ended(project, store):
    project.write("conf/base/catalog.yml", CATALOG)
    logging_yml = project.write("conf/logging.yml", LOGGING)
    run_id = start(project, KEDRO_LOGGING_CONFIG=str(logging_yml))

    [opened] = recorded_runs(store, project.package)
    assert (opened.info.run_id, opened.info.run_name) == (run_id, "__default__")
    assert opened.info.status == "RUNNING"
    tags = opened.data.tags
    assert tags["kedro_command"] == "kedro mlflow run start"
    assert tags["kedro_process"] == "left open"
    assert tags["env"] == "local" and tags["kedro_version"] and tags["mlflow.user"]
    client = MlflowClient(store)
    assert [(run.run_id, run.state != GONE) for run in open_runs(client, project.package)] == [
        (run_id, True)
    ]  # never "stale", though the process that opened it is gone

    task(project, "scale", MLFLOW_RUN_ID=run_id)
    task(project, "total", MLFLOW_RUN_ID=run_id)
    assert recorded_runs(store, project.package)[0].info.status == "RUNNING"
    ended = mlflow_run(project, "end", MLFLOW_RUN_ID=run_id)
    assert ended.returncode == 0, ended.stderr
    assert f"MLflow run {run_id} ended: FINISHED" in ended.stdout

    [run] = recorded_runs(store, project.package)  # one run holds both tasks
    assert (run.info.run_id, run.info.status) == (run_id, "FINISHED")
    assert run.data.params == {"factor": "2", "model": "{'offset': 1, 'tree': {'depth': 3}}"}
    assert run.data.metrics == {"result": 13.0}
    assert [a.path for a in client.list_artifacts(run_id)] == ["scaled.json"]
    assert run.data.tags["kedro_command"] == "kedro run --pipelines=steps --nodes=total"

    again = mlflow_run(project, "end", "--run-id", run_id)  # an orchestrator's retry
    assert again.returncode == 0, again.stderr
    assert f"MLflow run {run_id} was already FINISHED: nothing to do." in again.stdout


def test_a_failed_dag_ends_its_run_failed_and_no_other_end_overwrites_it(project):
    run_id = start(project)
    failed = mlflow_run(project, "end", "--status", "FAILED", "--run-id", run_id)
    assert failed.returncode == 0, failed.stderr
    assert recorded_runs(project.db)[0].info.status == "FAILED"

    assert mlflow_run(project, "end", "--status", "failed", MLFLOW_RUN_ID=run_id).returncode == 0
    finished = mlflow_run(project, "end", MLFLOW_RUN_ID=run_id)
    assert finished.returncode == 1
    assert f"MLflow run {run_id} already ended FAILED: left FAILED, not changed to FINISHED" in (
        finished.stderr
    )
    assert recorded_runs(project.db)[0].info.status == "FAILED"


def test_no_run_id_an_unknown_one_or_no_server_is_said_so(project):
    missing = mlflow_run(project, "end")
    assert missing.returncode == 2
    assert "No run to end: pass --run-id <id> or set MLFLOW_RUN_ID" in missing.stderr

    unknown = mlflow_run(project, "end", MLFLOW_RUN_ID="0123456789abcdef0123456789abcdef")
    assert unknown.returncode == 1
    assert (
        f"No MLflow run '0123456789abcdef0123456789abcdef' in sqlite:///{project.db} (from "
        f"--run-id or MLFLOW_RUN_ID)"
    ) in unknown.stderr

    dead = f"http://127.0.0.1:{free_port()}"
    project.mlflow_yml(f"server:\n  mlflow_tracking_uri: {dead}\n  connect_timeout: 2\n")
    refused = mlflow_run(project, "start")
    assert refused.returncode == 1
    assert f"Cannot reach the MLflow tracking server at {dead}" in refused.stderr
    assert "No run was started: run `kedro mlflow run start` again once it answers" in (
        refused.stderr
    )
    assert all("as logging configuration" in line for line in refused.stdout.splitlines())
