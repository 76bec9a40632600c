"""kedro-mlflow's notebook contract: once the Kedro context is created, MLflow's own API and the
Mlflow* datasets use the project's store; a run already active is logged into, in its own store;
a failed pipeline leaves nothing on MLflow's active-run stack."""

from __future__ import annotations

import os
import subprocess
import sys

import mlflow
import pytest
from mlflow import MlflowClient

from tests.conftest import recorded_runs


def test_creating_the_context_points_mlflow_at_the_project(project):
    with project.session() as session:
        session.load_context()
        assert mlflow.get_tracking_uri() == f"sqlite:///{project.db}"
        with mlflow.start_run() as run:  # a notebook's own run
            mlflow.log_param("alpha", 0.1)
    [recorded] = recorded_runs(project.db, project.package)  # the project's experiment
    assert recorded.info.run_id == run.info.run_id
    assert recorded.data.params == {"alpha": "0.1"}


def test_creating_the_context_does_not_import_mlflow(project):
    notebooks = project.path / "notebooks"
    notebooks.mkdir()
    code = (
        "import sys\n"
        "from kedro.framework.session import KedroSession\n"
        "from kedro.framework.startup import bootstrap_project\n"
        "bootstrap_project('..')\n"
        "with KedroSession.create(project_path='..') as session:\n"
        "    session.load_context()\n"
        "assert 'mlflow' not in sys.modules, 'mlflow was imported'\n"
        "import mlflow\n"
        "print(mlflow.get_tracking_uri())\n"
    )
    done = subprocess.run(
        # from a notebook folder: MLflow's own default would be notebooks/mlflow.db
        [sys.executable, "-c", code], cwd=notebooks, capture_output=True, text=True,
        timeout=300, check=False, env={**os.environ, "MLFLOW_TRACKING_URI": ""},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == f"sqlite:///{project.db.resolve()}"


METRIC_BY_RUN_ID = """
accuracy:
  type: kedro_mlflow_runtime.MlflowMetricDataset
  run_id: {run_id}
"""


def test_a_metric_with_a_run_id_and_no_key_loads_by_its_entry_name_in_a_notebook(project):
    project.run()
    [run] = recorded_runs(project.db)
    MlflowClient(f"sqlite:///{project.db}").log_metric(run.info.run_id, "accuracy", 0.93)
    project.write("conf/base/catalog.yml", METRIC_BY_RUN_ID.format(run_id=run.info.run_id))
    with project.session() as session:
        catalog = session.load_context().catalog
        assert catalog.load("accuracy") == 0.93


def test_a_run_active_in_another_store_is_logged_into(project, tmp_path):
    project.mlflow_yml("server:\n  mlflow_tracking_uri: sqlite:///mlflow.db\n")
    other = f"sqlite:///{tmp_path / 'other.db'}"
    mlflow.set_tracking_uri(other)
    experiment_id = mlflow.create_experiment("outer")
    with mlflow.start_run(experiment_id=experiment_id) as outer:
        project.run()
        assert mlflow.active_run().info.run_id == outer.info.run_id  # left open for its owner
    recorded = MlflowClient(other).get_run(outer.info.run_id)
    assert recorded.data.params["factor"] == "2"
    assert recorded.data.tags["kedro_command"] == "kedro run"
    assert not project.db.exists()  # mlflow.yml's store was not used


def test_a_failed_pipeline_leaves_no_run_on_mlflows_active_run_stack(project):
    with pytest.raises(ValueError, match="boom: failed with a nested run open"):
        project.run("nested_failing")
    assert mlflow.active_run() is None
    runs = {run.info.run_name: run.info.status for run in recorded_runs(project.db)}
    assert runs == {"nested_failing": "FAILED", "left-open-by-a-node": "FAILED"}
