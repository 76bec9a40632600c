"""Real servers on 127.0.0.1 for tests and benchmarks about remote tracking: `mlflow server`,
and the PostgreSQL cluster a production-like server keeps its runs in."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.conftest import free_port, stop, wait_for_http

_REQUEST = re.compile(r'"(GET|POST|PATCH|DELETE|PUT) (/api/[^ ?]+)')


class MlflowServer:
    """`mlflow server` with proxied artifacts, its access log in a file."""

    ADMIN = ("admin", "kedro-mlflow-admin-pw")

    def __init__(
        self,
        root: Path,
        auth: bool = False,
        backend_store_uri: str | None = None,
        tls: tuple[Path, Path] | None = None,
        port: int | None = None,
    ):
        """With `auth`, MLflow's basic-auth app: user `admin`, password ADMIN[1]. The backend
        store is a SQLite file in `root` unless `backend_store_uri` names another database.
        With `tls` (certificate, key), HTTPS only. `port`: e.g. to bring a stopped one back."""
        self.auth = auth
        self.tls = tls
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.uri = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
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
        if self.tls:
            cert, key = self.tls
            command += ["--uvicorn-opts", f"--ssl-certfile {cert} --ssl-keyfile {key}"]
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
            context = ssl.create_default_context(cafile=self.tls[0]) if self.tls else None
            wait_for_http(f"{self.uri}/health", self._process, timeout=180, context=context)
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


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost that signs itself (no CA trusts it), and its key."""
    import datetime  # noqa: PLC0415

    from cryptography import x509  # noqa: PLC0415 - MLflow's dependencies bring it
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kedro-mlflow-tests")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert, key_file = folder / "server.crt", folder / "server.key"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key_file


class PostgresCluster:
    """A throwaway PostgreSQL server from the `pgserver` wheel (PostgreSQL 16 in a pip package:
    no system package to install), on a Unix socket in its own folder, deleted on exit. As root,
    pgserver runs the server as a `pgserver` system user it creates (PostgreSQL refuses root)."""

    def __enter__(self) -> PostgresCluster:
        import pgserver  # noqa: PLC0415 - only the PostgreSQL tests need it

        self.root = Path(tempfile.mkdtemp(prefix="kedro-mlflow-pg-"))
        self.server = pgserver.get_server(self.root / "data", cleanup_mode="delete")
        return self

    def uri(self, database: str) -> str:
        # pgserver's URI names the socket folder (?host=...); SQLAlchemy 2.1 needs psycopg 3
        return self.server.get_uri(database).replace("postgresql://", "postgresql+psycopg://", 1)

    def create_database(self, name: str) -> str:
        self.server.psql(f"CREATE DATABASE {name};")
        return self.uri(name)

    def __exit__(self, *exc_info: object) -> None:
        self.server.cleanup()
        shutil.rmtree(self.root, ignore_errors=True)
