"""PipelineML and pipeline_ml_factory: consistency checks, and surviving what Kedro does to
every run's pipeline (`+`, `sum`, `filter`)."""

import pytest
from kedro.pipeline import Node, Pipeline

from kedro_mlflow_runtime import PipelineML, PipelineMLError, pipeline_ml_factory


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
