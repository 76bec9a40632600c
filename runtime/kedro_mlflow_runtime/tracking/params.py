"""Turning the parameters a pipeline reads into MLflow params (names, flattening, length limits)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import LongParamError, ParamNameError
from .redaction import redacted

if TYPE_CHECKING:  # pipeline registries import this module (is_parameter): keep it light
    from ..config.schema import ParamsOptions

logger = logging.getLogger(__name__)

# MLflow's limits (mlflow.utils.validation); copied so that building params needs no mlflow import.
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
_INVALID_NAME_CHARS = re.compile(r"[^/\w.\- :]")


def is_parameter(name: str) -> bool:
    """Whether a dataset name is one of Kedro's parameter inputs."""
    return name == "parameters" or name.startswith("params:")


def parameter_inputs(nodes: Iterable[Any]) -> list[str]:
    """Every `params:...` / `parameters` dataset the nodes read, sorted and without duplicates."""
    return sorted({name for node in nodes for name in node.inputs if is_parameter(name)})


def parameters_by_namespace(nodes: Iterable[Any]) -> dict[str | None, list[str]]:
    """Parameter inputs grouped by the top-level namespace of the nodes that read them; a
    parameter read outside namespaces, or by several, belongs to the parent run (None)."""
    readers: dict[str, set[str | None]] = {}
    for node in nodes:
        namespace = node.namespace.split(".")[0] if node.namespace else None
        for name in node.inputs:
            if is_parameter(name):
                readers.setdefault(name, set()).add(namespace)
    grouped: dict[str | None, list[str]] = {}
    for name in sorted(readers):
        owners = readers[name]
        grouped.setdefault(owners.pop() if len(owners) == 1 else None, []).append(name)
    return grouped


def to_mlflow_params(
    values: Mapping[str, Any], options: ParamsOptions
) -> tuple[dict[str, str], dict[str, str]]:
    """Map `{"params:model": {...}}` to (params, tags) as MLflow takes them.

    Over-long values go to tags, are truncated, or raise, per `long_params_strategy`.
    """
    dict_opts = options.dict_params
    flat: dict[str, Any] = {}
    for dataset_name, raw in values.items():
        name = dataset_name.removeprefix("params:")
        value = redacted(name, raw, options.redact)
        if dict_opts.flatten and isinstance(value, Mapping):
            flat.update(_flatten(value, name, dict_opts.sep, dict_opts.recursive))
        else:
            flat[name] = value

    params: dict[str, str] = {}
    tags: dict[str, str] = {}
    raw_names: dict[str, str] = {}
    for raw_name, value in flat.items():
        name = _valid_name(raw_name)
        if raw_names.setdefault(name, raw_name) != raw_name:  # one would overwrite the other
            raise ParamNameError(
                f"Parameters '{raw_names[name]}' and '{raw_name}' would both be logged as "
                f"MLflow param '{name}' (MLflow names take letters, digits and _ - . / : and "
                f"spaces only). Rename one of them in parameters.yml (or --params)."
            )
        text = str(value)
        if len(text) <= MAX_PARAM_VALUE_LENGTH:
            params[name] = text
        elif options.long_params_strategy == "fail":
            raise LongParamError(
                f"Parameter '{name}' is {len(text)} characters long and MLflow accepts at most "
                f"{MAX_PARAM_VALUE_LENGTH}. Set tracking.params.long_params_strategy to 'truncate' "
                f"or 'tag' in conf/base/mlflow.yml, or flatten it with "
                f"tracking.params.dict_params.flatten: true."
            )
        elif options.long_params_strategy == "truncate":
            logger.warning(
                "Parameter '%s' truncated to %d characters", name, MAX_PARAM_VALUE_LENGTH
            )
            params[name] = text[:MAX_PARAM_VALUE_LENGTH]
        else:
            logger.warning("Parameter '%s' is too long for a param: logged as a tag", name)
            tags[name] = text[:MAX_TAG_VALUE_LENGTH]
    return params, tags


def _flatten(value: Mapping[str, Any], prefix: str, sep: str, recursive: bool) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{sep}{key}"
        if recursive and isinstance(item, Mapping):
            flat.update(_flatten(item, name, sep, recursive))
        else:
            flat[name] = item
    return flat


def _valid_name(name: str) -> str:
    valid = _INVALID_NAME_CHARS.sub("_", name)
    if valid != name:
        logger.warning("'%s' is not a valid MLflow param name: logged as '%s'", name, valid)
    return valid
