"""PipelineML and pipeline_ml_factory: consistency checks, and surviving what Kedro does to
every run's pipeline (`+`, `sum`, `filter`)."""

import pytest
from kedro.pipeline import Node, Pipeline

from kedro_mlflow_runtime import PipelineML, PipelineMLError, pipeline_ml_factory
from kedro_mlflow_runtime.errors import KedroMlflowPipelineMLError


def fit(data, alpha):
    return {"alpha": alpha, "n": len(data)}


def clean(data):
    return data


def predict(model, instances, threshold):
    return [model["alpha"] * x > threshold for x in instances]


def report(model):
    return str(model)


TRAINING = Pipeline(
    [
        Node(clean, "raw", "cleaned", name="clean"),
        Node(fit, ["cleaned", "params:alpha"], "model", name="fit"),
        Node(report, "model", "report", name="report"),
    ]
)
INFERENCE = Pipeline(
    [Node(predict, ["model", "instances", "params:threshold"], "scores", name="predict")]
)


def make(**kwargs):
    return pipeline_ml_factory(
        training=kwargs.pop("training", TRAINING),
        inference=kwargs.pop("inference", INFERENCE),
        input_name=kwargs.pop("input_name", "instances"),
        **kwargs,
    )


def test_factory_builds_a_pipeline_of_the_training_nodes():
    pipeline = make()
    assert isinstance(pipeline, PipelineML)
    assert set(pipeline.nodes) == set(TRAINING.nodes)
    assert pipeline.output_name == "scores"
    assert pipeline.log_model_kwargs == {"signature": "auto", "name": "model"}


def test_inference_must_have_exactly_one_output():
    two = Pipeline([*INFERENCE.nodes, Node(report, "model", "extra", name="extra")])
    with pytest.raises(PipelineMLError, match="exactly one output.*it has 2: extra, scores"):
        make(inference=two)


def test_input_name_must_be_an_inference_input():
    with pytest.raises(
        PipelineMLError, match="input_name='rows' is not an input.*instances, model"
    ):
        make(input_name="rows")


def test_inference_inputs_must_come_from_training():
    needs_vocab = Pipeline([Node(predict, ["vocab", "instances", "params:threshold"], "scores")])
    with pytest.raises(PipelineMLError, match="reads vocab, which the training pipeline neither"):
        make(inference=needs_vocab)
    # a training input is fine (e.g. a lookup file both pipelines read)
    reads_raw = Pipeline([Node(predict, ["raw", "instances", "params:threshold"], "scores")])
    assert isinstance(make(inference=reads_raw), PipelineML)


def test_log_model_kwargs_artifact_path_is_mlflow_2_for_name():
    assert make(log_model_kwargs={"artifact_path": "m"}).log_model_kwargs["name"] == "m"
    with pytest.raises(PipelineMLError, match="give 'name' only"):
        make(log_model_kwargs={"artifact_path": "m", "name": "n"})


def test_the_default_registry_sum_keeps_the_pipelineml():
    other = Pipeline([Node(clean, "other_raw", "other", name="other")])
    for order in ([other, make()], [make(), other], [make()]):
        combined = sum(order, start=Pipeline([]))
        assert isinstance(combined, PipelineML), order
        assert combined.input_name == "instances"
    assert {n.name for n in sum([other, make()], start=Pipeline([])).nodes} == {
        "clean",
        "fit",
        "report",
        "other",
    }


def test_kedro_session_combination_and_filtering_keep_it():
    combined = Pipeline([])
    combined += make()
    assert isinstance(combined, PipelineML)
    assert combined.filter() is combined
    kept = combined.filter(node_names=["fit", "report"])
    assert isinstance(kept, PipelineML)
    assert {n.name for n in kept.nodes} == {"fit", "report"}


def test_filtering_down_to_nodes_that_cannot_feed_inference_runs_them_plainly(runtime_logs):
    plain = make().filter(node_names=["clean"])
    assert type(plain) is Pipeline
    assert any("cannot log the inference model" in r.getMessage() for r in runtime_logs)


def test_input_name_is_checked_when_assigned():
    pipeline = make()
    with pytest.raises(KedroMlflowPipelineMLError, match="input_name='rows'.*instances, model"):
        pipeline.input_name = "rows"
    assert pipeline.input_name == "instances"  # unchanged by the refused assignment
    # `model` as the input would leave `instances` unfed: refused, naming it
    with pytest.raises(PipelineMLError, match="reads instances, which the training pipeline"):
        pipeline.input_name = "model"
    # valid once training produces `instances` too
    pipeline = make(training=TRAINING + Pipeline([Node(clean, "raw", "instances")]))
    pipeline.input_name = "model"
    assert pipeline.input_name == "model"


def test_inference_is_checked_when_assigned():
    pipeline = make()
    two = Pipeline([*INFERENCE.nodes, Node(report, "model", "extra", name="extra")])
    with pytest.raises(PipelineMLError, match="exactly one output"):
        pipeline.inference = two
    assert pipeline.inference is INFERENCE


def test_adding_an_empty_pipeline_changes_nothing():
    pipeline = make()
    assert pipeline + Pipeline([]) is pipeline
    assert Pipeline([]) + pipeline is pipeline
    assert sum([pipeline]) is pipeline  # Kedro's own registry template: no start value
    assert pipeline + Pipeline([]) == pipeline


def test_equality_is_by_content():
    assert make() == make()
    assert hash(make()) == hash(make())
    assert len({make(), make()}) == 1
    assert make() != make(log_model_kwargs={"name": "other"})
    assert make() != make(kpm_kwargs={"copy_mode": "deepcopy"})
    assert make() != Pipeline(TRAINING.nodes)
    reads_raw = Pipeline([Node(predict, ["raw", "instances", "params:threshold"], "scores")])
    assert make() != make(inference=reads_raw)


def test_adding_a_pipeline_keeps_the_model_of_the_training_pipeline():
    other = Pipeline([Node(clean, "other_raw", "other", name="other")])
    for combined in (make() + other, other + make(), sum([other, make()])):
        assert isinstance(combined, PipelineML)
        assert (combined.input_name, combined.output_name) == ("instances", "scores")
        assert {n.name for n in combined.nodes} == {"clean", "fit", "report", "other"}


def test_narrowing_filters_keep_a_pipelineml_that_still_feeds_inference():
    pipeline = make()
    selections = {
        "from_nodes": (pipeline.from_nodes("fit"), {"fit", "report"}),
        "to_nodes": (pipeline.to_nodes("fit"), {"clean", "fit"}),
        "from_inputs": (pipeline.from_inputs("cleaned"), {"fit", "report"}),
        "to_outputs": (pipeline.to_outputs("model"), {"clean", "fit"}),
        "&": (pipeline & Pipeline(TRAINING.only_nodes("clean", "fit").nodes), {"clean", "fit"}),
        "filter": (pipeline.filter(from_nodes=["fit"], to_nodes=["fit"]), {"fit"}),
    }
    for how, (selected, names) in selections.items():
        assert isinstance(selected, PipelineML), how
        assert {n.name for n in selected.nodes} == names, how
        assert selected.inference is INFERENCE
    tagged = make(training=TRAINING.tag("train")).only_nodes_with_tags("train")
    assert isinstance(tagged, PipelineML) and len(tagged.nodes) == 3
    retagged = pipeline.tag(["extra"])
    assert isinstance(retagged, PipelineML)
    assert all("extra" in n.tags for n in retagged.nodes)


def test_a_selection_that_cannot_feed_inference_runs_as_a_plain_pipeline(runtime_logs):
    for selected in (make().to_outputs("cleaned"), make().to_nodes("clean")):
        assert type(selected) is Pipeline
        assert [n.name for n in selected.nodes] == ["clean"]
    warnings = [
        r.getMessage() for r in runtime_logs if "cannot log the inference" in r.getMessage()
    ]
    assert len(warnings) == 2 and "reads model" in warnings[0]


def test_operations_kedro_mlflow_demotes_return_a_plain_pipeline_with_a_warning(runtime_logs):
    pipeline = make()
    fit_only = Pipeline(TRAINING.only_nodes("fit").nodes)
    results = [
        pipeline.only_nodes("fit", "clean"),
        pipeline.only_nodes_with_inputs("cleaned"),
        pipeline.only_nodes_with_outputs("model"),
        pipeline - fit_only,
        pipeline | fit_only,
    ]
    assert all(type(result) is Pipeline for result in results)
    assert {n.name for n in results[0].nodes} == {"fit", "clean"}
    assert {n.name for n in results[3].nodes} == {"clean", "report"}
    demoted = [r for r in runtime_logs if "no longer a 'PipelineML'" in r.getMessage()]
    assert len(demoted) == len(results)
