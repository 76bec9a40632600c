"""The run's artifact store, when the client writes to it itself (`mlflow server
--no-serve-artifacts` with an `s3://` artifact root): one request before any node shows that
the bucket exists and the credentials may use it, so a wrong key or a missing bucket stops the
run with a message, not at the first artifact after hours of work.

A proxying server (`mlflow-artifacts:/...`) holds its own S3 credentials: nothing to check here.
boto3 is imported only for `s3://` locations.
"""

from __future__ import annotations

import os

from ..errors import ArtifactStoreError

_WRONG_KEYS = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken")
_MISSING_BUCKET = ("NoSuchBucket",)
_DENIED = ("AccessDenied", "AllAccessDisabled", "403")


def check_artifact_store(
    artifact_uri: str | None, credentials_entry: str | None, timeout: float
) -> None:
    """Raise ArtifactStoreError when the run's `s3://` artifact location cannot be used."""
    if not artifact_uri or not artifact_uri.startswith("s3://"):
        return
    bucket, _, prefix = artifact_uri.removeprefix("s3://").partition("/")
    where = f"the run's artifact location {artifact_uri}"
    try:
        import boto3  # noqa: PLC0415 - only for s3:// locations
        from botocore.config import Config  # noqa: PLC0415
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError  # noqa: PLC0415
    except ImportError:
        raise ArtifactStoreError(
            f"{where} is in S3, which this client writes to itself (the server does not proxy "
            f'artifacts), and boto3 is not installed: pip install "kedro-mlflow-runtime[s3]"'
        ) from None
    endpoint = os.environ.get("MLFLOW_S3_ENDPOINT_URL") or None
    # a session of its own: boto3's default one keeps the first credentials it found
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        verify=os.environ.get("MLFLOW_S3_IGNORE_TLS", "").lower() not in ("true", "1"),
        config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1}),
    )
    keys = _credentials_hint(credentials_entry)
    at = f" at {endpoint}" if endpoint else ""
    try:
        client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
    except NoCredentialsError:
        raise ArtifactStoreError(
            f"{where}: no AWS credentials to write to bucket '{bucket}'{at}. {keys}"
        ) from None
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        reason = error.response.get("Error", {}).get("Message") or code
        if code in _MISSING_BUCKET:
            raise ArtifactStoreError(
                f"{where}: bucket '{bucket}' does not exist{at}. Create it, or point the "
                "server's --default-artifact-root (or the experiment's artifact_location in "
                "mlflow.yml) at an existing bucket."
            ) from None
        if code in _WRONG_KEYS:
            raise ArtifactStoreError(
                f"{where}: S3{at} refused the credentials for bucket '{bucket}' ({code}: "
                f"{reason}). {keys}"
            ) from None
        if code in _DENIED:
            raise ArtifactStoreError(
                f"{where}: the credentials may not list bucket '{bucket}'{at} ({reason}); MLflow "
                f"lists, reads and writes there. {keys}"
            ) from None
        raise ArtifactStoreError(f"{where}: bucket '{bucket}'{at}: {code}: {reason}") from None
    except BotoCoreError as error:  # the endpoint cannot be reached, a bad endpoint URL
        raise ArtifactStoreError(
            f"{where}: cannot reach S3{at} for bucket '{bucket}' ({error}). Check "
            "MLFLOW_S3_ENDPOINT_URL (in the credentials.yml entry named by server.credentials, "
            "or the environment)."
        ) from None


def _credentials_hint(entry: str | None) -> str:
    if entry:
        return (
            f"The S3 credentials come from the credentials.yml entry '{entry}' (server."
            "credentials in mlflow.yml): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY there."
        )
    return (
        "Name a credentials.yml entry holding AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
        "(and MLFLOW_S3_ENDPOINT_URL for MinIO or another S3 API) in mlflow.yml's "
        "server.credentials, or set them in the environment."
    )
