"""The tracking session: one MLflow run for one Kedro run, and every write to it.

Everything goes through one `MlflowClient` with the run id given explicitly, never through MLflow's
thread-local "active run", so worker threads and processes log into the same run. Params and tags
go out in `log_batch` calls, so the number of requests does not grow with the number of nodes.
This module imports mlflow: only `MlflowHook.before_pipeline_run` imports it.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException, RestException
from mlflow.tracking._model_registry import utils as _registry_utils

from ..config.exported import set_mlflow_defaults
from ..config.schema import LOCAL_ARTIFACTS_DIR, MlflowConfig, local_sqlite_path
from ..errors import (
    ArtifactStoreError,
    MlflowConfigError,
    TrackingAuthenticationError,
    TrackingUnavailableError,
)
from . import not_logged, run_context, signals
from .batches import log_in_batches
from .failures import (
    RUN_ADVICE,
    deleted_experiment,
    not_mlflow_message,
    refused_credentials,
    unreachable_message,
    unwritable_store_error,
)
from .object_store import check_artifact_store
from .redaction import mask_url_passwords
from .run_context import RunHandoff
from .store_lock import open_client
from .tags import PROCESS_TAG

logger = logging.getLogger(__name__)

MAX_ERROR_TAG_LENGTH = 5000
# SQLAlchemy URI schemes of database servers (MLflow's DATABASE_ENGINES, without SQLite)
_DATABASE_SCHEMES = ("postgresql", "mysql", "mssql")
_REGISTRY_GLOBAL = "registry-uri"  # key of mlflow.set_registry_uri's module-level value in saved
# MLflow's client while the pipeline runs, unless the user set them: 3 retries, 0 + 2 + 4 s apart
IN_RUN_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}


@dataclass
class TrackingSession:
    """An open MLflow run and the client that writes to it."""

    client: MlflowClient
    run_id: str
    experiment_id: str
    # Who ends the run. A run that was already active in the process (a notebook) is left to
    # whoever opened it; a run handed over by an orchestrator (MLFLOW_RUN_ID, --params
    # mlflow_run_id) is ended FINISHED only by the process told so, FAILED by any that fails.
    end_on_success: bool = True
    end_on_failure: bool = True
    child_runs: dict[str, str] = field(default_factory=dict)  # namespace -> run id
    artifact_uri: str | None = None  # where the run's artifacts go (as the store said)
    _ended: bool = field(default=False, repr=False)
    _made_active: bool = field(default=False, repr=False)
    connect_timeout: float = 15.0  # server.connect_timeout: also bounds the requests that end it
    _saved_env: dict[str, str | None] = field(default_factory=dict, repr=False)

    @classmethod
    def start(
        cls,
        config: MlflowConfig,
        *,
        project_path: Path,
        run_name: str,
        tags: Mapping[str, str],
        credentials: Mapping[str, str] | None = None,
        context: Any = None,
        handoff: RunHandoff | None = None,
    ) -> TrackingSession:
        """Connect, get or create the experiment, then create or adopt the run."""
        # mlflow.set_tracking_uri also exports MLFLOW_TRACKING_URI: restore the caller's values at
        # the end, so the next run in this process reads its own mlflow.yml, not this one's URI.
        saved_env = run_context.save_environment()
        saved_env[_REGISTRY_GLOBAL] = getattr(_registry_utils, "_registry_uri", None)
        timeout = config.server.connect_timeout
        # A run already active (a notebook, an orchestrator) is logged into in its own store,
        # whatever mlflow.yml says (as kedro-mlflow).
        store = mlflow.get_tracking_uri() if mlflow.active_run() else config.tracking_uri
        try:
            # a database store is connected to when the client is made
            with bounded_requests(timeout, store):
                client = _connect(config, credentials or {}, context, store)
                session = cls._open_run(client, config, project_path, run_name, tags, handoff)
        except BaseException as error:
            _restore_env(saved_env)
            explained = (
                unwritable_store_error(error, store)
                or authentication_error(error, store, config)
                or unreachable_error(error, store, timeout)
                or not_mlflow_error(error, store)
            )
            if explained is not None:
                raise explained from None
            raise
        session._saved_env = saved_env
        session.connect_timeout = config.server.connect_timeout
        not_logged.start(project_path, session.run_id)
        # While the pipeline runs, a request that cannot reach the server gives up within seconds
        # (MLflow's defaults retry each one for minutes); the user's own settings win.
        for name, value in IN_RUN_RETRIES.items():
            os.environ.setdefault(name, value)
        # Child processes (ParallelRunner, user subprocesses) and `start_run(nested=True)` in
        # nodes find the store and the experiment without extra configuration.
        os.environ.update(
            {
                "MLFLOW_TRACKING_URI": store,
                "MLFLOW_EXPERIMENT_ID": session.experiment_id,
            }
        )
        # Mlflow* datasets log into this run, in any thread or worker process
        if store != config.tracking_uri:
            run_context.publish_store(store)
        run_context.publish_run(session.run_id, session.experiment_id)
        atexit.register(session._end_at_exit)
        signals.end_run_on_termination(session)
        run_context.log_started(run_name, session.run_id, session.experiment_id, config)
        try:
            check_artifact_store(session.artifact_uri, config.server.credentials, timeout)
        except ArtifactStoreError as error:
            session.end("FAILED", error)
            raise
        return session

    @classmethod
    def _open_run(
        cls,
        client: MlflowClient,
        config: MlflowConfig,
        project_path: Path,
        run_name: str,
        tags: Mapping[str, str],
        handoff: RunHandoff | None = None,
    ) -> TrackingSession:
        """Resume `tracking.run.id` or a handed-over run, adopt an active run, or create one."""
        if config.tracking.run.id:
            return cls._resume(client, config.tracking.run.id, tags)
        if handoff is not None and handoff.run_id:
            session = cls._resume(client, handoff.run_id, tags)
            session.end_on_success = handoff.end_run
            return session
        active = mlflow.active_run()
        if active is not None:
            logger.warning(
                "MLflow run %s was already active before the Kedro run: logging into it, in its "
                "store %s; it is left open for whoever opened it.",
                active.info.run_id,
                client.tracking_uri,
            )
            session = cls(
                client,
                active.info.run_id,
                active.info.experiment_id,
                end_on_success=False,
                end_on_failure=False,
                artifact_uri=active.info.artifact_uri,
            )
            session.set_tags(tags)
            return session
        experiment_id = _experiment_id(client, config, project_path)
        run = client.create_run(experiment_id, run_name=run_name, tags=dict(tags))
        session = cls(client, run.info.run_id, experiment_id, artifact_uri=run.info.artifact_uri)
        session._make_active(run)
        return session

    @classmethod
    def _resume(cls, client: MlflowClient, run_id: str, tags: Mapping[str, str]) -> TrackingSession:
        try:
            run = client.get_run(run_id)
        except MlflowException as error:
            raise MlflowConfigError(
                f"mlflow.yml: tracking.run.id (or MLFLOW_RUN_ID): run '{run_id}' cannot be "
                f"resumed: {error.message}. Give an existing run id, or null for a new run."
            ) from None
        if run.info.status != RunStatus.to_string(RunStatus.RUNNING):
            client.update_run(run_id, status="RUNNING")
        session = cls(client, run_id, run.info.experiment_id, artifact_uri=run.info.artifact_uri)
        session.set_tags(tags)
        session._make_active(run)
        return session

    def open_child_runs(self, namespaces: list[str], tags: Mapping[str, str]) -> None:
        """tracking.run.nesting: namespace: one child run per top-level namespace, where that
        namespace's params, metrics, artifacts and models go."""
        for namespace in namespaces:
            child = self.client.create_run(
                self.experiment_id,
                run_name=namespace,
                tags={**tags, "mlflow.parentRunId": self.run_id, "kedro_namespace": namespace},
            )
            self.child_runs[namespace] = child.info.run_id
        run_context.publish_run(self.run_id, self.experiment_id, dict(self.child_runs))

    # --- writing ----------------------------------------------------------------------------------

    def log_params(self, params: Mapping[str, str], namespace: str | None = None) -> None:
        """Log params in as few requests as MLflow allows (100 per call)."""
        run_id = self.child_runs.get(namespace, self.run_id) if namespace else self.run_id
        log_in_batches(
            self.client, run_id, params=[Param(key, value) for key, value in params.items()]
        )

    def set_tags(self, tags: Mapping[str, str]) -> None:
        log_in_batches(
            self.client, self.run_id, tags=[RunTag(key, str(value)) for key, value in tags.items()]
        )

    # --- ending -----------------------------------------------------------------------------------

    def end(self, status: str = "FINISHED", error: BaseException | None = None) -> None:
        """Close the run (once), within connect_timeout even when the server is gone. A run
        adopted from an outer caller is left open. If the store cannot take the end, it is noted
        for `kedro mlflow retry` and the error raised."""
        if self._ended:
            return
        self._ended = True
        # first, before any request: MLflow's own exit handler would end it again (and retry)
        self._leave_active(status)
        signals.stop_watching(self)
        run_context.publish_run(None)
        tags = {}
        if error is not None:
            tags = {
                "error_type": type(error).__name__,
                "error_message": str(error)[:MAX_ERROR_TAG_LENGTH],
            }
        ends = self.end_on_failure if status in ("FAILED", "KILLED") else self.end_on_success
        if not ends:  # left open on purpose: never "stale" once this process is gone
            tags[PROCESS_TAG] = "left open"
        try:
            with bounded_requests(self.connect_timeout):
                self.set_tags(tags)
                for child in self.child_runs.values():
                    _terminate(self.client, child, status)
                if ends:
                    _terminate(self.client, self.run_id, status)
        except Exception as failure:
            not_logged.record(
                f"the end of run {self.run_id} ({status})",
                "kedro mlflow retry",
                failure,
                replay={
                    "end": status if ends else None,
                    "run_id": self.run_id,
                    "child_runs": list(self.child_runs.values()),
                    "tags": tags,
                },
            )
            raise
        finally:
            _restore_env(self._saved_env)
        if not ends:
            logger.info(
                "MLflow run %s is left open: the process that opened it ends it.", self.run_id
            )
            return
        page = run_context.run_page(mlflow.get_tracking_uri(), self.experiment_id, self.run_id)
        logger.info("MLflow run %s ended: %s%s", self.run_id, status, page)

    def _end_at_exit(self, error: BaseException | None = None) -> None:
        # The interpreter is exiting with the run still open: Ctrl-C, a signal, or a crash
        # outside Kedro's error hook. Runs before MLflow's own exit handler (which would mark it
        # FINISHED).
        if not self._ended:
            try:
                self.end("KILLED", error)
            except Exception:  # noqa: BLE001 - noted for `kedro mlflow retry`; nothing to tell
                logger.debug("could not mark run %s KILLED", self.run_id, exc_info=True)

    # --- fluent API interop -----------------------------------------------------------------------

    def _make_active(self, run: Any) -> None:
        """The run as MLflow's active run in this thread, so `mlflow.log_*` in nodes of a
        sequential run lands in it."""
        run_context.push_active_run(run)
        self._made_active = True

    def _leave_active(self, status: str = "FINISHED") -> None:
        if self._made_active:
            run_context.pop_active_run(self.run_id, status)
        self._made_active = False


def _terminate(client: MlflowClient, run_id: str, status: str) -> None:
    """End the run in one request: MlflowClient.set_terminated first fetches the run again, to
    print its URL (one more round trip per run against a server)."""
    store = getattr(getattr(client, "_tracking_client", None), "store", None)
    if store is None:  # pragma: no cover - depends on MLflow internals
        client.set_terminated(run_id, status)
        return
    store.update_run_info(
        run_id,
        run_status=RunStatus.from_string(status),
        end_time=int(time.time() * 1000),
        run_name=None,
    )


def authentication_error(
    error: BaseException, uri: str, config: MlflowConfig
) -> TrackingAuthenticationError | None:
    """What to tell the user when `error` is the server refusing the login (else None)."""
    if not isinstance(error, MlflowException):
        return None
    status = _http_status(error)
    return refused_credentials(uri, status, config) if status in (401, 403) else None


def _http_status(error: MlflowException) -> int | None:
    status = getattr(error, "get_http_status_code", lambda: None)()
    if status in (401, 403):
        return status
    match = re.search(r"error code (40[13])\b", str(error))
    return int(match.group(1)) if match else status


# The requests that open the run, bounded: a server that does not answer stops `kedro run`
# within server.connect_timeout (MLflow's defaults retry for minutes). MLflow's own client makes
# them, so every authentication and TLS setting it supports applies.
@contextmanager
def bounded_requests(timeout: float, uri: str | None = None) -> Iterator[None]:
    per_try = str(max(1, int(timeout // 2)))
    bounded = {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": per_try,
    }
    database = uri is not None and _is_database(uri)
    if database:
        bounded["PGCONNECT_TIMEOUT"] = str(max(2, int(per_try)))  # libpq's minimum is 2 s
    saved = run_context.save_environment(bounded)
    os.environ.update(bounded)
    try:
        yield
    finally:
        run_context.restore_environment(saved, bounded)


def _is_database(uri: str) -> bool:
    """A tracking store on a database server (SQLAlchemy URI), e.g. postgresql+psycopg://..."""
    return uri.split(":", 1)[0].split("+", 1)[0].lower() in _DATABASE_SCHEMES


def unreachable_error(
    error: BaseException, uri: str, timeout: float, advice: str = RUN_ADVICE
) -> TrackingUnavailableError | None:
    """What to tell the user when MLflow could not reach the server or database at all."""
    reason = _connection_failure(error)
    if reason is None:
        return None
    # a database store: MLflow makes 10 connection attempts (about 100 s) and has no setting
    # for that, so the wait is not connect_timeout's
    within = None if _is_database(uri) else timeout
    message = unreachable_message(mask_url_passwords(uri), within, reason, advice)
    return TrackingUnavailableError(message)


def not_mlflow_error(
    error: BaseException, uri: str, advice: str = RUN_ADVICE
) -> TrackingUnavailableError | None:
    """The first request reached a server that answers, but not as MLflow (a web page, a 404 of
    another service): said from that request's error, with no request of its own."""
    if not isinstance(error, MlflowException) or isinstance(error, RestException):
        return None  # a RestException is MLflow's own JSON error: the server is MLflow
    message = not_mlflow_message(mask_url_passwords(uri), error.message, advice)
    return TrackingUnavailableError(message) if message else None


def _connection_failure(error: BaseException) -> object | None:
    """Why the store could not be reached (the HTTP or database driver's error), else None."""
    if type(error).__module__.startswith("sqlalchemy"):
        from sqlalchemy.exc import InterfaceError, OperationalError  # noqa: PLC0415

        if isinstance(error, OperationalError | InterfaceError):
            # the driver's own words, on one line (psycopg adds a hint on a second one)
            return " ".join(str(getattr(error, "orig", None) or error).split())
        return None
    if not isinstance(error, MlflowException):
        return None
    import requests  # noqa: PLC0415 - MLflow's HTTP client, imported with mlflow

    cause = error.__cause__ or error.__context__
    # RetryError: only 502/503/504s (or 429s), e.g. a proxy whose MLflow server is down
    if isinstance(
        cause,
        requests.exceptions.ConnectionError
        | requests.exceptions.Timeout
        | requests.exceptions.RetryError,
    ):
        return cause
    return None


def _connect(
    config: MlflowConfig, credentials: Mapping[str, str], context: Any, store: str
) -> MlflowClient:
    os.environ.update(credentials)  # MLflow reads credentials from the environment only
    register_request_header_provider(config, context)
    # Process-wide defaults, so that `mlflow.*` calls in user code reach the same store.
    set_mlflow_defaults(mlflow, store, config)
    try:  # a fresh local store is created by one process at a time (several first runs)
        return open_client(store, config.registry_uri)
    except (MlflowException, KeyError, ValueError) as error:
        if local_sqlite_path(store) is not None:
            raise  # MLflow has a store for this URI: the store itself failed, say so as it is
        raise MlflowConfigError(
            f"mlflow.yml: server.mlflow_tracking_uri / mlflow_registry_uri: MLflow has no store "
            f"for {config.tracking_uri!r} / {config.registry_uri!r} ({type(error).__name__}: "
            f"{error}). Use sqlite:///mlflow.db, http(s)://<server>, postgresql://..., or "
            f"databricks."
        ) from None


def _restore_env(saved: dict[str, str | None]) -> None:
    if _REGISTRY_GLOBAL in saved:  # set_registry_uri keeps a module-level value besides the env
        _registry_utils._registry_uri = saved[_REGISTRY_GLOBAL]
    run_context.restore_environment(saved)


def _experiment_id(client: MlflowClient, config: MlflowConfig, project_path: Path) -> str:
    options = config.tracking.experiment
    experiment = client.get_experiment_by_name(options.name)
    if experiment is None:
        create = options.create_experiment_kwargs
        try:
            return client.create_experiment(
                options.name,
                artifact_location=create.artifact_location
                or default_artifact_location(config.tracking_uri, options.name),
                tags={k: str(v) for k, v in (create.tags or {}).items()} or None,
            )
        except MlflowException as error:
            # several first runs at once (a team, an orchestrator): another one created it
            experiment = client.get_experiment_by_name(options.name)
            if experiment is None:
                raise error from None
    deleted_experiment(config, experiment.lifecycle_stage, experiment.experiment_id)
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
        logger.info("MLflow experiment '%s' was deleted: restored", options.name)
    return experiment.experiment_id


def default_artifact_location(tracking_uri: str, experiment_name: str) -> str | None:
    """For a local SQLite store, artifacts live next to the database (MLflow would use the CWD)."""
    db_file = local_sqlite_path(tracking_uri)
    if db_file is None:
        return None  # a server or another store chooses its own artifact location
    folder = re.sub(r"[^\w.\-]+", "_", experiment_name).strip("._") or "experiment"
    return (db_file.parent / LOCAL_ARTIFACTS_DIR / folder).as_uri()


def register_request_header_provider(config: MlflowConfig, context: Any) -> None:
    options = config.server.request_header_provider
    if not options.type:
        return
    from kedro.utils import load_obj  # noqa: PLC0415
    from mlflow.tracking.request_header.abstract_request_header_provider import (  # noqa: PLC0415
        RequestHeaderProvider,
    )
    from mlflow.tracking.request_header.registry import (  # noqa: PLC0415
        _request_header_provider_registry,
    )

    try:
        provider_class = load_obj(options.type)
    except (ImportError, AttributeError) as error:
        raise MlflowConfigError(
            f"mlflow.yml: server.request_header_provider.type: '{options.type}' cannot be "
            f"imported ({type(error).__name__}: {error}). Install the package that provides it "
            f"in this environment, or fix the path (module.ClassName)."
        ) from None
    if not (isinstance(provider_class, type) and issubclass(provider_class, RequestHeaderProvider)):
        raise MlflowConfigError(
            f"mlflow.yml: server.request_header_provider.type: '{options.type}' must be a "
            f"subclass of mlflow's RequestHeaderProvider, got {provider_class!r}"
        )
    kwargs = dict(options.init_kwargs)
    if options.pass_context:
        kwargs["kedro_context"] = context
    _request_header_provider_registry.register(lambda: provider_class(**kwargs))
