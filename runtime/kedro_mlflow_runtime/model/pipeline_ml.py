"""PipelineML: a training pipeline that carries the inference pipeline to log as a model.

`pipeline_ml_factory(training, inference, input_name)` checks that the inference pipeline can
be served on its own: exactly one output, `input_name` among its inputs, and every other input
produced or read by training (or a parameter). At the end of a successful tracked run of a
PipelineML, MlflowHook logs the inference pipeline as one MLflow model.

Kedro builds new pipelines as plain `Pipeline`s (filtering, `-`, `only_nodes`...). The two
operations Kedro applies to every run keep the PipelineML: `+` (the default registry's
`sum(pipelines.values())`, KedroSession combining `--pipelines`) and `filter` (every run).
No mlflow import here: pipeline registries import this module on every `kedro` command.
"""

from __future__ import annotations

import logging
from typing import Any

from kedro.io import MemoryDataset
from kedro.pipeline import Pipeline

from ..errors import KedroPipelineModelError, PipelineMLError
from ..tracking.params import is_parameter

logger = logging.getLogger(__name__)

LOG_MODEL_KWARGS_DEFAULT = {"signature": "auto", "name": "model"}


class PipelineML(Pipeline):
    """The training nodes, plus `inference` (served as one model) and its `input_name`."""

    def __init__(
        self,
        nodes: Any,
        *,
        inference: Pipeline,
        input_name: str,
        kpm_kwargs: dict[str, Any] | None = None,
        log_model_kwargs: dict[str, Any] | None = None,
        tags: Any = None,
    ):
        super().__init__(nodes, tags=tags)
        self.inference = inference
        self.input_name = input_name
        self.kpm_kwargs = dict(kpm_kwargs or {})
        self.log_model_kwargs = _log_model_kwargs(log_model_kwargs)
        self._check_consistency()

    @property
    def training(self) -> Pipeline:
        return Pipeline(self.nodes)

    @property
    def output_name(self) -> str:
        return next(iter(self.inference.outputs()))

    def _check_consistency(self) -> None:
        outputs = sorted(self.inference.outputs())
        if len(outputs) != 1:
            raise PipelineMLError(
                f"The inference pipeline must have exactly one output (what the model returns); "
                f"it has {len(outputs)}: {', '.join(outputs) or 'none'}."
            )
        inputs = sorted(self.inference.inputs())
        if self.input_name not in inputs:
            raise PipelineMLError(
                f"input_name='{self.input_name}' is not an input of the inference pipeline; its "
                f"inputs are: {', '.join(inputs)}."
            )
        known = self.training.all_outputs() | self.training.inputs()
        free = [
            name
            for name in inputs
            if name != self.input_name and not is_parameter(name) and name not in known
        ]
        if free:
            raise PipelineMLError(
                f"The inference pipeline reads {', '.join(free)}, which the training pipeline "
                f"neither produces nor reads: the model would have no way to get "
                f"{'them' if len(free) > 1 else 'it'}. Produce {'them' if len(free) > 1 else 'it'} "
                f"in training, or pass {'them' if len(free) > 1 else 'it'} as input_name."
            )

    def _with_nodes(self, nodes: Any) -> PipelineML:
        return PipelineML(
            nodes,
            inference=self.inference,
            input_name=self.input_name,
            kpm_kwargs=self.kpm_kwargs,
            log_model_kwargs=self.log_model_kwargs,
        )

    # --- what Kedro does to every run's pipeline --------------------------------------------

    def __add__(self, other: Any) -> Pipeline:
        if not isinstance(other, Pipeline):
            return NotImplemented
        if isinstance(other, PipelineML) and other is not self:
            logger.warning(
                "Two PipelineML combined: only the model of the left one ('%s' -> %s) is logged.",
                self.input_name,
                self.output_name,
            )
        return self._with_nodes([*self.nodes, *other.nodes])

    def __radd__(self, other: Any) -> Pipeline:
        if isinstance(other, int) and other == 0:  # sum() without a start value
            return self
        if not isinstance(other, Pipeline):
            return NotImplemented
        return self._with_nodes([*other.nodes, *self.nodes])

    def filter(self, *args: Any, **kwargs: Any) -> Pipeline:
        filtered = super().filter(*args, **kwargs)
        if set(filtered.nodes) == set(self.nodes):
            return self
        try:
            return self._with_nodes(filtered.nodes)
        except PipelineMLError as error:
            logger.warning(
                "The selected nodes cannot log the inference model (%s): running them as a "
                "plain pipeline.",
                error,
            )
            return filtered


def pipeline_ml_factory(
    training: Pipeline,
    inference: Pipeline,
    input_name: str,
    kpm_kwargs: dict[str, Any] | None = None,
    log_model_kwargs: dict[str, Any] | None = None,
) -> PipelineML:
    """Join a training and an inference pipeline: a tracked run of the result logs `inference`
    (with the artifacts and parameters it reads) as one MLflow model.

    Args:
        training: the pipeline that runs (`kedro run`).
        inference: the pipeline served as the model; exactly one output.
        input_name: the inference input the model's callers provide (e.g. the features).
        kpm_kwargs: for KedroPipelineModel, e.g. `{"copy_mode": "deepcopy"}`.
        log_model_kwargs: for `mlflow.pyfunc.log_model`: `name` (default "model"),
            `registered_model_name`, `signature` ("auto": inferred from `input_name`'s data and
            the inference parameters; None: none), `pip_requirements`, `input_example`, ...
    """
    return PipelineML(
        training.nodes,
        inference=inference,
        input_name=input_name,
        kpm_kwargs=kpm_kwargs,
        log_model_kwargs=log_model_kwargs,
    )


def _log_model_kwargs(kwargs: dict[str, Any] | None) -> dict[str, Any]:
    kwargs = dict(kwargs or {})
    if "artifact_path" in kwargs:
        if "name" in kwargs:
            raise PipelineMLError(
                "log_model_kwargs: give 'name' only ('artifact_path' is its MLflow 2 spelling)."
            )
        kwargs["name"] = kwargs.pop("artifact_path")
    return {**LOG_MODEL_KWARGS_DEFAULT, **kwargs}


def check_artifacts_are_persisted(inference: Pipeline, input_name: str, catalog: Any) -> None:
    """Before training starts: every artifact must be loadable once training is over."""
    transient = []
    for name in artifact_names(inference, input_name):
        dataset = catalog.get(name)
        if dataset is None or isinstance(dataset, MemoryDataset):
            transient.append(name)
    if transient:
        raise KedroPipelineModelError(
            f"The inference pipeline reads {', '.join(transient)}, which "
            f"{'are' if len(transient) > 1 else 'is'} not persisted (no catalog.yml entry, or a "
            f"MemoryDataset): declare {'them' if len(transient) > 1 else 'it'} in catalog.yml "
            f"(e.g. pickle.PickleDataset, or MlflowModelTrackingDataset for a model) so the "
            f"model can be built once training is over."
        )


def artifact_names(inference: Pipeline, input_name: str) -> list[str]:
    """What the inference pipeline reads besides its input and parameters: the model's artifacts."""
    return [
        name for name in sorted(inference.inputs()) if name != input_name and not is_parameter(name)
    ]
