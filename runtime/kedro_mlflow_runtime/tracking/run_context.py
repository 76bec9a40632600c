"""Which MLflow store and run the Mlflow* datasets write to, in any thread or process.

MlflowHook publishes the project's tracking store when the Kedro context is created, and the run
id while a tracked pipeline runs. The target lives in an environment variable: threads share it,
and ParallelRunner's worker processes inherit it (forked or spawned), so every node logs into
the one run. Processes that never saw it (Dask workers started before the run) get it from the
datasets, which carry it when pickled (datasets/tracked.py). MLflow's own "active run" is
thread-local and is never relied on.
No mlflow import at module level.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from . import not_logged

logger = logging.getLogger(__name__)

ENV_VAR = "KEDRO_MLFLOW_RUNTIME_TARGET"


@dataclass(frozen=True)
class RunTarget:
    tracking_uri: str
    registry_uri: str | None = None
    run_id: str | None = None
    experiment_id: str | None = None
    # tracking.run.nesting: namespace -> its child run
    child_runs: dict[str, str] | None = None
    # the pipeline in progress is listed in tracking.disable_tracking.pipelines
    disabled: bool = False

    @property
    def pipeline_in_progress(self) -> bool:
        """A pipeline is being run, tracked (its run) or untracked on purpose (disabled)."""
        return self.run_id is not None or self.disabled

    def run_for(self, dataset_name: str | None) -> str | None:
        """The run a dataset of this name logs into: its namespace's child run, else the run."""
        if dataset_name and self.child_runs and "." in dataset_name:
            return self.child_runs.get(dataset_name.split(".", 1)[0], self.run_id)
        return self.run_id


def current() -> RunTarget | None:
    """The store (and run, during a tracked `kedro run`) published by MlflowHook, if any."""
    raw = os.environ.get(ENV_VAR)
    if not raw:
        return None
    try:
        return RunTarget(**json.loads(raw))
    except (TypeError, ValueError):
        return None


def publish(target: RunTarget | None) -> None:
    if target is None:
        os.environ.pop(ENV_VAR, None)
    else:
        os.environ[ENV_VAR] = json.dumps(asdict(target))


def publish_store(tracking_uri: str) -> None:
    """The store the run in progress lives in, when it is not mlflow.yml's (an adopted run)."""
    target = current()
    publish(replace(target, tracking_uri=tracking_uri) if target else RunTarget(tracking_uri))


def publish_run(
    run_id: str | None,
    experiment_id: str | None = None,
    child_runs: dict[str, str] | None = None,
) -> None:
    """Add (or with None, withdraw) the run of the pipeline in progress."""
    target = current()
    if target is not None:
        publish(replace(target, run_id=run_id, experiment_id=experiment_id, child_runs=child_runs))


@dataclass(frozen=True)
class RunHandoff:
    """A run handed over by an orchestrator that runs `kedro run --nodes ...` as separate
    processes: log into `run_id`; end it (FINISHED) only if `end_run`."""

    run_id: str | None
    end_run: bool = False

    @classmethod
    def from_run(cls, runtime_params: Mapping[str, Any] | None) -> RunHandoff:
        """`kedro run --params mlflow_run_id=<id>` or $MLFLOW_RUN_ID; `mlflow_end_run=true` to end."""
        runtime_params = runtime_params or {}
        run_id = runtime_params.get("mlflow_run_id") or os.environ.get("MLFLOW_RUN_ID")
        end = str(runtime_params.get("mlflow_end_run", "false")).strip().lower()
        return cls(str(run_id) if run_id else None, end in ("true", "1", "yes"))


# what a tracked run sets process-wide, and puts back as it was when it ends
EXPORTED_ENV = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
    not_logged.ENV_VAR,
)


def save_environment(names: Iterable[str] = EXPORTED_ENV) -> dict[str, str | None]:
    return {name: os.environ.get(name) for name in names}


def restore_environment(
    saved: Mapping[str, str | None], names: Iterable[str] = EXPORTED_ENV
) -> None:
    """Undo what the run set process-wide, so that the next run in this process (a notebook, an
    orchestrator, tests) resolves its own store and registry, not this run's."""
    for name in names:
        value = saved.get(name)
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def log_started(run_name: str, run_id: str, experiment_id: str, config: Any) -> None:
    logger.info(
        "MLflow run '%s' (%s) started in experiment %s at %s",
        run_name,
        run_id,
        experiment_id,
        config.tracking_uri,
    )
    if config.server.offline.enabled:
        logger.info(
            "Offline mode (server.offline.enabled in mlflow.yml): `kedro mlflow sync` copies "
            "this run to %s",
            config.server_uri,
        )


def run_page(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    """The run's page in the MLflow UI, as ' (<url>)', for a tracking server; else ''."""
    if not tracking_uri.startswith(("http://", "https://")):
        return ""
    return f" ({tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id})"


_clients: dict[tuple[str, str | None], Any] = {}


def client_for(tracking_uri: str, registry_uri: str | None = None) -> Any:
    """One MlflowClient per store and process (created on first use: imports mlflow)."""
    key = (tracking_uri, registry_uri)
    if key not in _clients:
        from .import_cost import importing_mlflow  # noqa: PLC0415
        from .store_lock import open_client  # noqa: PLC0415

        with importing_mlflow():  # in ParallelRunner workers, the first dataset save
            # (in a notebook, it may create the store)
            _clients[key] = open_client(tracking_uri, registry_uri)
    return _clients[key]


def publish_disabled(disabled: bool) -> None:
    """Say whether the pipeline in progress is untracked on purpose (datasets log nothing)."""
    target = current()
    if target is not None:
        publish(replace(target, disabled=disabled))


def active_run_here() -> Any:
    """MLflow's active run in this thread, if mlflow is imported at all (never imports it)."""
    mlflow = sys.modules.get("mlflow")
    return mlflow.active_run() if mlflow is not None else None


def mlflow_tracking_uri() -> str:
    import mlflow  # noqa: PLC0415

    return mlflow.get_tracking_uri()


def tracking_uri() -> str:
    """The published store, else MLflow's own default (e.g. in a notebook with no project)."""
    target = current()
    if target is not None:
        return target.tracking_uri
    import mlflow  # noqa: PLC0415

    return mlflow.get_tracking_uri()


def point_mlflow_at_project(target: RunTarget | None) -> None:
    """Point MLflow's process-wide URIs at `target`'s store (the published one, or the one a
    dataset carries), for APIs that take no client (`<flavor>.load_model("models:/...")`)."""
    if target is None:
        return
    import mlflow  # noqa: PLC0415

    mlflow.set_tracking_uri(target.tracking_uri)
    if target.registry_uri:
        mlflow.set_registry_uri(target.registry_uri)


def push_active_run(run: Any) -> None:
    """Make `run` (an MLflow Run) MLflow's active run in this thread, without a request and
    without touching its status, so that `mlflow.log_*` and a flavor's `log_model` land in it.
    The one place that touches MLflow's (private) active-run stack."""
    import mlflow  # noqa: PLC0415
    from mlflow.tracking.fluent import _active_run_stack  # noqa: PLC0415

    _active_run_stack.get().append(mlflow.ActiveRun(run))


def pop_active_run(run_id: str, status: str = "FINISHED") -> None:
    """Undo push_active_run, in this thread. Runs a node opened on top of it and left open
    (`mlflow.start_run(nested=True)` without its end) are ended with `status` first; a stack
    without `run_id` is someone else's and left alone."""
    import mlflow  # noqa: PLC0415
    from mlflow.tracking.fluent import _active_run_stack  # noqa: PLC0415

    stack = _active_run_stack.get()
    if run_id not in [active.info.run_id for active in stack]:
        return
    while stack and stack[-1].info.run_id != run_id:
        mlflow.end_run(status)
    stack.pop()


class active_in_this_thread:  # noqa: N801 - used as a `with` statement
    """`run_id` as MLflow's active run in this thread only, for APIs that log into the active
    run (a flavor's `log_model`), unless it already is."""

    def __init__(self, client: Any, run_id: str):
        self._client, self._run_id = client, run_id
        self._pushed = False

    def __enter__(self) -> None:
        import mlflow  # noqa: PLC0415

        active = mlflow.active_run()
        if active is None or active.info.run_id != self._run_id:
            push_active_run(self._client.get_run(self._run_id))
            self._pushed = True

    def __exit__(self, *exc_info: object) -> None:
        if self._pushed:
            pop_active_run(self._run_id)
