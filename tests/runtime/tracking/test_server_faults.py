"""The tracking server dies in the middle of a run: the pipeline still runs to the end and saves
its outputs, and the error lists what was not logged and how to retry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from mlflow import MlflowClient

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


def test_a_server_dying_mid_run_loses_nothing_and_kedro_mlflow_retry_logs_it_later(
    project, tmp_path
):
    """With MLflow's default retry settings (the runtime bounds them while a run is open), the
    run exits soon after the pipeline ends, and everything it could not log is logged later."""
    project.write("conf/base/catalog.yml", FRAGILE_CATALOG)
    with MlflowServer(tmp_path / "server") as server:
        project.mlflow_yml(f"server:\n  mlflow_tracking_uri: {server.uri}\n  connect_timeout: 6\n")
        run = subprocess.Popen(
            [sys.executable, "-m", "kedro", "run", "--pipelines", "fragile",
             "--params", "seconds=8,fail=false"],
            cwd=project.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "COLUMNS": "1000"},
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while not any("log-artifact" in r or "artifacts" in r for r in server.requests_since(0)):
            assert run.poll() is None, run.stdout.read()
            assert time.monotonic() < deadline, "the first artifact never reached the server"
            time.sleep(0.2)
        server.stop()  # the server dies while the `wait` node (8 s) runs
        stopped = time.monotonic()
        output, _ = run.communicate(timeout=600)
        exited_after = time.monotonic() - stopped
        print(f"kedro run exited {exited_after:.1f} s after the server stopped")

    # 8 s of node, then one request that gives up within ~10 s (3 quick retries), the other
    # items noted without trying, and the run's end bounded by connect_timeout (6 s)
    assert exited_after < 8 + 40, f"kedro run took {exited_after:.0f} s to exit"
    assert run.returncode != 0
    # every node after the server died still ran and saved its output
    assert json.loads((project.path / "data/copied.json").read_text()) == [2, 4, 6]
    assert "were not logged to MLflow run" in output
    assert "kedro mlflow retry" in output
    # the per-item command carries the store, so it works as printed
    assert f"MLFLOW_TRACKING_URI={server.uri} mlflow artifacts log-artifact" in output
    assert "result=13.0" in output  # the metric that was lost, with its value

    [ledger] = (project.path / "mlflow-not-logged").glob("*.jsonl")
    run_id = ledger.stem
    with MlflowServer(server.root, port=server.port) as back:  # the server is back
        done = subprocess.run(
            [sys.executable, "-m", "kedro", "mlflow", "retry"],
            cwd=project.path, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"{run_id}: FINISHED" in done.stdout
        client = MlflowClient(back.uri)
        recorded = client.get_run(run_id)
        artifacts = {item.path for item in client.list_artifacts(run_id)}
    assert recorded.info.status == "FINISHED"
    assert "error_type" not in recorded.data.tags
    assert recorded.data.metrics == {"result": 13.0}
    assert artifacts == {"scaled.json", "copied.json"}
    assert not ledger.exists()  # nothing left to retry


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
