"""What every Mlflow* dataset shares: the run it logs into, and what happens without one."""

from __future__ import annotations

import logging
import shlex
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from ..tracking import not_logged, run_context

logger = logging.getLogger(__name__)


def name_after_catalog_entries(catalog: Any, names: Iterable[str]) -> None:
    """Metric keys, metric prefixes and model names default to the catalog entry name. Kedro
    does not tell a dataset its name, so MlflowHook sets it before any node runs; `catalog.get`
    also materialises dataset-factory entries (`"{name}_metric"`), which kedro-mlflow misses."""
    for name in sorted(names):
        dataset = catalog.get(name)
        if isinstance(dataset, TrackedDataset):
            dataset._name_after_catalog_entry(name)


class TrackedDataset(AbstractDataset):
    """Base of the Mlflow* datasets.

    A dataset logs into its own `run_id` when one is given, else into the run of the Kedro run in
    progress (published by MlflowHook, whatever the thread or process). With neither it saves
    locally, logs nothing, warns once, and never creates a run.

    The run travels with the dataset: a pickled dataset (to ParallelRunner or Dask workers)
    carries the target of the process that pickled it. A process running no pipeline of its own
    (a Dask worker started before the run) uses the carried one; credentials never travel.
    """

    # the argument that takes the catalog entry name when the entry does not set it
    _NAMED_BY = ""
    # (target, not-logged ledger) of the process that pickled this dataset: see _tracking
    _carried: tuple[run_context.RunTarget, str | None] | None = None

    def __init__(self, run_id: str | None = None, metadata: dict[str, Any] | None = None):
        self._run_id = run_id
        self.metadata = metadata
        self._warned_no_run = False

    # --- the catalog entry name (set by MlflowHook, also for dataset-factory entries) -----------

    def _name_after_catalog_entry(self, name: str) -> None:
        self._catalog_name = name  # its namespace chooses the child run (tracking.run.nesting)
        if self._NAMED_BY and getattr(self, self._NAMED_BY) is None:
            setattr(self, self._NAMED_BY, name)

    # --- the run ---------------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        target, ledger = self._tracking()
        state["_carried"] = (target, str(ledger) if ledger else None) if target else None
        return state

    def _tracking(self) -> tuple[run_context.RunTarget | None, Path | None]:
        """The store and run this dataset logs into, and the ledger of what it could not log:
        this process's while it runs a pipeline (published by MlflowHook, inherited by
        ParallelRunner's workers), else the ones carried from the process that pickled it (on a
        Dask worker started before the run, or started by a notebook before its run began),
        else this process's store."""
        here = run_context.current()
        if self._carried is not None and not (here is not None and here.pipeline_in_progress):
            target, ledger = self._carried
            return target, Path(ledger) if ledger else None
        return here, not_logged.path()

    @property
    def run_id(self) -> str | None:
        """The run this dataset reads and writes: its own `run_id`, else the Kedro run in
        progress (in any thread or process), else MLflow's active run in this thread (a
        notebook's `with mlflow.start_run():`)."""
        if self._run_id:
            return self._run_id
        target, _ = self._tracking()
        if target is not None and target.run_id:
            return target.run_for(getattr(self, "_catalog_name", None))
        active = run_context.active_run_here()
        return active.info.run_id if active is not None else None

    @run_id.setter
    def run_id(self, run_id: str | None) -> None:
        self._run_id = run_id

    def _client(self) -> Any:
        target, _ = self._tracking()
        if not self._run_id and not (target and target.run_id):
            active = run_context.active_run_here()
            if active is not None:  # MLflow's active run: in MLflow's current store
                return run_context.client_for(run_context.mlflow_tracking_uri())
        if target is not None:
            return run_context.client_for(target.tracking_uri, target.registry_uri)
        return run_context.client_for(run_context.tracking_uri())

    # what save() does with no run at all: "fail" (metrics, as kedro-mlflow), "warn" (save
    # locally, log nothing) or "no run" (models: a LoggedModel outside any run, as MLflow does)
    _WITHOUT_RUN = "warn"

    def _run_for_saving(self) -> str | None:
        run_id = self.run_id
        if run_id is not None:
            return run_id
        disabled = self._tracking_disabled()
        if self._WITHOUT_RUN == "fail" and not disabled:
            raise DatasetError(
                f"{self}: no MLflow run to log into. Start one (`with mlflow.start_run():`), give "
                f"`run_id`, or save it during a tracked `kedro run`."
            )
        if (disabled or self._WITHOUT_RUN == "warn") and not self._warned_no_run:
            self._warned_no_run = True
            logger.warning(
                "%s: no MLflow run to log into (%s): nothing is logged to MLflow.",
                self,
                "tracking is disabled for this pipeline in mlflow.yml"
                if disabled
                else "not in a tracked `kedro run`, and no run started with mlflow.start_run()",
            )
        return None

    def _log_or_note(
        self, what: str, retry: str, log: Any, replay: dict[str, Any] | None = None
    ) -> None:
        """Log, or, when MLflow fails, note what was not logged and go on: the data itself is
        saved (or held by Kedro), so the pipeline carries on and the end of the run reports it.
        `replay` is what `kedro mlflow retry` needs to log it later."""
        _, ledger = self._tracking()
        if not_logged.server_unreachable(ledger):  # each try would wait for MLflow's retries
            error: Exception = ConnectionError(
                "not tried: the tracking server was unreachable earlier in this run"
            )
            logger.error("%s: %s was not logged to MLflow: %s", self, what, error)
            not_logged.record(f"{what} ({self})", retry, error, replay, ledger)
            return
        try:
            log()
        except Exception as error:  # noqa: BLE001 - any tracking failure: the data comes first
            logger.error("%s: %s was not logged to MLflow: %s", self, what, error)
            not_logged.record(f"{what} ({self})", retry, error, replay, ledger)

    def _tracking_disabled(self) -> bool:
        target, _ = self._tracking()
        return target is not None and target.disabled

    @staticmethod
    def _store_hint(client: Any) -> str:
        """`MLFLOW_TRACKING_URI=<client's store> ` for a printed `mlflow` command (password
        masked): the store the failed request went to."""
        from ..tracking.redaction import mask_url_passwords  # noqa: PLC0415

        return f"MLFLOW_TRACKING_URI={shlex.quote(mask_url_passwords(client.tracking_uri))} "

    def _run_for_loading(self) -> str:
        run_id = self.run_id
        if run_id is None:
            raise DatasetError(
                f"{self}: no MLflow run to load from. Give `run_id` in the catalog entry, start "
                f"one (`with mlflow.start_run():`), or load it during a tracked `kedro run`."
            )
        return run_id
