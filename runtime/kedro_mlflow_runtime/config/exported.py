"""MLflow's own defaults name the project once its Kedro context is created (as kedro-mlflow):
in a notebook (`%load_ext kedro.ipython`, `session.load_context()`), `mlflow.start_run()` and
`mlflow.pyfunc.load_model("runs:/...")` then use the project's store, registry and experiment.

Through environment variables, which MLflow reads when it is used: creating a context never
imports mlflow (a second of every `kedro` command). If mlflow is already imported, its process-wide
setters are called too, since they take precedence over the environment. No mlflow import.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .schema import MlflowConfig

# what was exported, so that the next context (another project or env in the same process) reads
# the user's own $MLFLOW_TRACKING_URI for `mlflow_tracking_uri: null`, not this project's
MARK = "KEDRO_MLFLOW_RUNTIME_EXPORTED"


def point_mlflow_at_project(config: MlflowConfig, credentials: Mapping[str, str]) -> None:
    """Point MLflow's defaults at the project, unless a run is already active: its store
    stays MLflow's (the run is logged into)."""
    mlflow = sys.modules.get("mlflow")
    if mlflow is not None and mlflow.active_run() is not None:
        return
    exported = {
        "MLFLOW_TRACKING_URI": config.tracking_uri,
        "MLFLOW_EXPERIMENT_NAME": config.tracking.experiment.name,
    }
    if config.registry_uri:
        exported["MLFLOW_REGISTRY_URI"] = config.registry_uri
    for name in _ours(os.environ):  # the previous project's, not the user's
        os.environ.pop(name, None)
    os.environ.update(exported)
    os.environ.update(credentials)  # MLflow reads credentials from the environment only
    os.environ[MARK] = json.dumps(exported)
    if mlflow is not None:
        set_mlflow_defaults(mlflow, config.tracking_uri, config)


def set_mlflow_defaults(mlflow: Any, tracking_uri: str, config: MlflowConfig) -> None:
    """MLflow's process-wide setters (they take precedence over the environment): the store,
    the registry, and the autologging switch of mlflow.yml."""
    mlflow.set_tracking_uri(tracking_uri)
    if config.registry_uri:
        mlflow.set_registry_uri(config.registry_uri)
    if config.tracking.disable_tracking.disable_autologging:
        mlflow.autolog(disable=True, silent=True)


def users_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` without the variables this module set (those still holding its values)."""
    ours = _ours(environ)
    return {name: value for name, value in environ.items() if name not in ours}


def _ours(environ: Mapping[str, str]) -> set[str]:
    try:
        exported = json.loads(environ.get(MARK) or "{}")
    except ValueError:
        return set()
    return {name for name, value in exported.items() if environ.get(name) == value}
