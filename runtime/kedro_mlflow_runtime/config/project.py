"""Reading `mlflow.yml` and `credentials.yml` through a Kedro context (no mlflow import)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kedro.config import MissingConfigException
from omegaconf.errors import OmegaConfBaseException

from ..errors import MlflowConfigError
from .exported import users_environment
from .files import check_files, interpolation_error
from .schema import (
    CONFIG_NAME,
    DEFAULT_CONFIG_PATTERNS,
    MlflowConfig,
    config_files,
    load_mlflow_config,
)


def read_mlflow_config(context: Any) -> MlflowConfig:
    """Load, merge (Kedro envs) and validate the project's `mlflow.yml`; defaults if there is none."""
    loader = context.config_loader
    patterns = loader.config_patterns.setdefault(CONFIG_NAME, list(DEFAULT_CONFIG_PATTERNS))
    project_path = Path(context.project_path)
    files = config_files(_conf_dirs(loader), patterns)
    # before the loader, whose errors for these name neither the file nor the key
    check_files(files, project_path)
    try:
        raw = loader[CONFIG_NAME]
    except MissingConfigException:
        raw = {}
    except OmegaConfBaseException as error:  # an interpolation, e.g. ${oc.env:...}
        raise interpolation_error(error, files, project_path) from None
    if raw is not None and not isinstance(raw, dict):
        raise MlflowConfigError(
            f"mlflow.yml: the file must hold a mapping, got {type(raw).__name__}"
        )
    return load_mlflow_config(
        raw,
        project_path=project_path,
        default_experiment_name=_package_name(context, project_path),
        source_files=files,
        environ=users_environment(os.environ),
    )


def read_mlflow_credentials(context: Any, key: str | None) -> dict[str, str]:
    """The `credentials.yml` entry named by `server.credentials`, as environment variables."""
    if not key:
        return {}
    try:
        credentials = context.config_loader["credentials"]
    except MissingConfigException:
        credentials = {}
    if key not in credentials:
        raise MlflowConfigError(
            f"mlflow.yml: server.credentials: '{key}' is not a key of credentials.yml "
            f"(conf/local/credentials.yml); add it there, or set server.credentials to null"
        )
    entry = credentials[key]
    if not isinstance(entry, dict):
        raise MlflowConfigError(
            f"credentials.yml: {key}: expected a mapping of environment variables "
            f"(e.g. MLFLOW_TRACKING_USERNAME: ...), got {type(entry).__name__}"
        )
    return {str(name): str(value) for name, value in entry.items() if value is not None}


def run_env(context: Any) -> str:
    """The Kedro environment this context reads (`local` unless `--env`/KEDRO_ENV says otherwise)."""
    loader = context.config_loader
    return getattr(context, "env", None) or getattr(loader, "default_run_env", None) or "local"


def _conf_dirs(loader: Any) -> list[Path]:
    source = Path(getattr(loader, "conf_source", "conf"))
    base = getattr(loader, "base_env", None) or "base"
    env = getattr(loader, "env", None) or getattr(loader, "default_run_env", None)
    dirs = [source / base]
    if env and env != base:
        dirs.append(source / env)
    return dirs


def _package_name(context: Any, project_path: Path) -> str:
    package = getattr(context, "_package_name", None)
    if package:
        return package
    from kedro.framework.startup import _get_project_metadata  # noqa: PLC0415 (rare path)

    return _get_project_metadata(project_path).package_name
