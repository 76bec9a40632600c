"""Checks that stop `kedro run` before any node when the tracking store cannot take the run, and
the errors that say so. Nothing here imports mlflow: these checks also run in a process that
leaves mlflow to the background tracker (background.py), so they use the standard library only.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sqlite3
import tempfile
from collections.abc import Mapping
from contextlib import closing
from typing import TYPE_CHECKING

from .config import MlflowConfigError, local_sqlite_path

if TYPE_CHECKING:
    from .config import MlflowConfig


class TrackingAuthenticationError(RuntimeError):
    """The tracking server refused the credentials; nothing ran."""


class TrackingStoreUnwritableError(RuntimeError):
    """The tracking store can be read but not written (or not created); nothing ran."""


class TrackingUnavailableError(RuntimeError):
    """The tracking server cannot be reached; nothing ran. The message says what to do."""


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


def check_reachable(uri: str, timeout: float) -> None:
    """Before any node: a tracking server that does not answer within `timeout` stops the run
    (MLflow's own client would retry for minutes)."""
    if not uri.startswith(("http://", "https://")):
        return
    import urllib.error  # noqa: PLC0415 - only for a server
    import urllib.request  # noqa: PLC0415

    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout):  # noqa: S310
            return
    except urllib.error.HTTPError:
        return  # it answered (auth, a proxy's 404...): reachable
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise TrackingUnavailableError(
            f"Cannot reach the MLflow tracking server at {uri} within {timeout:g} s ({reason}). "
            f"Start it, or fix server.mlflow_tracking_uri in conf/base/mlflow.yml "
            f"(server.connect_timeout sets the wait). To run without the server, set "
            f"server.offline.enabled: true in conf/local/mlflow.yml (runs are kept locally; "
            f"`kedro mlflow sync` copies them to the server later), or list the pipeline under "
            f"tracking.disable_tracking.pipelines to run it untracked."
        ) from None


def check_store(
    config: MlflowConfig, credentials: Mapping[str, str], resuming: bool = False
) -> str | None:
    """What MLflow would otherwise only report when it creates the run, checked without it:
    the server answers and takes the credentials and the experiment is not deleted, or the
    SQLite file (or its folder) is writable. Returns the experiment's id if it exists (and is
    not deleted), so that whoever creates the run need not look it up again. A resumed run
    (tracking.run.id, a handed-over run) keeps its own experiment: that one is not checked."""
    uri = config.tracking_uri
    if uri.startswith(("http://", "https://")):
        check_reachable(uri, config.server.connect_timeout)
        found = _check_server_experiment(config, {**os.environ, **credentials})
    elif local_sqlite_path(uri) is not None:
        found = _check_sqlite_store(config)
    else:
        return None
    return None if resuming or found is None else _active_experiment(config, *found)


def _check_server_experiment(
    config: MlflowConfig, env: Mapping[str, str]
) -> tuple[str | None, str | None] | None:
    """(lifecycle stage, id) of the experiment, asked with the credentials (refused: raised)."""
    import urllib.error  # noqa: PLC0415 - only for a server
    import urllib.parse  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    uri, name = config.tracking_uri, config.tracking.experiment.name
    query = urllib.parse.urlencode({"experiment_name": name})
    request = urllib.request.Request(
        f"{uri.rstrip('/')}/api/2.0/mlflow/experiments/get-by-name?{query}"
    )
    if env.get("MLFLOW_TRACKING_TOKEN"):
        request.add_header("Authorization", f"Bearer {env['MLFLOW_TRACKING_TOKEN']}")
    elif env.get("MLFLOW_TRACKING_USERNAME"):
        login = f"{env['MLFLOW_TRACKING_USERNAME']}:{env.get('MLFLOW_TRACKING_PASSWORD', '')}"
        request.add_header("Authorization", f"Basic {base64.b64encode(login.encode()).decode()}")
    try:
        with urllib.request.urlopen(request, timeout=config.server.connect_timeout) as answer:  # noqa: S310
            experiment = json.load(answer).get("experiment", {})
    except urllib.error.HTTPError as error:
        if error.code in (401, 403):
            raise refused_credentials(uri, error.code, config) from None
        return None  # 404: not created yet; anything else is MLflow's to report
    except (OSError, ValueError):
        return None
    return experiment.get("lifecycle_stage"), experiment.get("experiment_id")


def _active_experiment(
    config: MlflowConfig, stage: str | None, experiment_id: str | None
) -> str | None:
    deleted_experiment(config, stage, experiment_id)
    return experiment_id if stage == "active" and experiment_id else None


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


def _check_sqlite_store(config: MlflowConfig) -> tuple[str | None, str | None] | None:
    """Writable file and folder (else raised); (lifecycle stage, id) of the experiment."""
    db_file = local_sqlite_path(config.tracking_uri)
    assert db_file is not None
    try:
        db_file.parent.mkdir(parents=True, exist_ok=True)  # SQLite creates the file, not its folder
        tempfile.TemporaryFile(dir=db_file.parent).close()  # SQLite writes its journal there
        if not db_file.exists():
            return None
        # Opening for writing changes nothing, and fails as MLflow's first write would: a
        # read-only or immutable file, a read-only file system (SQLite itself would quietly open
        # such a file read-only and fail only on the first write)
        os.close(os.open(db_file, os.O_RDWR))
    except OSError as error:
        raise unwritable_store_error(error, config.tracking_uri) or error from None
    try:  # MLflow's experiments table (its columns are as old as MLflow's SQL stores)
        with closing(sqlite3.connect(f"{db_file.as_uri()}?mode=ro", uri=True, timeout=30)) as db:
            found = db.execute(
                "SELECT lifecycle_stage, experiment_id FROM experiments WHERE name = ?",
                (config.tracking.experiment.name,),
            ).fetchone()
    except sqlite3.Error:
        return None  # a store MLflow has not set up yet: it creates the tables
    return (found[0], str(found[1])) if found else None
