"""A real `mlflow server` on 127.0.0.1 for tests and benchmarks about remote tracking."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import free_port, stop, wait_for_http

_REQUEST = re.compile(r'"(GET|POST|PATCH|DELETE|PUT) (/api/[^ ?]+)')


class MlflowServer:
    """`mlflow server` with a SQLite backend and proxied artifacts, its access log in a file."""

    ADMIN = ("admin", "kedro-mlflow-admin-pw")

    def __init__(self, root: Path, auth: bool = False):
        """With `auth`, MLflow's basic-auth app: user `admin`, password ADMIN[1]."""
        self.auth = auth
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.log = self.root / "server.log"
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> MlflowServer:
        command = [
            sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
            "--port", str(self.port), "--workers", "1",
            "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
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
