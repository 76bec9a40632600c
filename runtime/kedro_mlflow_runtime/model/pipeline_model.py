"""KedroPipelineModel: an inference pipeline served as one MLflow pyfunc model.

The model stores a *spec* of the pipeline (kedro_pipeline.yml), not Kedro objects: the node
functions by import path (with cloudpickle when they have none: lambdas, closures), the dataset names that connect them, the parameters; and one pickle per artifact (the fitted
objects training produced). `load_context` unpickles the artifacts and resolves the functions
once; `predict` calls the functions in order on a dict, with no catalog, runner or Kedro import.
So a model loads wherever its code and the libraries its nodes use are importable (the
project's code travels with it in `code/`), and it survives Kedro upgrades.
"""

from __future__ import annotations

import copy
import logging
import pickle
from collections.abc import Callable, Mapping
from typing import Any

import mlflow.pyfunc
import pandas as pd

from ..errors import KedroPipelineModelError
from .spec import PICKLED, SPEC_ARTIFACT, SPEC_FILE, SPEC_FORMAT, resolve_function

logger = logging.getLogger(__name__)

COPY_MODES = {"assign": None, "copy": copy.copy, "deepcopy": copy.deepcopy}


class KedroPipelineModel(mlflow.pyfunc.PythonModel):
    """Runs a compiled inference pipeline. Built by `model_logging` from a PipelineML (or any
    pipeline with one output) and a catalog; loaded by MLflow from the logged spec."""

    def __init__(
        self,
        spec: Mapping[str, Any] | None = None,
        artifacts: Mapping[str, Any] | None = None,
        functions: Mapping[str, Callable[..., Any]] | None = None,
    ):
        self._spec = dict(spec) if spec else None
        self._data: dict[str, Any] = dict(artifacts or {})  # dataset name -> loaded object
        # node functions stored with cloudpickle, by artifact key
        self._functions: dict[str, Callable[..., Any]] = dict(functions or {})
        self._steps: list[Callable[[dict[str, Any]], None]] = []
        self._copiers: dict[str, Callable[[Any], Any]] = {}
        if self._spec is not None and artifacts is not None:
            self._prepare(self._spec)

    @property
    def input_name(self) -> str:
        return self._require_spec()["input_name"]

    @property
    def output_name(self) -> str:
        return self._require_spec()["output_name"]

    @property
    def spec(self) -> dict[str, Any]:
        """The pipeline as data: nodes (functions by import path), datasets, parameters."""
        return self._require_spec()

    def load_context(self, context: Any) -> None:
        files = dict(getattr(context, "artifacts", None) or {})
        spec = self._spec
        if SPEC_ARTIFACT in files:
            import yaml  # noqa: PLC0415

            with open(files.pop(SPEC_ARTIFACT), encoding="utf-8") as stream:
                spec = yaml.safe_load(stream)
        if not spec or spec.get("format") != SPEC_FORMAT:
            raise KedroPipelineModelError(
                f"This model has no Kedro pipeline spec ({SPEC_FILE}, format {SPEC_FORMAT}): log "
                f"it with kedro-mlflow-runtime (a PipelineML run or `kedro mlflow modelify`)."
            )
        self._spec = dict(spec)
        data = {}
        for name, key in spec["artifacts"].items():
            if key in files:
                with open(files[key], "rb") as stream:
                    data[name] = pickle.load(stream)  # noqa: S301 - the model's own artifacts
            elif name in self._data:
                data[name] = self._data[name]
            else:
                raise KedroPipelineModelError(
                    f"artifact '{name}' ({key}) is missing from the model"
                )
        self._data = data
        self._functions = _pickled_functions(spec, files, self._functions)
        self._prepare(self._spec)

    # `pd.DataFrame` is what pyfunc passes once the signature is enforced; MLflow does not
    # validate or convert on this hint (it validates against the logged signature instead).
    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> Any:
        """Run the inference nodes on `model_input`; `params` override the pipeline's parameters
        (`{"threshold": 0.8}` replaces `params:threshold`)."""
        if not self._steps:
            self.load_context(context)
        data = {
            name: (self._copiers[name](value) if name in self._copiers else value)
            for name, value in self._data.items()
        }
        if params:
            for key, value in params.items():
                name = key if key == "parameters" else f"params:{key}"
                if name not in data:
                    raise KedroPipelineModelError(
                        f"Unknown predict param '{key}': the inference pipeline reads "
                        f"{', '.join(sorted(n for n in data if n.startswith('params:'))) or 'no params'}."
                    )
                data[name] = value
        data[self._spec["input_name"]] = model_input
        for step in self._steps:
            step(data)
        return data[self._spec["output_name"]]

    # --- internals ------------------------------------------------------------------------------

    def _require_spec(self) -> dict[str, Any]:
        if self._spec is None:
            raise KedroPipelineModelError("KedroPipelineModel has no spec yet (load it first)")
        return self._spec

    def _prepare(self, spec: Mapping[str, Any]) -> None:
        self._data.update(spec.get("parameters") or {})
        self._steps = [_compile_step(node, self._functions) for node in spec["nodes"]]
        mode = spec.get("copy_mode") or "assign"
        modes = mode if isinstance(mode, Mapping) else dict.fromkeys(self._data, mode)
        self._copiers = {}
        for name, name_mode in modes.items():
            if name_mode not in COPY_MODES:
                raise KedroPipelineModelError(
                    f"copy_mode for '{name}' must be one of {', '.join(COPY_MODES)}, got {name_mode!r}"
                )
            if COPY_MODES[name_mode] is not None:
                self._copiers[name] = COPY_MODES[name_mode]


def _pickled_functions(
    spec: Mapping[str, Any], files: Mapping[str, str], known: Mapping[str, Callable[..., Any]]
) -> dict[str, Callable[..., Any]]:
    """The node functions stored with cloudpickle: from the model's files, or already here."""
    functions = {}
    for node in spec["nodes"]:
        if not isinstance(node["func"], Mapping):
            continue
        key = node["func"][PICKLED]
        if key in files:
            with open(files[key], "rb") as stream:
                functions[key] = pickle.load(stream)  # noqa: S301 - the model's own function
        elif key in known:
            functions[key] = known[key]
        else:
            raise KedroPipelineModelError(
                f"node '{node['name']}': its function ({key}) is missing from the model"
            )
    return functions


def _compile_step(
    node: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]]
) -> Callable[[dict[str, Any]], None]:
    """One node as a closure over a dict of datasets: no per-call lookups beyond the dict."""
    entry = node["func"]
    func = functions[entry[PICKLED]] if isinstance(entry, Mapping) else resolve_function(entry)
    inputs, outputs, name = node["inputs"], node["outputs"], node["name"]

    if inputs is None:

        def call(data: dict[str, Any]) -> Any:
            return func()
    elif isinstance(inputs, str):

        def call(data: dict[str, Any]) -> Any:
            return func(data[inputs])
    elif isinstance(inputs, list):

        def call(data: dict[str, Any]) -> Any:
            return func(*[data[i] for i in inputs])
    else:
        items = list(inputs.items())

        def call(data: dict[str, Any]) -> Any:
            return func(**{arg: data[i] for arg, i in items})

    if outputs is None:
        return call  # type: ignore[return-value]
    if isinstance(outputs, str):

        def step(data: dict[str, Any]) -> None:
            data[outputs] = call(data)
    elif isinstance(outputs, list):

        def step(data: dict[str, Any]) -> None:
            result = call(data)
            if len(result) != len(outputs):
                raise KedroPipelineModelError(
                    f"node '{name}' returned {len(result)} values for outputs {outputs}"
                )
            data.update(zip(outputs, result, strict=True))
    else:
        pairs = list(outputs.items())

        def step(data: dict[str, Any]) -> None:
            result = call(data)
            for key, output in pairs:
                data[output] = result[key]

    return step
