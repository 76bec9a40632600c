"""`kedro run` leaves mlflow to a background tracker process (background.py): the Kedro process
never imports it unless something in it needs mlflow, and every contract of a run started in
process still holds: one run with the params, node code's `mlflow.log_*` in that run, errors
before any node, the run ended KILLED when the Kedro process dies."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time

from mlflow import MlflowClient

from tests.conftest import kedro, recorded_runs

PROBES = """
import sys


def probe(values, factor):
    return {"mlflow_imported": "mlflow" in sys.modules, "factor": factor}


def as_metric(probed):
    return {"factor": probed["factor"]}


def log_from_node(values):
    import mlflow  # first imported by node code, mid-run

    mlflow.log_metric("from_node", 3.0)
    return {"active_run": mlflow.active_run().info.run_id}


def until_the_tracker_answered(values):
    from kedro_mlflow_runtime import run_context

    session = run_context._awaited_run.__self__  # the BackgroundSession this run is waiting for
    session._started.result(timeout=120)  # its answer (here, an error) has come back
    return values


def wait(values, seconds):
    import time

    time.sleep(seconds)
    return values
"""

REGISTRY = """
from kedro.pipeline import Node, Pipeline

from .probes import as_metric, log_from_node, probe, until_the_tracker_answered, wait


def register_pipelines():
    return {
        "__default__": Pipeline([Node(probe, ["raw", "params:factor"], "probed", name="probe")]),
        "lazy": Pipeline([Node(log_from_node, "raw", "from_node", name="log_from_node")]),
        "two_steps": Pipeline([
            Node(until_the_tracker_answered, "raw", "first", name="first"),
            Node(probe, ["first", "params:factor"], "probed", name="second"),
        ]),
        "slow": Pipeline([Node(wait, ["raw", "params:seconds"], "waited", name="wait")]),
        "namespaced": (
            Pipeline(
                [Node(probe, ["raw", "params:factor"], "probed", name="probe")],
                namespace="left",
                inputs={"raw"},
            )
            + Pipeline(
                [Node(probe, ["raw", "params:factor"], "probed", name="probe")],
                namespace="right",
                inputs={"raw"},
            )
        ),
        "logs_a_metric": Pipeline([
            Node(probe, ["raw", "params:factor"], "probed", name="probe"),
            Node(as_metric, "probed", "metric", name="as_metric"),
        ]),
    }
"""

CATALOG = """
raw:
  type: json.JSONDataset
  filepath: data/raw.json
"{name}":
  type: json.JSONDataset
  filepath: data/{name}.json
"{namespace}.probed":
  type: json.JSONDataset
  filepath: data/{namespace}_probed.json
metric:
  type: kedro_mlflow_runtime.MlflowMetricsHistoryDataset
"""


def background_project(project):
    project.write(f"src/{project.package}/probes.py", PROBES)
    project.write(f"src/{project.package}/pipeline_registry.py", REGISTRY)
    project.write("conf/base/catalog.yml", CATALOG)
    return project


def kedro_run(project, *args, **env):
    """`kedro run` with its messages on single lines (Rich wraps them at 80 columns otherwise)."""
    result = kedro(project.path, "run", *args, COLUMNS="1000", **env)
    result.said = result.stdout + result.stderr
    return result


def output(project, name):
    path = project.path / "data" / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def test_the_kedro_process_never_imports_mlflow_and_the_run_is_complete(project):
    background_project(project)

    result = kedro_run(project)
    assert result.returncode == 0, result.said
    assert output(project, "probed") == {"mlflow_imported": False, "factor": 2}
    [run] = recorded_runs(project.db)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"factor": "2"}
    assert run.data.tags["runner"] == "SequentialRunner"
    assert run.data.tags["kedro_command"] == "kedro run"

    # the opt-out: the run is made in the Kedro process, as in a notebook
    result = kedro_run(project, KEDRO_MLFLOW_BACKGROUND="false")
    assert result.returncode == 0, result.said
    assert output(project, "probed") == {"mlflow_imported": True, "factor": 2}
    runs = recorded_runs(project.db)
    assert [r.info.status for r in runs] == ["FINISHED", "FINISHED"]
    assert {tuple(r.data.params.items()) for r in runs} == {(("factor", "2"),)}


def test_the_tracker_makes_one_child_run_per_namespace(project):
    background_project(project)
    project.write(
        "conf/base/parameters.yml", "factor: 2\nleft:\n  factor: 3\nright:\n  factor: 4\n"
    )
    project.mlflow_yml("tracking:\n  run:\n    nesting: namespace\n")

    result = kedro_run(project, "--pipelines", "namespaced")
    assert result.returncode == 0, result.said
    assert output(project, "left_probed") == {"mlflow_imported": False, "factor": 3}
    runs = {run.info.run_name: run for run in recorded_runs(project.db)}
    assert set(runs) == {"namespaced", "left", "right"}
    assert {run.info.status for run in runs.values()} == {"FINISHED"}
    for namespace, factor in (("left", "3"), ("right", "4")):
        assert runs[namespace].data.tags["mlflow.parentRunId"] == runs["namespaced"].info.run_id
        assert runs[namespace].data.params == {f"{namespace}.factor": factor}


def test_a_pipeline_that_logs_through_mlflow_datasets_is_tracked_in_process(project):
    """It imports mlflow in the Kedro process anyway: a tracker would only compete for the CPU."""
    background_project(project)

    result = kedro_run(project, "--pipelines", "logs_a_metric")
    assert result.returncode == 0, result.said
    assert output(project, "probed") == {"mlflow_imported": True, "factor": 2}  # before any node
    [run] = recorded_runs(project.db)
    assert run.info.status == "FINISHED"
    assert run.data.metrics == {"metric.factor": 2.0}
    assert run.data.params == {"factor": "2"}


def test_node_code_that_imports_mlflow_logs_into_the_kedro_run(project):
    background_project(project)

    result = kedro_run(project, "--pipelines", "lazy")
    assert result.returncode == 0, result.said
    [run] = recorded_runs(project.db)
    assert output(project, "from_node") == {"active_run": run.info.run_id}
    assert run.data.metrics == {"from_node": 3.0}
    assert run.info.status == "FINISHED"  # not left to MLflow's own exit handler


def test_a_read_only_store_stops_kedro_run_before_any_node(project, immutable):
    background_project(project)
    assert kedro_run(project).returncode == 0
    (project.path / "data/probed.json").unlink()
    immutable(project.db)

    result = kedro_run(project)
    assert result.returncode != 0
    assert f"The tracking store sqlite:///{project.db} is read-only" in result.said
    assert "No node has run" in result.said
    assert output(project, "probed") is None
    assert len(recorded_runs(project.db)) == 1


def test_a_deleted_experiment_stops_kedro_run_before_any_node(project):
    background_project(project)
    assert kedro_run(project).returncode == 0
    (project.path / "data/probed.json").unlink()
    client = MlflowClient(f"sqlite:///{project.db}")
    client.delete_experiment(client.get_experiment_by_name(project.package).experiment_id)
    project.mlflow_yml("tracking:\n  experiment:\n    restore_if_deleted: false\n")

    result = kedro_run(project)
    assert result.returncode != 0
    assert f"experiment '{project.package}' is deleted" in result.said
    assert "restore_if_deleted" in result.said
    assert output(project, "probed") is None


def test_a_failure_only_the_tracker_sees_stops_the_pipeline_at_the_next_node(project):
    background_project(project)
    missing = "deadbeef" * 4
    project.mlflow_yml(f"tracking:\n  run:\n    id: {missing}\n")  # no such run to resume

    result = kedro_run(project, "--pipelines", "two_steps")
    assert result.returncode != 0
    assert f"run '{missing}' cannot be resumed" in result.said
    assert "stopped at the next node, and outputs saved so far are kept" in result.said
    assert output(project, "first") == [1, 2, 3]  # saved before the error came back: kept
    assert output(project, "probed") is None  # the next node did not run
    assert recorded_runs(project.db) == []


def running_runs(db_file) -> list[tuple[str, str]]:
    try:
        with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True) as db:
            return db.execute("SELECT run_uuid, status FROM runs").fetchall()
    except sqlite3.Error:
        return []


def test_the_run_is_ended_killed_when_the_kedro_process_is_killed(project):
    background_project(project)
    process = subprocess.Popen(
        [sys.executable, "-m", "kedro", "run", "--pipelines", "slow"],
        cwd=project.path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not running_runs(project.db):
            assert process.poll() is None, "kedro run ended early"
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(0.3)
        process.send_signal(signal.SIGKILL)  # no hook, no atexit: only the tracker is left
        process.wait(timeout=60)
        deadline = time.monotonic() + 60
        while running_runs(project.db)[0][1] == "RUNNING":
            assert time.monotonic() < deadline, "the tracker left the run RUNNING"
            time.sleep(0.3)
    finally:
        process.kill()
    [run] = recorded_runs(project.db)
    assert run.info.status == "KILLED"
    assert run.data.params == {"seconds": "60"}
