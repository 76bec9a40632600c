"""Real servers on 127.0.0.1 for tests and benchmarks about remote tracking: `mlflow server`,
and the PostgreSQL cluster a production-like server keeps its runs in."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.conftest import free_port, stop, wait_for_http

_REQUEST = re.compile(r'"(GET|POST|PATCH|DELETE|PUT) (/api/[^ ?]+)')


class MlflowServer:
    """`mlflow server` with proxied artifacts, its access log in a file."""

    ADMIN = ("admin", "kedro-mlflow-admin-pw")

    def __init__(self, root: Path, auth: bool = False, backend_store_uri: str | None = None):
        """With `auth`, MLflow's basic-auth app: user `admin`, password ADMIN[1]. The backend
        store is a SQLite file in `root` unless `backend_store_uri` names another database."""
        self.auth = auth
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.log = self.root / "server.log"
        self.backend_store_uri = backend_store_uri or f"sqlite:///{self.root / 'mlflow.db'}"
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> MlflowServer:
        command = [
            sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
            "--port", str(self.port), "--workers", "1",
            "--backend-store-uri", self.backend_store_uri,
            "--artifacts-destination", str(self.root / "artifacts"),
        ]  # fmt: skip
        env = dict(os.environ)
        if self.auth:
            command += ["--app-name", "basic-auth"]
            env["MLFLOW_AUTH_ADMIN_PASSWORD"] = self.ADMIN[1]
            env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = "kedro-mlflow-tests"
        self._log_file = self.log.open("w")
        self._process = subprocess.Popen(
            command,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.root,  # the auth app keeps its users' database in the working directory
            env=env,
        )
        try:
            wait_for_http(f"{self.uri}/health", self._process, timeout=180)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        self._log_file.close()

    def stop(self) -> None:
        """Stop the server now (a test may kill it mid-run)."""
        if self._process is not None:
            stop(self._process)
            self._process = None

    def mark(self) -> int:
        """A position in the access log; `requests_since(mark)` counts what came after it."""
        return len(self.log.read_text().splitlines())

    def requests_since(self, mark: int) -> list[str]:
        lines = self.log.read_text().splitlines()[mark:]
        return [" ".join(m.groups()) for line in lines if (m := _REQUEST.search(line))]


class PostgresCluster:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (Debian's `postgresql` package), trust auth.

    PostgreSQL refuses to run as root, so under root the cluster belongs to the `postgres`
    user and lives in its own temporary folder (pytest's are private to root)."""

    def __init__(self):
        self.bin = postgres_bin()
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="kedro-mlflow-pg-"))
        self.data = self.root / "data"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")

    def uri(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, tool: str, *args: str, check: bool = True) -> None:
        command = [str(self.bin / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=check, capture_output=True, text=True, cwd=self.root)

    def __enter__(self) -> PostgresCluster:
        try:
            self._run(
                "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"
            )
            options = f"-c listen_addresses=127.0.0.1 -c port={self.port} -k {self.root}"
            log = str(self.root / "postgres.log")
            self._run("pg_ctl", "start", "-w", "-D", str(self.data), "-l", log, "-o", options)
        except BaseException:
            self.__exit__()
            raise
        return self

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.uri(name)

    def __exit__(self, *exc_info: object) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def postgres_bin() -> Path:
    """Where PostgreSQL's server tools are: on PATH, or Debian's versioned folder."""
    if initdb := shutil.which("initdb"):
        return Path(initdb).resolve().parent
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: [int(part) for part in path.parts[-3].split(".") if part.isdigit()],
    )
    if not found:
        raise FileNotFoundError(
            "PostgreSQL's initdb was not found: install Debian's `postgresql` package "
            "(.ci/run does it with apt-get)"
        )
    return found[-1].parent
