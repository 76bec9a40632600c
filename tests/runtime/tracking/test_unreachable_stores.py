"""A tracking store that cannot be reached stops `kedro run` before any node, within
server.connect_timeout and a few seconds, naming the store: database servers too, not only HTTP."""

from __future__ import annotations

import os
import socket
import time

import pytest

from kedro_mlflow_runtime.errors import TrackingUnavailableError
from tests.conftest import free_port

pytest.importorskip("psycopg")


def run_against(project, uri: str, timeout: float = 2) -> tuple[str, float]:
    project.mlflow_yml(f"server:\n  mlflow_tracking_uri: '{uri}'\n  connect_timeout: {timeout}\n")
    start = time.monotonic()
    with pytest.raises(TrackingUnavailableError) as raised:
        project.run()
    elapsed = time.monotonic() - start
    assert not (project.path / "data/result.json").exists()  # no node ran
    return str(raised.value), elapsed


def test_a_postgresql_store_with_nothing_listening_fails_at_once(project):
    port = free_port()
    message, elapsed = run_against(
        project, f"postgresql+psycopg://kedro:s3cret@127.0.0.1:{port}/db"
    )
    assert elapsed < 10  # MLflow alone retries for 100 s
    assert (
        f"Cannot reach the MLflow tracking server at postgresql+psycopg://kedro:***@127.0.0.1:"
        f"{port}/db within 2 s (connection failed:"
    ) in message
    assert "Connection refused" in message
    assert "s3cret" not in message
    assert "server.offline.enabled: true" in message  # how to run without it


def test_a_postgresql_server_that_never_answers_is_bounded_by_connect_timeout(project):
    # accepts the TCP connection and says nothing: libpq would wait forever without a timeout
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    uri = f"postgresql+psycopg://kedro@127.0.0.1:{silent.getsockname()[1]}/db"
    try:
        message, elapsed = run_against(project, uri, timeout=4)
    finally:
        silent.close()
    assert elapsed < 4 + 5
    assert f"Cannot reach the MLflow tracking server at {uri} within 4 s" in message
    assert "timeout" in message.lower()


def test_the_bound_is_lifted_after_the_run_starts(project, monkeypatch):
    # the caller's own libpq setting and MLflow's retries are theirs again after the attempt
    from mlflow.store.db import utils as db_utils

    monkeypatch.setenv("PGCONNECT_TIMEOUT", "30")
    retries = db_utils.MAX_RETRY_COUNT
    run_against(project, f"postgresql+psycopg://kedro@127.0.0.1:{free_port()}/db")
    assert os.environ["PGCONNECT_TIMEOUT"] == "30"
    assert db_utils.MAX_RETRY_COUNT == retries


@pytest.mark.e2e
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
