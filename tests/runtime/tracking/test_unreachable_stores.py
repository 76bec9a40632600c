"""A tracking store that cannot be reached stops `kedro run` before any node, naming the store:
database servers too, not only HTTP."""

from __future__ import annotations

import http.server
import importlib.util
import os
import threading
import time

import pytest

from kedro_mlflow_runtime.errors import TrackingUnavailableError
from tests.conftest import free_port

needs_psycopg = pytest.mark.skipif(
    importlib.util.find_spec("psycopg") is None, reason="psycopg is not installed"
)


def run_against(project, uri: str, timeout: float = 2) -> tuple[str, float]:
    project.mlflow_yml(f"server:\n  mlflow_tracking_uri: '{uri}'\n  connect_timeout: {timeout}\n")
    start = time.monotonic()
    with pytest.raises(TrackingUnavailableError) as raised:
        project.run()
    elapsed = time.monotonic() - start
    assert not (project.path / "data/result.json").exists()  # no node ran
    return str(raised.value), elapsed


@pytest.mark.e2e
@needs_psycopg
def test_a_postgresql_store_with_nothing_listening_stops_the_run_before_any_node(
    project, monkeypatch
):
    """MLflow makes 10 connection attempts (about 100 s) and has no setting for it: the run
    stops after those, before any node, naming the store (its password masked)."""
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "30")  # the caller's own libpq setting
    port = free_port()
    message, elapsed = run_against(
        project, f"postgresql+psycopg://kedro:s3cret@127.0.0.1:{port}/db"
    )
    print(f"refused PostgreSQL store: kedro run stopped after {elapsed:.0f} s")
    assert (
        f"Cannot reach the MLflow tracking server at postgresql+psycopg://kedro:***@127.0.0.1:"
        f"{port}/db (connection failed:"
    ) in message
    assert "Connection refused" in message
    assert "s3cret" not in message
    assert "server.offline.enabled: true" in message  # how to run without it
    assert os.environ["PGCONNECT_TIMEOUT"] == "30"  # put back after the attempt


@pytest.mark.e2e
@needs_psycopg
def test_a_reachable_postgresql_store_still_takes_the_run(project):
    # the bound covers creating MLflow's tables on a new database (its first run)
    from tests.conftest import recorded_runs
    from tests.servers import PostgresCluster

    with PostgresCluster() as postgres:
        uri = postgres.create_database("kedro_runs")
        project.mlflow_yml(f"server:\n  mlflow_tracking_uri: '{uri}'\n  connect_timeout: 4\n")
        project.run()
        [run] = recorded_runs(uri)
    assert run.info.status == "FINISHED"
    assert (project.path / "data/result.json").exists()


# --- an HTTP server that answers, but is not MLflow ---------------------------------------------


class _NotMlflow(http.server.BaseHTTPRequestHandler):
    status = 404
    body = b"<!DOCTYPE html><html><body><h1>Not Found</h1></body></html>"
    requests: list[str]

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.requests.append(f"{self.command} {self.path}")
        self.send_response(self.status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_POST = do_GET


@pytest.fixture
def web_server():
    """A plain web server in a thread: serve(status) gives its URI and the requests it got."""
    servers = []

    def serve(status: int) -> tuple[str, list[str]]:
        handler = type("Handler", (_NotMlflow,), {"status": status, "requests": []})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", handler.requests

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (404, "HTTP 404 on /api/2.0/mlflow/experiments/get-by-name"),
        (405, "HTTP 405 on /api/2.0/mlflow/experiments/get-by-name"),
        (200, "HTTP 200 but not JSON on /api/2.0/mlflow/..."),  # a catch-all web page
    ],
)
def test_a_web_server_that_is_not_mlflow_is_named_as_such(project, web_server, status, answer):
    uri, requests = web_server(status)
    message, _ = run_against(project, uri)
    assert message.startswith(f"{uri} does not look like an MLflow tracking server ({answer}).")
    assert "server.mlflow_tracking_uri" in message
    assert "No node has run." in message
    # said from the request the run makes anyway: no probe of its own
    assert requests == [
        "GET /api/2.0/mlflow/experiments/get-by-name?experiment_name=" + project.package
    ]


@pytest.mark.parametrize("status", [502, 503])
def test_a_proxy_whose_mlflow_is_down_is_unreachable(project, web_server, status):
    uri, _ = web_server(status)
    message, _ = run_against(project, uri)
    assert message.startswith(f"Cannot reach the MLflow tracking server at {uri} within 2 s")
    assert f"too many {status} error responses" in message
