"""KedroPipelineModel: an inference pipeline served as one MLflow pyfunc model.

The model stores a *spec* of the pipeline (kedro_pipeline.yml), not Kedro objects: the node
functions by import path (with cloudpickle when they have none: lambdas, closures), the dataset
names that connect them, the parameters; and one pickle per artifact (the fitted objects
training produced). `load_context` unpickles the artifacts and resolves the functions
once; `predict` calls the functions in order on a dict, with no catalog, runner or Kedro import.
So a model loads wherever its code and the libraries its nodes use are importable (the
project's code travels with it in `code/`), and it survives Kedro upgrades.
"""

from __future__ import annotations

import copy
import functools
import importlib
import logging
import pickle
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
from kedro.pipeline import Pipeline

from ..errors import KedroPipelineModelError
from ..tracking.params import is_parameter
from .spec import (
    PICKLED,
    SPEC_ARTIFACT,
    SPEC_FILE,
    SPEC_FORMAT,
    compile_spec,
    pickled_functions,
    resolve_function,
    write_model_files,
)

logger = logging.getLogger(__name__)

COPY_MODES = {"assign": None, "copy": copy.copy, "deepcopy": copy.deepcopy}


class KedroPipelineModel(mlflow.pyfunc.PythonModel):
    """Runs a compiled inference pipeline, as kedro-mlflow's KedroPipelineModel is used:

        kpm = KedroPipelineModel(pipeline=inference, catalog=catalog, input_name="instances")
        artifacts = kpm.extract_pipeline_artifacts()
        mlflow.pyfunc.log_model(name="model", python_model=kpm, artifacts=artifacts, ...)

    `pipeline` may be a PipelineML (its inference pipeline is used). The logged object holds the
    spec only (plain data); the artifacts hold the spec, the fitted objects and any function
    stored with cloudpickle. MlflowHook and `kedro mlflow modelify` log the same spec as MLflow
    "models from code" (pipeline_model_code.py builds an empty KedroPipelineModel).
    """

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        catalog: Any = None,
        input_name: str | None = None,
        runner: Any = None,
        copy_mode: str | Mapping[str, str] | None = "assign",
    ):
        self.runner = runner  # accepted for kedro-mlflow: the nodes are called directly
        self._catalog = catalog
        self._inference: Pipeline | None = None
        self._spec: dict[str, Any] | None = None
        self._data: dict[str, Any] = {}  # dataset name -> loaded object
        # node functions stored with cloudpickle, by artifact key
        self._functions: dict[str, Callable[..., Any]] = {}
        self._steps: list[Callable[[dict[str, Any]], None]] = []
        self._copiers: dict[str, Callable[[Any], Any]] = {}
        if pipeline is None:
            return  # MLflow "models from code": built from the model's files in load_context
        self._inference = getattr(pipeline, "inference", pipeline)  # a PipelineML's model
        input_name = input_name or getattr(pipeline, "input_name", None)
        if not isinstance(copy_mode, str | Mapping | None):
            raise KedroPipelineModelError(
                f"'copy_mode' must be a 'str' or a 'dict', not '{type(copy_mode).__name__}'"
            )
        self._spec = compile_spec(self._inference, input_name, copy_mode)
        self._functions = pickled_functions(self._inference)
        _check_catalog(catalog, self._catalog_names())

    @classmethod
    def from_spec(
        cls,
        spec: Mapping[str, Any],
        artifacts: Mapping[str, Any],
        functions: Mapping[str, Callable[..., Any]] | None = None,
    ) -> KedroPipelineModel:
        """A model ready to predict from a spec and its loaded artifacts (no files, no catalog)."""
        model = cls()
        model._spec, model._data = dict(spec), dict(artifacts)
        model._functions = dict(functions or {})
        model._prepare(model._spec)
        return model

    def extract_pipeline_artifacts(
        self, parameters_saving_folder: str | Path | None = None
    ) -> dict[str, str]:
        """The files to pass as `mlflow.pyfunc.log_model(artifacts=...)`: the spec (with the
        parameters' current values), one pickle per artifact loaded from the catalog, and the
        node functions stored with cloudpickle. Written to `parameters_saving_folder` (default:
        a new temporary folder)."""
        self._load_from_catalog()
        folder = Path(parameters_saving_folder or tempfile.mkdtemp(prefix="kedro-pipeline-model-"))
        spec = self._require_spec()
        artifacts = {name: self._data[name] for name in spec["artifacts"]}
        return write_model_files(spec, self._functions, artifacts, folder)

    # What MLflow pickles (python_model.pkl): plain data, no Kedro pipeline, catalog or runner.
    def __getstate__(self) -> dict[str, Any]:
        return {"_spec": self._spec}

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]
        self._spec = state.get("_spec")

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
        if not files and self._catalog is not None:
            self._load_from_catalog()  # built from a pipeline and a catalog, not logged yet
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
        (`{"threshold": 0.8}` replaces `params:threshold`). `params["runner"]` must name a Kedro
        runner (kedro-mlflow runs the pipeline with it); the nodes are called directly."""
        if not self._steps:
            self.load_context(context)
        data = {
            name: (self._copiers[name](value) if name in self._copiers else value)
            for name, value in self._data.items()
        }
        params = dict(params or {})
        _check_runner(params.pop("runner", None))
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

    def _catalog_names(self) -> list[str]:
        """What the model takes from the catalog: the inference inputs but `input_name`."""
        inputs = self._inference.inputs() if self._inference is not None else set()
        return sorted(name for name in inputs if name != self._require_spec()["input_name"])

    def _load_from_catalog(self) -> None:
        """The artifacts and parameters, as the catalog holds them now."""
        if self._inference is None or self._catalog is None:
            raise KedroPipelineModelError(
                "extract_pipeline_artifacts needs the KedroPipelineModel built from a pipeline "
                "and a catalog: KedroPipelineModel(pipeline=..., catalog=..., input_name=...)"
            )
        spec = self._require_spec()
        values = {name: self._catalog.load(name) for name in self._catalog_names()}
        spec["parameters"] = {name: v for name, v in values.items() if is_parameter(name)}
        self._data = {
            name.split("@", 1)[0]: v for name, v in values.items() if not is_parameter(name)
        }

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


KEDRO_RUNNERS = frozenset({"SequentialRunner", "ThreadRunner", "ParallelRunner"})


def _check_runner(name: Any) -> None:
    """`params["runner"]`: a runner of kedro.runner, or the import path of an AbstractRunner."""
    if name is None or name in KEDRO_RUNNERS:  # MLflow passes the signature's default each call
        return
    if not (isinstance(name, str) and _is_runner_path(name)):
        raise KedroPipelineModelError(
            f"params['runner']={name!r} is not a Kedro runner: use "
            f"{', '.join(sorted(KEDRO_RUNNERS))} or the import path of an AbstractRunner "
            f"subclass. (This model calls its nodes directly, whichever runner is named.)"
        )


@functools.cache
def _is_runner_path(path: str) -> bool:
    from kedro.runner import AbstractRunner  # noqa: PLC0415

    module, _, attribute = path.rpartition(".")
    try:
        runner = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError, ValueError):
        return False
    return isinstance(runner, type) and issubclass(runner, AbstractRunner)


def _check_catalog(catalog: Any, names: list[str]) -> None:
    missing = [name for name in names if catalog is None or name not in catalog]
    if missing:
        raise KedroPipelineModelError(
            f"The catalog has no entry for {', '.join(missing)}, which the inference pipeline "
            f"reads: the model is built from it."
        )


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
