"""Why a tracking store cannot take the run, said so that the user can fix it: the errors that
stop `kedro run` before any node, and how a store's failure is explained. No mlflow import
(`kedro mlflow ui` and `sync` use it too).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..config.schema import local_sqlite_path
from ..errors import (
    MlflowConfigError,
    TrackingAuthenticationError,
    TrackingStoreUnwritableError,
)

if TYPE_CHECKING:
    from ..config.schema import MlflowConfig


def refused_credentials(uri: str, status: int, config: MlflowConfig) -> TrackingAuthenticationError:
    return TrackingAuthenticationError(
        f"The tracking server at {uri} refused the credentials (HTTP {status}). Check "
        f"MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN): in "
        f"the credentials.yml entry named by server.credentials in mlflow.yml "
        f"({config.server.credentials or 'none set'}), or in your environment."
    )


# What SQLite (through SQLAlchemy and MLflow) says when it may not write the file or its folder
_UNWRITABLE_DB = re.compile(
    r"attempt to write a readonly database|unable to open database file|read-only file system",
    re.IGNORECASE,
)
# ... and what creating the store's folder says (only about that folder: see below)
_NO_PERMISSION = re.compile(r"Permission denied|Operation not permitted", re.IGNORECASE)


def unwritable_store_error(error: BaseException, uri: str) -> TrackingStoreUnwritableError | None:
    """What to tell the user when a local store cannot be written (else None)."""
    db_file = local_sqlite_path(uri)
    if db_file is None:
        return None
    message = str(error)
    match = _UNWRITABLE_DB.search(message)
    if match is None and str(db_file.parent) in message:  # not a plugin's or an artifact's
        match = _NO_PERMISSION.search(message)
    if match is None:
        return None
    return TrackingStoreUnwritableError(
        f"The tracking store {uri} is read-only: MLflow cannot write {db_file} or its folder "
        f"({match.group(0)}). Make them writable for this user (an immutable file also needs "
        f"`chattr -i`), or point server.mlflow_tracking_uri in conf/base/mlflow.yml (or "
        f"conf/local/mlflow.yml) at a writable store. No node has run."
    )


# what to do, after "Cannot reach ...": for a run (the default) and for `kedro mlflow sync`
RUN_ADVICE = (
    "Start it, or fix server.mlflow_tracking_uri in conf/base/mlflow.yml "
    "(server.connect_timeout sets the wait). To run without the server, set "
    "server.offline.enabled: true in conf/local/mlflow.yml (runs are kept locally; "
    "`kedro mlflow sync` copies them to the server later), or list the pipeline under "
    "tracking.disable_tracking.pipelines to run it untracked. No node has run."
)
SYNC_ADVICE = (
    "Nothing was synced: run `kedro mlflow sync` again once it answers "
    "(server.mlflow_tracking_uri in mlflow.yml)."
)


def unreachable_message(
    uri: str, timeout: float | None, reason: object, advice: str = RUN_ADVICE
) -> str:
    ssl = "SSL" in type(reason).__name__ or "CERTIFICATE" in str(reason).upper()
    trust = (
        " The server's TLS certificate is not trusted here: point MLFLOW_TRACKING_SERVER_CERT_PATH "
        "(or REQUESTS_CA_BUNDLE) at its CA certificate, or set MLFLOW_TRACKING_INSECURE_TLS=true "
        "to skip verification."
        if ssl
        else ""
    )
    within = f" within {timeout:g} s" if timeout is not None else ""
    return f"Cannot reach the MLflow tracking server at {uri}{within} ({reason}).{trust} {advice}"


# MLflow's words when an HTTP answer is not its JSON (mlflow.utils.rest_utils.verify_rest_response)
_NOT_JSON = re.compile(
    r"^API request to endpoint (?:(?P<endpoint>\S+) failed with error code (?P<status>\d+)"
    r"|was successful but the response body was not in a valid JSON format)"
)


def not_mlflow_message(uri: str, error_text: str, advice: str = RUN_ADVICE) -> str | None:
    """What to say when the server at `uri` answered, but not as MLflow does (else None)."""
    match = _NOT_JSON.match(error_text)
    if match is None:
        return None
    answer = (
        f"HTTP {match['status']} on {match['endpoint']}"
        if match["status"]
        else "HTTP 200 but not JSON on /api/2.0/mlflow/..."
    )
    return (
        f"{uri} does not look like an MLflow tracking server ({answer}). Point "
        f"server.mlflow_tracking_uri at the MLflow server itself, e.g. http://host:5000 (no path "
        f"of its web pages); behind a proxy, check that it forwards /api/ to MLflow and that "
        f"MLflow is up. {advice}"
    )


def deleted_experiment(config: MlflowConfig, stage: str | None, experiment_id: str | None) -> None:
    """tracking.experiment names a deleted experiment and restoring it is not allowed."""
    options = config.tracking.experiment
    if stage == "deleted" and not options.restore_if_deleted:
        raise MlflowConfigError(
            f"mlflow.yml: tracking.experiment.name: experiment '{options.name}' is deleted. "
            f"Restore it (set tracking.experiment.restore_if_deleted: true, or "
            f"`mlflow experiments restore --experiment-id {experiment_id}`) "
            f"or choose another name."
        )
