"""Real servers on 127.0.0.1 for tests and benchmarks about remote tracking: `mlflow server`,
and the PostgreSQL cluster a production-like server keeps its runs in."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from tests.conftest import free_port, stop, wait_for_http

_REQUEST = re.compile(r'"(GET|POST|PATCH|DELETE|PUT) (/api/[^ ?]+)')


class MlflowServer:
    """`mlflow server` (proxied artifacts unless told otherwise), its access log in a file."""

    ADMIN = ("admin", "kedro-mlflow-admin-pw")

    def __init__(
        self,
        root: Path,
        auth: bool = False,
        backend_store_uri: str | None = None,
        tls: tuple[Path, Path] | None = None,
        port: int | None = None,
        artifacts_destination: str | None = None,
        serve_artifacts: bool = True,
        default_artifact_root: str | None = None,
        env: dict[str, str] | None = None,
    ):
        """With `auth`, MLflow's basic-auth app: user `admin`, password ADMIN[1]. The backend
        store is a SQLite file in `root` unless `backend_store_uri` names another database.
        With `tls` (certificate, key), HTTPS only. `port`: e.g. to bring a stopped one back.
        Artifacts are proxied to `artifacts_destination` (default: a folder in `root`, or e.g.
        `s3://bucket/prefix`); with `serve_artifacts=False` the clients write them directly
        to `default_artifact_root` themselves. `env`: more variables for the server process
        (e.g. AWS_* and MLFLOW_S3_ENDPOINT_URL for an S3 store)."""
        self.auth = auth
        self.tls = tls
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.uri = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.log = self.root / "server.log"
        self.backend_store_uri = backend_store_uri or f"sqlite:///{self.root / 'mlflow.db'}"
        self.artifacts_destination = artifacts_destination or str(self.root / "artifacts")
        self.serve_artifacts = serve_artifacts
        self.default_artifact_root = default_artifact_root
        self.env = env or {}
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> MlflowServer:
        command = [
            sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
            "--port", str(self.port), "--workers", "1",
            "--backend-store-uri", self.backend_store_uri,
        ]  # fmt: skip
        if self.serve_artifacts:
            command += ["--artifacts-destination", self.artifacts_destination]
        else:
            command += ["--no-serve-artifacts"]
        if self.default_artifact_root:
            command += ["--default-artifact-root", self.default_artifact_root]
        env = {**os.environ, **self.env}
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


class MotoS3Server:
    """moto's standalone server: a real S3 API (HTTP, boto3's wire protocol) on 127.0.0.1.
    Access keys are checked: only `admin` and those made with `access_key()` (IAM users allowed
    everything) are accepted."""

    REGION = "us-east-1"

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = self.root / "moto.log"
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> MotoS3Server:
        self._log_file = self.log.open("w")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.root,
        )
        try:
            wait_for_http(f"{self.endpoint}/moto-api/data.json", self._process, timeout=60)
            self.admin = self.access_key("kedro-mlflow-tests")
            self.enforce_auth()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process is not None:
            stop(self._process)
            self._process = None
        self._log_file.close()

    def client(self, service: str = "s3", key: tuple[str, str] | None = None):
        import boto3  # noqa: PLC0415 - only the S3 tests need it

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=self.REGION,
            aws_access_key_id=(key or self.admin)[0],
            aws_secret_access_key=(key or self.admin)[1],
        )

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def access_key(self, user: str) -> tuple[str, str]:
        """An IAM user allowed everything, and its access key."""
        iam = self.client("iam", key=getattr(self, "admin", ("unchecked", "unchecked")))
        iam.create_user(UserName=user)
        everything = {"Effect": "Allow", "Action": "*", "Resource": "*"}
        iam.put_user_policy(
            UserName=user,
            PolicyName="everything",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [everything]}),
        )
        made = iam.create_access_key(UserName=user)["AccessKey"]
        return made["AccessKeyId"], made["SecretAccessKey"]

    def enforce_auth(self) -> None:
        import urllib.request  # noqa: PLC0415

        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/reset-auth",
            data=b"0",
            method="POST",
            headers={"Content-Type": "text/plain"},  # not a form: moto reads the raw body
        )
        with urllib.request.urlopen(request, timeout=10):
            pass

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key in `bucket` under `prefix`."""
        pages = self.client().get_paginator("list_objects_v2")
        return sorted(
            item["Key"]
            for page in pages.paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        )


def scoring_server_predictions(port: int, payload: dict) -> list:
    """The predictions `mlflow models serve` on 127.0.0.1:`port` answers for `payload`."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["predictions"]
