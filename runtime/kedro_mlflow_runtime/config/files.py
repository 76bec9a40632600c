"""What can be wrong with an `mlflow.yml` file before its content is validated: its encoding, its
top level, an interpolation Kedro's config loader cannot resolve. Each is said with the file, the
key and the value, rather than as the loader's own error (a UnicodeDecodeError, an omegaconf
ListConfig error) from deep inside Kedro. No mlflow import.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from ..errors import MlflowConfigError

# what to do instead of ${oc.env:...}, which Kedro resolves in credentials.yml only
ENV_ADVICE = (
    "Kedro reads environment variables (${oc.env:...}) in credentials.yml only. Put secrets in "
    "credentials.yml, under the entry named by server.credentials (MLflow gets them as "
    "environment variables, e.g. MLFLOW_TRACKING_TOKEN); leave server.mlflow_tracking_uri out of "
    "mlflow.yml to use $MLFLOW_TRACKING_URI; or allow ${oc.env:...} in every config file with "
    'CONFIG_LOADER_ARGS["custom_resolvers"] = {"oc.env": oc.env} in settings.py '
    "(from omegaconf.resolvers import oc; parameters that read the environment are then logged)."
)


def check_files(files: Iterable[Path], project_path: Path) -> None:
    """Every file is UTF-8 text holding a mapping (or nothing), else MlflowConfigError."""
    for path in files:
        content = _text(path, project_path)
        try:
            parsed = yaml.safe_load(content)
        except yaml.YAMLError:
            continue  # Kedro's loader says which line (and it is tested as such)
        if parsed is not None and not isinstance(parsed, dict):
            raise MlflowConfigError(
                f"{display(path, project_path)}: <top level>: expected a mapping of sections "
                f"(server:, tracking:, ui:), got {_kind(parsed)} {_short(parsed)}. Indent the "
                f"keys under their section, without a leading '- ' (see the template's "
                f"conf/base/mlflow.yml)."
            )


def interpolation_error(
    error: Exception, files: list[Path], project_path: Path
) -> MlflowConfigError:
    """Kedro's loader could not resolve a `${...}` in mlflow.yml: say where, and what to do."""
    key = str(getattr(error, "full_key", "") or "")
    found = find_value(key.split(".") if key else [], files, project_path)
    where, value = found if found else ("mlflow.yml", None)
    shown = f" {value!r}" if value is not None else ""
    reason = str(getattr(error, "msg", None) or error).splitlines()[0]
    advice = (
        ENV_ADVICE
        if "oc.env" in reason
        else "Use an interpolation the config loader knows (${globals:...}, "
        "${runtime_params:...}, or a resolver registered in settings.py), or write the value."
    )
    return MlflowConfigError(
        f"{where}: {key or '<top level>'}:{shown} cannot be resolved ({reason}). {advice}"
    )


def find_value(loc: list[str], files: list[Path], project_path: Path) -> tuple[str, Any] | None:
    """(file, value) of the highest-priority file that sets this key path, else None."""
    for path in reversed(files):
        try:
            node: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        for part in loc:
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
        else:
            return display(path, project_path), node
    return None


def display(path: Path, project_path: Path) -> str:
    """The file as the user knows it: relative to the project when it is inside."""
    try:
        return path.relative_to(project_path).as_posix()
    except ValueError:
        return path.as_posix()


def _text(path: Path, project_path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise MlflowConfigError(
            f"{display(path, project_path)}: line {line}: byte "
            f"{data[error.start : error.start + 1]!r} is not UTF-8 text (the file is probably "
            f"saved as Latin-1 or cp1252). Save it as UTF-8 (Kedro reads config files as UTF-8)."
        ) from None


def _kind(value: Any) -> str:
    return "a list" if isinstance(value, list) else f"a single {type(value).__name__} value"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
