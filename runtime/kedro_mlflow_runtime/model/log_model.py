"""Logging an inference pipeline as one MLflow pyfunc model (end of a PipelineML run, modelify).

What is logged: the spec (node functions by import path, dataset names, parameters) as a
YAML artifact; one pickle per artifact the inference pipeline reads (loaded from the
training run's catalog); the project's own packages and this runtime as `code_paths`, so the
model loads where the project is not installed; the model itself as MLflow "models from code"
(a file that builds an empty KedroPipelineModel), so no Python object is cloudpickled.
"""

from __future__ import annotations

import importlib.metadata
import logging
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import mlflow
from kedro.pipeline import Pipeline

from ..errors import KedroPipelineModelError
from ..tracking import run_context
from ..tracking.params import is_parameter
from .names import logged_model_name
from .pipeline_ml import artifact_names
from .spec import compile_spec, pickled_functions, write_model_files

logger = logging.getLogger(__name__)

MODEL_CODE = Path(__file__).with_name("pipeline_model_code.py")
RUNTIME_PACKAGE = Path(__file__).parents[1]  # kedro_mlflow_runtime/, carried as code


def log_pipeline_model(
    inference: Pipeline,
    input_name: str,
    catalog: Any,
    *,
    run_id: str,
    client: Any,
    log_model_kwargs: Mapping[str, Any],
    kpm_kwargs: Mapping[str, Any] | None = None,
    project_path: Path | None = None,
) -> Any:
    """Log `inference` as a pyfunc model in `run_id`; returns MLflow's ModelInfo."""
    kpm_kwargs = dict(kpm_kwargs or {})
    if kpm_kwargs.pop("runner", None) is not None:
        logger.info("kpm_kwargs['runner'] is ignored: the model calls its nodes directly.")
    spec = compile_spec(inference, input_name, kpm_kwargs.pop("copy_mode", "assign"))
    if kpm_kwargs:
        raise KedroPipelineModelError(f"kpm_kwargs: unknown key(s) {sorted(kpm_kwargs)}")
    parameters = {
        name: catalog.load(name) for name in sorted(inference.inputs()) if is_parameter(name)
    }
    spec["parameters"] = parameters
    kwargs = dict(log_model_kwargs)
    kwargs["name"] = logged_model_name(kwargs.get("name"))
    signature = kwargs.pop("signature", "auto")
    if signature == "auto":
        signature = _infer_signature(catalog, input_name, parameters)
    code_paths = [*kwargs.pop("code_paths", []), *_code_paths(inference, project_path)]
    if signature is not None and "input_example" not in kwargs:
        example = _input_example(catalog, input_name)
        if example is not None:
            kwargs["input_example"] = example  # MLflow also test-runs the model on it

    with tempfile.TemporaryDirectory(prefix="kedro-pipeline-model-") as tmp:
        loaded = {name: catalog.load(name) for name in artifact_names(inference, input_name)}
        artifacts = write_model_files(spec, pickled_functions(inference), loaded, Path(tmp))
        if not {"pip_requirements", "conda_env"} & set(kwargs):
            extra = kwargs.pop("extra_pip_requirements", None) or []
            kwargs["pip_requirements"] = [*pip_requirements(inference, [*loaded.values()]), *extra]
        run_context.point_mlflow_at_project(run_context.current())
        with run_context.active_in_this_thread(client, run_id):
            info = mlflow.pyfunc.log_model(
                python_model=str(MODEL_CODE),
                artifacts=artifacts,
                signature=signature,
                code_paths=code_paths,
                **kwargs,
            )
    logger.info(
        "Inference pipeline logged as MLflow model %s (%s)", info.model_uri, kwargs.get("name")
    )
    return info


def pip_requirements(inference: Pipeline, artifacts: list[Any]) -> list[str]:
    """What the model needs installed, pinned to this environment's versions: MLflow's client
    (mlflow-skinny: loading, predicting and `mlflow models serve`'s scoring server; the full
    `mlflow` adds only the UI and tracking server) and Kedro (the project's packages import it),
    plus the distributions behind the node modules' imports and the artifacts' classes. Found
    without MLflow's requirement inference, which loads the model in a subprocess (seconds) and
    would list this runtime, which travels as code instead.
    """
    names = {"mlflow", "cloudpickle", "kedro", "pandas"}
    for node in inference.nodes:
        module = sys.modules.get(node.func.__module__)
        for value in vars(module).values() if module else ():
            source = (
                value.__name__
                if isinstance(value, ModuleType)
                else getattr(value, "__module__", None)
            )
            if isinstance(source, str):
                names.add(source.split(".")[0])
    for artifact in artifacts:
        names.add(type(artifact).__module__.split(".")[0])
    own = {
        "kedro_mlflow_runtime",
        *(node.func.__module__.split(".")[0] for node in inference.nodes),
    }
    distributions = importlib.metadata.packages_distributions()
    pinned = set()
    for name in names - own - set(sys.stdlib_module_names) - {"builtins"}:
        # mlflow's modules come from mlflow, mlflow-skinny and mlflow-tracing: skinny has them all
        dists = ["mlflow-skinny"] if name == "mlflow" else distributions.get(name, [name])
        for dist in [name] if name in dists else dists:
            try:
                pinned.add(f"{dist}=={importlib.metadata.version(dist)}")
            except importlib.metadata.PackageNotFoundError:
                continue
    return sorted(pinned, key=str.lower)


def _input_example(catalog: Any, input_name: str) -> Any:
    """A few rows of the input as the model's example (shown in the UI, used by `serve`)."""
    sample = catalog.load(input_name)
    head = getattr(sample, "head", None)
    return head(5) if callable(head) else None


def _infer_signature(catalog: Any, input_name: str, parameters: Mapping[str, Any]) -> Any:
    from mlflow.models import infer_signature  # noqa: PLC0415

    try:
        sample = catalog.load(input_name)
    except Exception as error:  # noqa: BLE001 - any dataset error: explain what to do
        raise KedroPipelineModelError(
            f"signature='auto' infers the model's input schema from '{input_name}', which cannot "
            f"be loaded after training ({error}). Persist it in catalog.yml, or pass "
            f"log_model_kwargs={{'signature': None}} (or a ModelSignature)."
        ) from error
    # predict-time params: MLflow takes scalars and lists of scalars
    overridable = {
        name.removeprefix("params:"): value
        for name, value in parameters.items()
        if name != "parameters" and _is_param_value(value)
    }
    # kedro-mlflow's `runner` param: accepted and checked, the nodes are called directly
    return infer_signature(model_input=sample, params={**overridable, "runner": "SequentialRunner"})


def _is_param_value(value: Any) -> bool:
    scalar = (str, int, float, bool)
    return isinstance(value, scalar) or (
        isinstance(value, list) and all(isinstance(item, scalar) for item in value)
    )


def _code_paths(inference: Pipeline, project_path: Path | None) -> list[str]:
    """The packages the node functions come from, when they are the project's own code (not
    installed libraries), plus this runtime (KedroPipelineModel itself)."""
    paths = {str(RUNTIME_PACKAGE)}
    for node in inference.nodes:
        top = node.func.__module__.split(".")[0]
        module = sys.modules.get(top)
        location = getattr(module, "__file__", None)
        if not location:
            continue
        package = Path(location).parent
        if project_path is not None and Path(project_path).resolve() in package.resolve().parents:
            paths.add(str(package))
    return sorted(paths)
