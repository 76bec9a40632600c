"""One process at a time opens a local SQLite store, so that a fresh one is created once.

MLflow creates a SQLite store's tables (and runs its Alembic migrations) when the store is first
opened, without any lock: several `kedro run`s starting together on a new project each try to
create them and crash midway (`table ... already exists`), leaving `_alembic_tmp_*` tables behind.
An OS lock on `mlflow.db.lock` beside the database, held while MLflow opens the store, makes
the first one create it and the others find it ready. The lock file stays (removing it would
let a waiting process and a new one hold two different files). mlflow is imported only by
`open_client`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from ..config.schema import local_sqlite_path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt


@contextmanager
def local_store_lock(uri: str | None) -> Iterator[None]:
    """Hold `<db>.lock` while MLflow opens the store at `uri`, if it is a local SQLite file.
    Other stores (servers, databases) are left to their own locking: nothing happens."""
    db_file = local_sqlite_path(uri or "")
    if db_file is None:
        yield
        return
    db_file.parent.mkdir(parents=True, exist_ok=True)  # SQLite creates the file, not its folder
    with file_lock(db_file.with_name(db_file.name + ".lock")):
        yield


@contextmanager
def file_lock(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold an OS lock on `path` (created if missing). Yields False when `wait` is off and
    another process holds it. A lock file that cannot be created (a read-only folder) is no
    lock: nothing can be written there either, so there is nothing to serialise."""
    try:
        handle = open(path, "a+b")  # noqa: SIM115
    except OSError:
        yield True
        return
    with handle:
        if not _acquire(handle, wait):
            yield False
            return
        try:
            yield True
        finally:
            _release(handle)


def open_client(tracking_uri: str, registry_uri: str | None = None) -> Any:
    """`MlflowClient(tracking_uri, registry_uri)`, its stores opened (and created) one process at
    a time when they are local SQLite files."""
    from mlflow import MlflowClient  # noqa: PLC0415

    with local_store_lock(tracking_uri):  # the client opens its tracking store at once
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)
    if registry_uri and registry_uri != tracking_uri and local_sqlite_path(registry_uri):
        with local_store_lock(registry_uri):  # else opened, unlocked, at the first model
            client.search_registered_models(max_results=1)
    return client


def _acquire(handle: IO[bytes], wait: bool) -> bool:
    if fcntl is not None:
        try:  # blocks until the holder releases it (or dies), unless told not to wait
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    handle.seek(0)
    while True:  # msvcrt's blocking mode gives up after ~10 s: keep waiting
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            if not wait:
                return False
            time.sleep(0.05)


def _release(handle: IO[bytes]) -> None:
    if fcntl is not None:
        fcntl.flock(handle, fcntl.LOCK_UN)
        return
    handle.seek(0)
    msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
