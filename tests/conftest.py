"""Shared test setup: an isolated environment, the template location, and helpers that run the
real tools (copier, `kedro run` in a subprocess) and read what MLflow recorded."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_DIR = REPO_ROOT / "template"
VERSION = (REPO_ROOT / "runtime" / "kedro_mlflow_runtime" / "VERSION").read_text().strip()

QUIET_ENV = {
    "KEDRO_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
}
# Tests commit to throwaway repositories: work on machines without a global git identity.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "kedro-mlflow-starter tests",
    "GIT_AUTHOR_EMAIL": "tests@example.com",
    "GIT_COMMITTER_NAME": "kedro-mlflow-starter tests",
    "GIT_COMMITTER_EMAIL": "tests@example.com",
}


def pytest_configure(config: pytest.Config) -> None:
    # pytest-copie resolves --template against the CWD; pin it to the repo root instead.
    config.option.template = str(REPO_ROOT)
    os.environ.update(QUIET_ENV)
    for name, value in GIT_IDENTITY.items():
        os.environ.setdefault(name, value)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No MLFLOW_* from the developer's shell, telemetry off, and no MLflow state left behind."""
    for name in list(os.environ):
        if name.startswith("MLFLOW_") and name != "MLFLOW_DISABLE_TELEMETRY":
            monkeypatch.delenv(name)
    for name, value in QUIET_ENV.items():
        monkeypatch.setenv(name, value)
    # what MlflowHook publishes for the Mlflow* datasets: empty (= nothing) and removed afterwards
    monkeypatch.setenv("KEDRO_MLFLOW_RUNTIME_TARGET", "")
    yield
    if "mlflow" in sys.modules:
        import mlflow  # noqa: PLC0415

        while mlflow.active_run():
            mlflow.end_run()
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
        # mlflow.set_experiment (kedro-mlflow's documented notebook pattern) has no public undo
        from mlflow.tracking import fluent  # noqa: PLC0415

        fluent._active_experiment_id = None


@pytest.fixture
def runtime_logs() -> Iterator[list[logging.LogRecord]]:
    """Records of the runtime's loggers. (caplog misses them once a Kedro session has replaced
    the root handlers with its own logging configuration.)"""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("kedro_mlflow_runtime")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def snapshot_checkout(dest: Path) -> Path:
    """This checkout's files as they are (uncommitted changes included, ignored files left out)
    in `dest`, not yet a git repository: the start of a throwaway template repository."""
    names = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for name in filter(None, names.split("\0")):
        if (REPO_ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, dest / name)
    return dest


def git_repo(path: Path, tag: str | None = None) -> Path:
    """Commit everything in `path` as a new git repository, tagged `tag` when given."""
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", tag or "work"]):
        subprocess.run(["git", *args], cwd=path, capture_output=True, check=True)
    if tag:
        subprocess.run(["git", "tag", tag], cwd=path, capture_output=True, check=True)
    return path


def generate(dst: Path, **answers: object) -> Path:
    """`copier copy` this checkout (uncommitted changes included) with default answers."""
    import copier  # noqa: PLC0415

    copier.run_copy(str(REPO_ROOT), dst, data=answers, defaults=True, vcs_ref="HEAD", quiet=True)
    return dst


def kedro(
    project: Path, *args: str, cwd: Path | None = None, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run `kedro ARGS` in a subprocess of this virtualenv (one project per interpreter)."""
    return subprocess.run(
        [sys.executable, "-m", "kedro", *args],
        cwd=cwd or project,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def recorded_runs(store: Path | str, experiment: str | None = None) -> list:
    """Runs of a tracking store (a SQLite file or a server URL), oldest first, read through the
    MLflow API; only `experiment`'s when given (a shared server holds other tests' runs)."""
    from mlflow import MlflowClient  # noqa: PLC0415

    uri = store if isinstance(store, str) else f"sqlite:///{store}"
    client = MlflowClient(uri)
    experiments = [
        e.experiment_id
        for e in client.search_experiments()
        if experiment is None or e.name == experiment
    ]
    if not experiments:
        return []
    return list(client.search_runs(experiments, order_by=["attributes.start_time ASC"]))


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """One real `mlflow server` on 127.0.0.1 for the session (it takes seconds to start)."""
    from tests.servers import MlflowServer  # noqa: PLC0415

    with MlflowServer(tmp_path_factory.mktemp("mlflow-server")) as server:
        yield server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(
    url: str, server: subprocess.Popen, timeout: float = 120, context: ssl.SSLContext | None = None
) -> bytes:
    """Poll `url` until it answers; fail with the server's output if it dies or never does."""
    deadline = time.monotonic() + timeout
    while True:
        assert server.poll() is None, server.stdout.read() if server.stdout else "server died"
        try:
            with urllib.request.urlopen(url, timeout=5, context=context) as response:
                return response.read()
        except OSError:
            assert time.monotonic() < deadline, f"{url} did not answer within {timeout} s"
            time.sleep(0.5)


def stop(server: subprocess.Popen) -> None:
    """Stop a server started with start_new_session=True, and everything it started."""
    os.killpg(server.pid, signal.SIGTERM)
    try:
        # uvicorn waits for clients' pooled keep-alive connections before it exits (30 s and
        # more): a throwaway server's stores need no graceful end
        server.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """One real S3 API server (moto's standalone server) on 127.0.0.1 for the session."""
    from tests.servers import MotoS3Server  # noqa: PLC0415

    with MotoS3Server(tmp_path_factory.mktemp("s3-server")) as server:
        yield server
