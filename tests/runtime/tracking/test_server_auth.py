"""A basic-auth tracking server: the credentials come from credentials.yml, are exported for
MLflow only, never logged; wrong ones stop the run before any node with a clear message.
Plus several `kedro run`s at once against one server."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from mlflow import MlflowClient

from kedro_mlflow_runtime.errors import TrackingAuthenticationError
from tests.conftest import kedro, recorded_runs
from tests.servers import MlflowServer

pytestmark = pytest.mark.e2e
USER, PASSWORD = MlflowServer.ADMIN


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    with MlflowServer(tmp_path_factory.mktemp("auth-server"), auth=True) as server:
        yield server


def use_server(project, uri, password):
    project.write(
        "conf/local/credentials.yml",
        f"mlflow_login:\n  MLFLOW_TRACKING_USERNAME: {USER}\n"
        f"  MLFLOW_TRACKING_PASSWORD: {password}\n",
    )
    project.mlflow_yml(
        f"server:\n  mlflow_tracking_uri: {uri}\n  credentials: mlflow_login\n"
        f"tracking:\n  experiment:\n    name: auth-{project.package}\n"
    )


def test_a_run_against_a_basic_auth_server(project, auth_server, monkeypatch):
    use_server(project, auth_server.uri, PASSWORD)
    project.run()
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", USER)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    [run] = recorded_runs(auth_server.uri, f"auth-{project.package}")
    assert run.info.status == "FINISHED"
    assert run.data.params == {"factor": "2", "model": "{'offset': 1, 'tree': {'depth': 3}}"}
    recorded = [*run.data.params.values(), *run.data.tags.values()]
    assert not any(PASSWORD in value for value in recorded)


def test_wrong_credentials_stop_the_run_before_any_node(project, auth_server):
    use_server(project, auth_server.uri, "not-the-password")
    with pytest.raises(TrackingAuthenticationError) as raised:
        project.run()
    message = str(raised.value)
    assert f"The tracking server at {auth_server.uri} refused the credentials (HTTP 401)" in message
    assert "mlflow_login" in message
    assert not (project.path / "data/result.json").exists()


def test_eight_concurrent_runs_against_one_server(project, mlflow_server):
    project.mlflow_yml(
        f"server:\n  mlflow_tracking_uri: {mlflow_server.uri}\n"
        f"tracking:\n  experiment:\n    name: load-{project.package}\n"
    )
    # eight copies of the project (each writes its own data files), one server
    copies = [project.path.with_name(f"copy{factor}") for factor in range(1, 9)]
    for copy in copies:
        shutil.copytree(project.path, copy)
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "kedro", "run", "--params", f"factor={factor}"],
            cwd=copy,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for factor, copy in enumerate(copies, start=1)
    ]
    for run in runs:
        _, errors = run.communicate(timeout=600)
        assert run.returncode == 0, errors
    recorded = recorded_runs(mlflow_server.uri, f"load-{project.package}")
    assert len(recorded) == 8
    assert {run.info.status for run in recorded} == {"FINISHED"}
    assert sorted(int(run.data.params["factor"]) for run in recorded) == list(range(1, 9))
    client = MlflowClient(mlflow_server.uri)
    for run in recorded:  # nothing missing: every tag of every run
        assert client.get_run(run.info.run_id).data.tags["kedro_command"].startswith("kedro run")


def test_wrong_credentials_stop_kedro_run_before_any_node(project, auth_server):
    """Through `kedro run`: MLflow's first request (the experiment lookup) is refused, and
    that stops the run before any node, with the file that holds the credentials named."""
    use_server(project, auth_server.uri, "not-the-password")
    result = kedro(project.path, "run", COLUMNS="1000")  # messages on one line
    assert result.returncode != 0
    assert f"The tracking server at {auth_server.uri} refused the credentials (HTTP 401)" in (
        result.stderr
    )
    assert not (project.path / "data/result.json").exists()

    use_server(project, auth_server.uri, PASSWORD)
    result = kedro(project.path, "run")
    assert result.returncode == 0, result.stderr
    [run] = recorded_runs_as_admin(auth_server.uri, f"auth-{project.package}")
    assert run.info.status == "FINISHED"
    assert run.data.params == {"factor": "2", "model": "{'offset': 1, 'tree': {'depth': 3}}"}


def recorded_runs_as_admin(uri, experiment):
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_USERNAME", USER)
        env.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
        return recorded_runs(uri, experiment)
