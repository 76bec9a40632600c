"""Orchestrators (Airflow, Argo) run `kedro run --nodes X` as separate processes: handed one
run id, they all log into that run, and only the process told to end it does."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from tests.conftest import kedro, recorded_runs

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["sqlite", "server"])
def store(request, project):
    """Where the DAG's run lives: the project's SQLite file, or a real tracking server."""
    if request.param == "sqlite":
        return str(f"sqlite:///{project.db}")
    server = request.getfixturevalue("mlflow_server")
    project.mlflow_yml(f"server:\n  mlflow_tracking_uri: {server.uri}\n")
    return server.uri


def open_run(project, store) -> str:
    client = MlflowClient(store)
    experiment_id = client.create_experiment(f"dag-{project.package}")
    return client.create_run(experiment_id, run_name="dag-run").info.run_id


def the_run(project, store):
    [run] = recorded_runs(store, f"dag-{project.package}")
    return run


def step(project, store, node, *args, **env):
    result = kedro(project.path, "run", "--pipelines", "steps", "--nodes", node, *args, **env)
    assert result.returncode == 0, result.stdout + result.stderr
    return the_run(project, store)


def test_three_processes_log_into_one_run_and_the_last_one_ends_it(project, store):
    run_id = open_run(project, store)

    first = step(project, store, "scale", MLFLOW_RUN_ID=run_id)
    assert (first.info.run_id, first.info.status) == (run_id, "RUNNING")
    assert first.data.params == {"factor": "2"}

    second = step(project, store, "total", "--params", f"mlflow_run_id={run_id}")
    assert second.info.status == "RUNNING"
    assert set(second.data.params) == {"factor", "model"}

    last = step(project, store, "label", "--params", "mlflow_end_run=true", MLFLOW_RUN_ID=run_id)
    assert last.info.status == "FINISHED"
    assert set(last.data.params) == {"factor", "model", "offset"}
    assert last.data.tags["kedro_command"].startswith("kedro run --pipelines=steps --nodes=label")


def test_a_failing_process_marks_the_handed_over_run_failed(project, store):
    run_id = open_run(project, store)
    step(project, store, "scale", MLFLOW_RUN_ID=run_id)
    failed = kedro(
        project.path, "run", "--pipelines", "failing", "--nodes", "explode", MLFLOW_RUN_ID=run_id
    )
    assert failed.returncode != 0
    run = the_run(project, store)
    assert run.info.status == "FAILED"
    assert run.data.tags["error_type"] == "ValueError"


def test_the_same_param_logged_again_by_another_process_is_fine(project, store):
    run_id = open_run(project, store)
    step(project, store, "scale", MLFLOW_RUN_ID=run_id)
    again = step(project, store, "scale", "--params", "mlflow_end_run=true", MLFLOW_RUN_ID=run_id)
    assert again.info.status == "FINISHED"
    assert again.data.params == {"factor": "2"}
