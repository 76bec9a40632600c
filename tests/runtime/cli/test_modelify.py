"""`kedro mlflow modelify` says what it logged and where: the model, its URI, the run and its
experiment, the tracking store (its password masked), the artifact location and the registered
version. Real `kedro` subprocess, real `mlflow server`; compared with what MLflow recorded."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from mlflow import MlflowClient

pytestmark = pytest.mark.e2e


def test_modelify_says_what_it_logged_and_where(project, mlflow_server):
    # a password in the store's URL (the test server does not check it): never printed
    store = mlflow_server.uri.replace("http://", "http://alice:s3cret-pw@", 1)
    experiment = f"modelify-{project.package}"
    project.mlflow_yml(
        f"server:\n  mlflow_tracking_uri: {store}\ntracking:\n  experiment:\n    name: {experiment}\n"
    )
    project.run("ml")  # the training run: saves `fitted`, the artifact the model carries
    done = subprocess.run(
        [sys.executable, "-m", "kedro", "mlflow", "modelify", "--pipeline", "ml",
         "--model-name", "tiny_again", "--registered-model-name", f"{project.package}_model",
         "--no-signature"],
        cwd=project.path, env={**os.environ, "COLUMNS": "1000"}, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr

    client = MlflowClient(mlflow_server.uri, registry_uri=mlflow_server.uri)
    [run] = client.search_runs(
        [client.get_experiment_by_name(experiment).experiment_id],
        filter_string="attributes.run_name = 'modelify-ml'",
    )
    [model] = client.search_logged_models(
        [run.info.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'"
    )
    [version] = client.search_model_versions(f"name = '{project.package}_model'")
    masked = mlflow_server.uri.replace("http://", "http://alice:***@", 1)
    expected = [
        f"Logged pipeline 'ml' as model 'tiny_again': models:/{model.model_id}",
        f"  run:        {run.info.run_id} (experiment '{experiment}')",
        f"  store:      {masked}",
        f"  artifacts:  {model.artifact_location}",
        f"  registered: '{project.package}_model' version {version.version}",
    ]
    lines = done.stdout.splitlines()
    start = lines.index(expected[0])
    assert lines[start : start + len(expected)] == expected
    assert "s3cret-pw" not in done.stdout + done.stderr
