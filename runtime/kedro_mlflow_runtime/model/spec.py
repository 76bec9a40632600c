"""The inference pipeline as data (the spec), and the files a logged model is made of.

The spec names each node function by import path (`module:qualname`). A function that cannot be
found again that way (a lambda, a closure, a function defined in a notebook) is stored with
cloudpickle as a file of its own, and the spec names that file. Datasets are names; the
artifacts (what training produced) are pickled one file each. No mlflow import: the hook
checks the node functions with it before training starts.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kedro.pipeline import Pipeline

from ..errors import KedroPipelineModelError
from .pipeline_ml import artifact_names

logger = logging.getLogger(__name__)

SPEC_FORMAT = 1
SPEC_ARTIFACT = "__kedro_pipeline__"  # the spec's key among the model's artifacts
SPEC_FILE = "kedro_pipeline.yml"
PICKLED = "cloudpickle"  # a node's `func: {cloudpickle: <artifact key>}`


def compile_spec(inference: Pipeline, input_name: str, copy_mode: Any = "assign") -> dict[str, Any]:
    """The inference pipeline as data: what KedroPipelineModel needs to rebuild and run it."""
    outputs = sorted(inference.outputs())
    if len(outputs) != 1:
        raise KedroPipelineModelError(
            f"The pipeline to log must have exactly one output; it has: {', '.join(outputs)}"
        )
    if input_name not in inference.inputs():
        raise KedroPipelineModelError(
            f"'{input_name}' is not an input of the pipeline; its inputs are: "
            f"{', '.join(sorted(inference.inputs()))}"
        )
    return {
        "format": SPEC_FORMAT,
        "input_name": _plain(input_name),
        "output_name": _plain(outputs[0]),
        "copy_mode": copy_mode or "assign",
        "nodes": [
            {
                "name": node.name,
                "func": _function_entry(node.func, node.name, index),
                "inputs": _names(node._inputs),
                "outputs": _names(node._outputs),
            }
            for index, node in enumerate(inference.nodes)  # topologically sorted by Kedro
        ],
        "artifacts": {
            _plain(name): _artifact_key(name) for name in artifact_names(inference, input_name)
        },
        "parameters": {},
    }


def pickled_functions(inference: Pipeline) -> dict[str, Callable[..., Any]]:
    """The node functions the spec cannot name by import path, by their artifact key."""
    return {
        _function_key(index): node.func
        for index, node in enumerate(inference.nodes)
        if function_path(node.func) is None
    }


def check_node_functions(inference: Pipeline) -> None:
    """Before training: every node function can be stored (by path, or with cloudpickle)."""
    for node in inference.nodes:
        if function_path(node.func) is None:
            pickle_function(node.func, node.name)


def write_model_files(
    spec: Mapping[str, Any],
    functions: Mapping[str, Callable[..., Any]],
    artifacts: Mapping[str, Any],
    folder: Path,
) -> dict[str, str]:
    """The spec, the pickled functions and artifacts as files in `folder`: MLflow's `artifacts`."""
    import cloudpickle  # noqa: PLC0415 - ships with mlflow
    import yaml  # noqa: PLC0415

    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, value in artifacts.items():
        key = spec["artifacts"][_plain(name)]
        files[key] = _write(folder / f"{key}.pkl", cloudpickle.dumps(value))
    by_key = {node["func"][PICKLED]: node["name"] for node in spec["nodes"] if _is_pickled(node)}
    for key, func in functions.items():
        files[key] = _write(folder / f"{key}.pkl", pickle_function(func, by_key.get(key, key)))
    # The spec is an artifact, not `model_config`: MLflow would also log model_config as
    # params of the training run.
    spec_text = yaml.safe_dump(dict(spec), sort_keys=False)
    files[SPEC_ARTIFACT] = _write(folder / SPEC_FILE, spec_text.encode("utf-8"))
    return files


def resolve_function(path: str) -> Callable[..., Any]:
    module_name, _, qualname = path.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def function_path(func: Callable[..., Any]) -> str | None:
    """`module:qualname` of a function, when it resolves back to the same function."""
    module, qualname = getattr(func, "__module__", None), getattr(func, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname:
        return None
    path = f"{module}:{qualname}"
    try:
        return path if resolve_function(path) is func else None
    except (ImportError, AttributeError):
        return None


def pickle_function(func: Callable[..., Any], node_name: str) -> bytes:
    import cloudpickle  # noqa: PLC0415

    try:
        return cloudpickle.dumps(func)
    except Exception as error:  # noqa: BLE001 - whatever the closure holds: name the node
        raise KedroPipelineModelError(
            f"node '{node_name}': its function is not importable by path and cloudpickle cannot "
            f"store it ({type(error).__name__}: {error}). Define it at module level, or keep "
            f"what it closes over picklable."
        ) from error


def _function_entry(func: Callable[..., Any], node_name: str, index: int) -> Any:
    path = function_path(func)
    if path is not None:
        return path
    # a warning, not an error: the model works, but only with this Python version
    logger.warning(
        "node '%s' runs %r, which cannot be imported by path: the model stores it with "
        "cloudpickle, so it loads with this Python version (%s) only.",
        node_name,
        func,
        _python_version(),
    )
    return {PICKLED: _function_key(index)}


def _is_pickled(node: Mapping[str, Any]) -> bool:
    return isinstance(node["func"], Mapping)


def _function_key(index: int) -> str:
    return f"__function_{index}__"


def _python_version() -> str:
    import platform  # noqa: PLC0415

    return ".".join(platform.python_version_tuple()[:2])


def _write(path: Path, content: bytes) -> str:
    path.write_bytes(content)
    return str(path)


def _names(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return _plain(value) if value else value
    if isinstance(value, dict):
        return {key: _plain(name) for key, name in value.items()}
    return [_plain(name) for name in value]


def _plain(name: str) -> str:
    """Transcoded names (`data@pandas`) are one in-memory value."""
    return name.split("@", 1)[0]


def _artifact_key(name: str) -> str:
    return re.sub(r"[^\w.\-]+", "_", name)
