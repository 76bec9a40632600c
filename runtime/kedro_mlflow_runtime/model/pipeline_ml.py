"""PipelineML: a training pipeline that carries the inference pipeline to log as a model.

`pipeline_ml_factory(training, inference, input_name)` checks that the inference pipeline can
be served on its own: exactly one output, `input_name` among its inputs, and every other input
produced or read by training (or a parameter). At the end of a successful tracked run of a
PipelineML, MlflowHook logs the inference pipeline as one MLflow model.

What Kedro applies to every run keeps the PipelineML: `+` (the default registry's
`sum(pipelines.values())`, KedroSession combining `--pipelines`) and `filter`. So do the
narrowing filters kedro-mlflow keeps (`from_nodes`, `to_outputs`, `&`, `tag`, ...); a selection
that can no longer feed the inference pipeline runs as a plain Pipeline, with a warning. The
operations kedro-mlflow demotes (`-`, `|`, `only_nodes`, ...) return a plain Pipeline, with its
warning.

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
MSG_WARNING_PIPELINEML_DEMOTED = (
    "This 'Pipeline' is no longer a 'PipelineML': a run of it logs no model. Only `+`, `&`, "
    "`filter`, `from_nodes`, `to_nodes`, `from_inputs`, `to_outputs`, `only_nodes_with_tags` "
    "and `tag` keep a PipelineML."
)


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
        _check_consistency(self.training, inference, input_name)
        self._inference = inference
        self._input_name = input_name
        self.kpm_kwargs = dict(kpm_kwargs or {})
        self.log_model_kwargs = _log_model_kwargs(log_model_kwargs)

    @property
    def training(self) -> Pipeline:
        return Pipeline(self.nodes)

    @property
    def inference(self) -> Pipeline:
        return self._inference

    @inference.setter
    def inference(self, inference: Pipeline) -> None:
        _check_consistency(self.training, inference, self._input_name)
        self._inference = inference

    @property
    def input_name(self) -> str:
        return self._input_name

    @input_name.setter
    def input_name(self, input_name: str) -> None:
        _check_consistency(self.training, self._inference, input_name)
        self._input_name = input_name

    @property
    def output_name(self) -> str:
        return next(iter(self._inference.outputs()))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PipelineML):
            return NotImplemented
        return (
            set(self.nodes) == set(other.nodes)
            and set(self._inference.nodes) == set(other._inference.nodes)
            and (self._input_name, self.kpm_kwargs, self.log_model_kwargs)
            == (other._input_name, other.kpm_kwargs, other.log_model_kwargs)
        )

    # kedro-mlflow's __eq__ leaves PipelineML unhashable; the training nodes never change, so
    # equal pipelines hash alike and it can still go in a set or be a dict key.
    def __hash__(self) -> int:
        return hash(frozenset(self.nodes))

    def _with_nodes(self, nodes: Any) -> PipelineML:
        return PipelineML(
            nodes,
            inference=self._inference,
            input_name=self._input_name,
            kpm_kwargs=self.kpm_kwargs,
            log_model_kwargs=self.log_model_kwargs,
        )

    def _narrowed(self, subset: Pipeline) -> Pipeline:
        """A PipelineML of the selected training nodes, or, when they cannot feed the inference
        pipeline, a plain Pipeline (with a warning) so the selection still runs."""
        if set(subset.nodes) == set(self.nodes):
            return self
        try:
            return self._with_nodes(subset.nodes)
        except PipelineMLError as error:
            logger.warning(
                "The selected nodes cannot log the inference model (%s): running them as a "
                "plain pipeline.",
                error,
            )
            return subset

    def _demoted(self, result: Pipeline) -> Pipeline:
        logger.warning(MSG_WARNING_PIPELINEML_DEMOTED)
        return result

    # --- what Kedro does to every run's pipeline --------------------------------------------

    def __add__(self, other: Any) -> Pipeline:
        if not isinstance(other, Pipeline):
            return NotImplemented
        if not other.nodes:  # `Pipeline([]) + pml` in KedroSession.run
            return self
        if isinstance(other, PipelineML) and other is not self:
            logger.warning(
                "Two PipelineML combined: only the model of the left one ('%s' -> %s) is logged.",
                self._input_name,
                self.output_name,
            )
        return self._with_nodes([*self.nodes, *other.nodes])

    def __radd__(self, other: Any) -> Pipeline:
        if isinstance(other, int) and other == 0:  # sum() without a start value
            return self
        if not isinstance(other, Pipeline):
            return NotImplemented
        if not other.nodes:
            return self
        return self._with_nodes([*other.nodes, *self.nodes])

    # Each filter runs on the plain training pipeline (Kedro's own filter calls the methods
    # below on intermediate subsets, which must not be validated or warned about).
    def filter(self, *args: Any, **kwargs: Any) -> Pipeline:
        return self._narrowed(self.training.filter(*args, **kwargs))

    def from_inputs(self, *inputs: str) -> Pipeline:
        return self._narrowed(self.training.from_inputs(*inputs))

    def to_outputs(self, *outputs: str) -> Pipeline:
        return self._narrowed(self.training.to_outputs(*outputs))

    def from_nodes(self, *node_names: str) -> Pipeline:
        return self._narrowed(self.training.from_nodes(*node_names))

    def to_nodes(self, *node_names: str) -> Pipeline:
        return self._narrowed(self.training.to_nodes(*node_names))

    def only_nodes_with_tags(self, *tags: str) -> Pipeline:
        return self._narrowed(self.training.only_nodes_with_tags(*tags))

    def tag(self, tags: Any) -> Pipeline:
        return self._with_nodes(self.training.tag(tags).nodes)

    def __and__(self, other: Any) -> Pipeline:
        if not isinstance(other, Pipeline):
            return NotImplemented
        return self._narrowed(self.training & other)

    # kedro-mlflow's list of operations that return a plain Pipeline, with its warning
    def only_nodes(self, *node_names: str) -> Pipeline:
        return self._demoted(self.training.only_nodes(*node_names))

    def only_nodes_with_namespaces(self, node_namespaces: Any) -> Pipeline:
        return self._demoted(self.training.only_nodes_with_namespaces(node_namespaces))

    def only_nodes_with_inputs(self, *inputs: str) -> Pipeline:
        return self._demoted(self.training.only_nodes_with_inputs(*inputs))

    def only_nodes_with_outputs(self, *outputs: str) -> Pipeline:
        return self._demoted(self.training.only_nodes_with_outputs(*outputs))

    def __sub__(self, other: Any) -> Pipeline:
        if not isinstance(other, Pipeline):
            return NotImplemented
        return self._demoted(self.training - other)

    def __or__(self, other: Any) -> Pipeline:
        if not isinstance(other, Pipeline):
            return NotImplemented
        return self._demoted(self.training | other)


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


def _check_consistency(training: Pipeline, inference: Pipeline, input_name: str) -> None:
    """The inference pipeline can be served on its own: one output, `input_name` among its
    inputs, every other input produced or read by training (or a parameter)."""
    outputs = sorted(inference.outputs())
    if len(outputs) != 1:
        raise PipelineMLError(
            f"The inference pipeline must have exactly one output (what the model returns); "
            f"it has {len(outputs)}: {', '.join(outputs) or 'none'}."
        )
    inputs = sorted(inference.inputs())
    if input_name not in inputs:
        raise PipelineMLError(
            f"input_name='{input_name}' is not an input of the inference pipeline; its "
            f"inputs are: {', '.join(inputs)}."
        )
    known = training.all_outputs() | training.inputs()
    free = [
        name
        for name in inputs
        if name != input_name and not is_parameter(name) and name not in known
    ]
    if free:
        them = "them" if len(free) > 1 else "it"
        raise PipelineMLError(
            f"The inference pipeline reads {', '.join(free)}, which the training pipeline "
            f"neither produces nor reads: the model would have no way to get {them}. "
            f"Produce {them} in training, or pass {them} as input_name."
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
