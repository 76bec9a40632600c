"""The tracking server dies in the middle of a run: the pipeline still runs to the end and saves
its outputs, and the error lists what was not logged and how to retry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.servers import MlflowServer

pytestmark = pytest.mark.e2e

FRAGILE_CATALOG = """
raw:
  type: json.JSONDataset
  filepath: data/raw.json
scaled:
  type: kedro_mlflow_runtime.MlflowArtifactDataset
  dataset: {type: json.JSONDataset, filepath: data/scaled.json}
result:
  type: kedro_mlflow_runtime.MlflowMetricDataset
copied:
  type: kedro_mlflow_runtime.MlflowArtifactDataset
  dataset: {type: json.JSONDataset, filepath: data/copied.json}
"""


def test_a_server_dying_mid_run_loses_no_output_and_says_what_was_not_logged(project, tmp_path):
    project.write("conf/base/catalog.yml", FRAGILE_CATALOG)
    with MlflowServer(tmp_path / "server") as server:
        project.mlflow_yml(f"server:\n  mlflow_tracking_uri: {server.uri}\n")
        run = subprocess.Popen(
            [sys.executable, "-m", "kedro", "run", "--pipelines", "fragile",
             "--params", "seconds=8,fail=false"],
            cwd=project.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            # MLflow's client retries a dead server for minutes by default
            env={**os.environ, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"},
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while not any("log-artifact" in r or "artifacts" in r for r in server.requests_since(0)):
            assert run.poll() is None, run.stdout.read()
            assert time.monotonic() < deadline, "the first artifact never reached the server"
            time.sleep(0.2)
        server.stop()  # the server dies while the `wait` node runs
        output, _ = run.communicate(timeout=180)

    assert run.returncode != 0
    # every node after the server died still ran and saved its output
    assert json.loads((project.path / "data/copied.json").read_text()) == [2, 4, 6]
    said = " ".join(output.split())  # the console wraps long lines
    assert "were not logged to MLflow run" in said
    assert "copied.json" in said and "mlflow artifacts log-artifact" in said
    assert "result=13.0" in said  # the metric that was lost, with its value


def test_an_https_server_with_a_self_signed_certificate(project, tmp_path, monkeypatch):
    """MLflow's own client makes the first request, so its TLS settings apply: refused until
    MLFLOW_TRACKING_SERVER_CERT_PATH names the certificate, with a message saying so."""
    from kedro_mlflow_runtime.errors import TrackingUnavailableError
    from tests.conftest import recorded_runs
    from tests.servers import self_signed_certificate

    cert, key = self_signed_certificate(tmp_path / "tls")
    with MlflowServer(tmp_path / "server", tls=(cert, key)) as server:
        project.mlflow_yml(
            f"server:\n  mlflow_tracking_uri: {server.uri}\n  connect_timeout: 4\n"
            f"tracking:\n  experiment:\n    name: tls-{project.package}\n"
        )
        with pytest.raises(TrackingUnavailableError) as raised:
            project.run()
        message = str(raised.value)
        assert f"Cannot reach the MLflow tracking server at {server.uri} within 4 s" in message
        assert "MLFLOW_TRACKING_SERVER_CERT_PATH" in message
        assert not (project.path / "data/result.json").exists()  # no node ran

        monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", str(cert))
        project.run()
        [run] = recorded_runs(server.uri, f"tls-{project.package}")
    assert run.info.status == "FINISHED"
    assert run.data.params == {"factor": "2", "model": "{'offset': 1, 'tree': {'depth': 3}}"}
