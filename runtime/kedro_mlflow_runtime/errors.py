"""Every exception the runtime raises, under one base class: `except KedroMlflowRuntimeError`
catches them all. Each also keeps the built-in base it always had (ValueError for bad input,
RuntimeError for a store or server that cannot do what is asked), so existing handlers still
match. Messages say what failed, where (file, key, URI, dataset) and how to fix it.
"""

from __future__ import annotations

from typing import Any


class KedroMlflowRuntimeError(Exception):
    """Base class of the runtime's errors."""


# --- configuration (mlflow.yml, credentials, parameters) --------------------------------------


class MlflowConfigError(KedroMlflowRuntimeError, ValueError):
    """`mlflow.yml` (or what it points to) is invalid; the message says where and how to fix it."""


class LongParamError(KedroMlflowRuntimeError, ValueError):
    """A parameter value is longer than MLflow accepts and `long_params_strategy` is `fail`."""


class ParamNameError(KedroMlflowRuntimeError, ValueError):
    """Two parameter names become the same MLflow param name (MLflow's name rules)."""


# --- tracking (the store or server cannot take the run) ---------------------------------------


class TrackingAuthenticationError(KedroMlflowRuntimeError, RuntimeError):
    """The tracking server refused the credentials; nothing ran."""


class TrackingStoreUnwritableError(KedroMlflowRuntimeError, RuntimeError):
    """The tracking store can be read but not written (or not created); nothing ran."""


class TrackingUnavailableError(KedroMlflowRuntimeError, RuntimeError):
    """The tracking server cannot be reached; nothing ran. The message says what to do."""


class ArtifactStoreError(KedroMlflowRuntimeError, RuntimeError):
    """The run's artifact store (a bucket the client writes to) cannot be used; nothing ran."""


class NotLoggedError(KedroMlflowRuntimeError, RuntimeError):
    """The pipeline ran and saved its outputs, but some of it did not reach MLflow."""

    @classmethod
    def from_ledger(cls, run_id: str, items: list[dict[str, Any]], ledger: Any) -> NotLoggedError:
        lines = [
            f"The pipeline ran and saved its outputs, but {len(items)} item(s) were not logged "
            f"to MLflow run {run_id}:"
        ]
        for item in items:
            lines += [f"  - {item['what']}: {item['error']}", f"    retry: {item['retry']}"]
        lines.append(
            f"Once the tracking store is back, `kedro mlflow retry` (from the project folder) "
            f"logs all of them from {ledger} and ends the run FINISHED."
        )
        return cls("\n".join(lines))


class RunKilledError(KedroMlflowRuntimeError, RuntimeError):
    """The process was told to stop (SIGTERM, SIGHUP) while its run was open: it ended KILLED."""


class SyncError(KedroMlflowRuntimeError, RuntimeError):
    """`kedro mlflow sync`: nothing was synced; the message says why and what to do."""


# --- the pipeline as a model ------------------------------------------------------------------


class PipelineMLError(KedroMlflowRuntimeError, ValueError):
    """The training/inference pair cannot be logged as a model; the message says which datasets."""


# kedro-mlflow's name, for code that catches it
KedroMlflowPipelineMLError = PipelineMLError


class KedroPipelineModelError(KedroMlflowRuntimeError, ValueError):
    """The spec cannot be built or run; the message names the node or dataset."""
