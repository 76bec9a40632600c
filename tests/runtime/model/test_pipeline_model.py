"""KedroPipelineModel: the compiled inference pipeline, in-process and through MLflow."""

import copy
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro.runner import ThreadRunner
from mlflow.models import infer_signature

from kedro_mlflow_runtime import KedroPipelineModel, KedroPipelineModelError, pipeline_ml_factory
from kedro_mlflow_runtime.model.log_model import log_pipeline_model, pip_requirements
from kedro_mlflow_runtime.model.spec import check_node_functions, compile_spec, pickled_functions


def scale(instances, factor):
    return [x * factor for x in instances]


def shift(scaled, model, offset):
    return [x + model["bias"] + offset for x in scaled]


def scale_column(instances, factor):
    return instances["x"] * factor


def shift_column(scaled, model, offset):
    return (scaled + model["bias"] + offset).tolist()


FRAME_INFERENCE = Pipeline(
    [
        Node(scale_column, ["instances", "params:factor"], "scaled", name="scale"),
        Node(shift_column, ["scaled", "model", "params:offset"], "out", name="shift"),
    ]
)


def split_pair(values):
    return values[:1], values[1:]


def join(first, rest):
    return {"all": first + rest}


def mutate(model, instances):
    model["bias"] += 1  # a node that changes its artifact in place
    return model["bias"]


INFERENCE = Pipeline(
    [
        Node(scale, ["instances", "params:factor"], "scaled", name="scale"),
        Node(shift, {"scaled": "scaled", "model": "model", "offset": "params:offset"}, "out"),
    ]
)
PARAMS = {"params:factor": 2, "params:offset": 0.5}


def built(pipeline=INFERENCE, artifacts=None, copy_mode="assign", params=PARAMS):
    """As kedro-mlflow users build one: from a pipeline and a catalog."""
    catalog = {**params, **(artifacts if artifacts is not None else {"model": {"bias": 10}})}
    catalog = DataCatalog({name: MemoryDataset(value) for name, value in catalog.items()})
    return KedroPipelineModel(pipeline, catalog, "instances", copy_mode=copy_mode)


def test_predict_runs_the_nodes_in_order():
    assert built().predict(None, [1, 2]) == [12.5, 14.5]


def test_predict_time_params_override_the_pipeline_parameters():
    model = built()
    assert model.predict(None, [1], params={"factor": 3, "offset": 0}) == [13]
    assert model.predict(None, [1]) == [12.5]  # not sticky
    with pytest.raises(KedroPipelineModelError, match="Unknown predict param 'alpha'"):
        model.predict(None, [1], params={"alpha": 1})


def test_list_and_dict_outputs_and_keyword_inputs():
    pipeline = Pipeline(
        [
            Node(split_pair, "instances", ["first", "rest"], name="split"),
            Node(join, {"first": "first", "rest": "rest"}, "joined", name="join"),
        ]
    )
    assert built(pipeline, artifacts={}, params={}).predict(None, [1, 2, 3]) == {"all": [1, 2, 3]}


def test_copy_mode_protects_artifacts_from_nodes_that_mutate_them():
    pipeline = Pipeline([Node(mutate, ["model", "instances"], "bias", name="mutate")])
    assign = built(pipeline, artifacts={"model": {"bias": 0}}, params={})
    assert [assign.predict(None, []) for _ in range(2)] == [1, 2]
    deep = built(pipeline, artifacts={"model": {"bias": 0}}, params={}, copy_mode="deepcopy")
    assert [deep.predict(None, []) for _ in range(2)] == [1, 1]


def offset_by(bias):
    def shift(scaled, model, offset):  # a closure: no import path
        return (scaled + model["bias"] + offset + bias).tolist()

    return shift


CLOSURE_INFERENCE = Pipeline(
    [
        Node(lambda rows, f: rows["x"] * f, ["instances", "params:factor"], "scaled", name="scale"),
        Node(offset_by(100), ["scaled", "model", "params:offset"], "out", name="shift"),
    ]
)


def test_lambdas_and_closures_are_stored_with_cloudpickle(runtime_logs):
    spec = compile_spec(CLOSURE_INFERENCE, "instances")
    assert [node["func"] for node in spec["nodes"]] == [
        {"cloudpickle": "__function_0__"},
        {"cloudpickle": "__function_1__"},
    ]
    notes = [r.getMessage() for r in runtime_logs if "cloudpickle" in r.getMessage()]
    assert len(notes) == 2 and "node 'scale'" in notes[0]
    functions = pickled_functions(CLOSURE_INFERENCE)
    model = KedroPipelineModel.from_spec(
        {**spec, "parameters": PARAMS}, {"model": {"bias": 10}}, functions
    )
    assert model.predict(None, pd.DataFrame({"x": [1, 2]})) == [112.5, 114.5]
    # importable functions stay referenced by path
    assert compile_spec(INFERENCE, "instances")["nodes"][0]["func"] == f"{__name__}:scale"


def test_a_function_cloudpickle_cannot_store_is_refused_before_training():
    lock = threading.Lock()

    def locked(instances):
        with lock:
            return instances

    with pytest.raises(KedroPipelineModelError, match="node 'locked'.*cloudpickle cannot store"):
        check_node_functions(Pipeline([Node(locked, "instances", "out", name="locked")]))
    check_node_functions(CLOSURE_INFERENCE)  # lambdas and closures are fine


LOAD_ELSEWHERE = """
import json, sys
import mlflow, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
rows = pd.DataFrame({"x": [1, 2]})
print(json.dumps([model.predict(rows), model.predict(rows, params={"offset": 1.5})]))
"""


def log_into_a_new_run(tmp_path, inference, log_model_kwargs):
    """`inference` logged by log_pipeline_model into a new run of a SQLite store in tmp_path
    (made MLflow's tracking URI), its artifacts and parameters from an in-memory catalog."""
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    experiment = client.create_experiment("m", artifact_location=(tmp_path / "art").as_uri())
    run_id = client.create_run(experiment).info.run_id
    catalog = DataCatalog(
        {
            "model": MemoryDataset({"bias": 10}),
            "instances": MemoryDataset(pd.DataFrame({"x": [1, 2]})),
            "params:factor": MemoryDataset(2),
            "params:offset": MemoryDataset(0.5),
        }
    )
    info = log_pipeline_model(
        inference,
        "instances",
        catalog,
        run_id=run_id,
        client=client,
        log_model_kwargs=log_model_kwargs,
    )
    return client, run_id, info


def test_closures_load_and_predict_in_a_fresh_interpreter(tmp_path):
    """Where neither the test module nor this checkout is importable: the model carries all."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _, _, info = log_into_a_new_run(tmp_path, CLOSURE_INFERENCE, {"name": "closures"})
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["MLFLOW_TRACKING_URI"] = uri
    result = subprocess.run(
        [sys.executable, "-c", LOAD_ELSEWHERE, info.model_uri],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [[112.5, 114.5], [113.5, 115.5]]


def test_spec_checks():
    with pytest.raises(KedroPipelineModelError, match="exactly one output"):
        compile_spec(Pipeline([Node(split_pair, "instances", ["a", "b"])]), "instances")
    with pytest.raises(KedroPipelineModelError, match="'rows' is not an input"):
        compile_spec(INFERENCE, "rows")


def test_the_spec_holds_no_kedro_objects():
    spec = compile_spec(INFERENCE, "instances")
    assert spec["nodes"][0]["func"] == f"{__name__}:scale"
    assert spec["artifacts"] == {"model": "model"}
    copy.deepcopy(spec)  # plain data
    assert "kedro" not in repr(spec).replace("kedro_mlflow_runtime", "")


def test_logged_through_mlflow_and_loaded_back(tmp_path):
    # signature "auto": input + params
    client, run_id, info = log_into_a_new_run(tmp_path, FRAME_INFERENCE, {"name": "pipeline"})
    model = client.get_logged_model(info.model_id)
    assert (model.name, model.source_run_id) == ("pipeline", run_id)
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    rows = pd.DataFrame({"x": [1, 2]})
    assert loaded.predict(rows) == [12.5, 14.5]
    assert loaded.predict(rows, params={"offset": 1.5}) == [13.5, 15.5]
    assert loaded.metadata.signature.params.to_dict() == [
        {"name": "factor", "type": "long", "default": 2, "shape": None},
        {"name": "offset", "type": "double", "default": 0.5, "shape": None},
        {"name": "runner", "type": "string", "default": "SequentialRunner", "shape": None},
    ]
    assert loaded.predict(rows, params={"runner": "ThreadRunner"}) == [12.5, 14.5]
    assert isinstance(loaded.unwrap_python_model(), KedroPipelineModel)


def test_requirements_are_pinned_and_exclude_code_that_travels_with_the_model():
    import sklearn
    from sklearn.linear_model import LinearRegression

    requirements = pip_requirements(INFERENCE, [LinearRegression()])
    assert f"scikit-learn=={sklearn.__version__}" in requirements
    # MLflow's client loads and serves it: the full mlflow (UI, server) is not asked for, even
    # where it is installed (this suite's venv has it)
    assert f"mlflow-skinny=={mlflow.__version__}" in requirements
    assert not any(r.startswith(("mlflow==", "mlflow-tracing")) for r in requirements)
    assert any(r.startswith("kedro==") for r in requirements)
    assert not any(r.startswith("kedro-mlflow-runtime") for r in requirements)


RUNTIME = Path(__file__).parents[3] / "runtime"  # this checkout's kedro_mlflow_runtime

LOGGED_BY_HAND = """
import json, sys
import mlflow, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
rows = pd.DataFrame({"x": [1, 2]})
out = [model.predict(rows), model.predict(rows, params={"runner": "ThreadRunner", "offset": 1.5})]
try:
    model.predict(rows, params={"runner": "NoSuchRunner"})
except Exception as error:
    out.append(str(error))
print(json.dumps(out))
"""


def test_logged_by_hand_as_kedro_mlflow_documents(tmp_path):
    """KedroPipelineModel(pipeline, catalog, input_name) + extract_pipeline_artifacts() +
    mlflow.pyfunc.log_model(python_model=kpm, artifacts=artifacts): kedro-mlflow's pattern."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment_id=mlflow.create_experiment("m", (tmp_path / "a").as_uri()))
    catalog = DataCatalog(
        {
            "model": MemoryDataset({"bias": 10}),
            "params:factor": MemoryDataset(2),
            "params:offset": MemoryDataset(0.5),
        }
    )
    kpm = KedroPipelineModel(
        pipeline=CLOSURE_INFERENCE,
        catalog=catalog,
        input_name="instances",
        runner=ThreadRunner(),
        copy_mode="deepcopy",
    )
    artifacts = kpm.extract_pipeline_artifacts(tmp_path / "extracted")
    assert set(artifacts) == {"model", "__function_0__", "__function_1__", "__kedro_pipeline__"}
    assert all(Path(path).parent == tmp_path / "extracted" for path in artifacts.values())
    signature = infer_signature(
        pd.DataFrame({"x": [1]}), params={"offset": 0.5, "runner": "SequentialRunner"}
    )
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=kpm,
            artifacts=artifacts,
            signature=signature,
            pip_requirements=["mlflow", "kedro"],
        )
    # what MLflow pickled is the spec: no Kedro pipeline, catalog or runner
    pickled = Path(mlflow.artifacts.download_artifacts(info.model_uri), "python_model.pkl")
    assert b"kedro.pipeline" not in pickled.read_bytes()
    assert b"kedro.io" not in pickled.read_bytes()
    assert b"kedro.runner" not in pickled.read_bytes()
    # a fresh interpreter with the runtime but not the test module (the lambdas travel)
    env = {**os.environ, "PYTHONPATH": str(RUNTIME), "MLFLOW_TRACKING_URI": uri}
    result = subprocess.run(
        [sys.executable, "-c", LOGGED_BY_HAND, info.model_uri],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    default, other_runner, refused = json.loads(result.stdout.strip().splitlines()[-1])
    assert default == [112.5, 114.5]
    assert other_runner == [113.5, 115.5]
    assert "'NoSuchRunner' is not a Kedro runner" in refused


def fit_bias():
    return {"bias": 10}


def test_a_pipelineml_gives_its_inference_pipeline():
    training = Pipeline([Node(fit_bias, None, "model", name="fit")])
    pml = pipeline_ml_factory(training, INFERENCE, input_name="instances")
    catalog = DataCatalog(
        {"model": MemoryDataset({"bias": 10}), **{k: MemoryDataset(v) for k, v in PARAMS.items()}}
    )
    kpm = KedroPipelineModel(pipeline=pml, catalog=catalog, input_name="instances")
    assert (kpm.input_name, kpm.output_name) == ("instances", "out")
    assert kpm.predict(None, [1, 2]) == [12.5, 14.5]


def test_the_constructor_checks_what_kedro_mlflow_checks():
    catalog = DataCatalog({"model": MemoryDataset({"bias": 10})})
    with pytest.raises(KedroPipelineModelError, match="no entry for params:factor, params:offset"):
        KedroPipelineModel(INFERENCE, catalog, "instances")
    with pytest.raises(KedroPipelineModelError, match="exactly one output"):
        KedroPipelineModel(
            Pipeline([Node(split_pair, "instances", ["a", "b"])]), catalog, "instances"
        )
    with pytest.raises(KedroPipelineModelError, match="'copy_mode' must be a 'str' or a 'dict'"):
        built(copy_mode=1)
    assert built(copy_mode={"model": "deepcopy"}).predict(None, [1]) == [12.5]


def test_the_runner_param_must_name_a_kedro_runner():
    model = built()
    for runner in ("SequentialRunner", "ParallelRunner", "kedro.runner.ThreadRunner"):
        assert model.predict(None, [1], params={"runner": runner}) == [12.5]
    for runner in ("NoSuchRunner", "collections.OrderedDict", "no.such.Runner", 3):
        with pytest.raises(KedroPipelineModelError, match="is not a Kedro runner"):
            model.predict(None, [1], params={"runner": runner})


def test_extracting_artifacts_needs_a_pipeline_and_a_catalog():
    with pytest.raises(KedroPipelineModelError, match="no entry for model, params:factor"):
        KedroPipelineModel(pipeline=INFERENCE, catalog=None, input_name="instances")
    with pytest.raises(KedroPipelineModelError, match="needs the KedroPipelineModel built from"):
        KedroPipelineModel().extract_pipeline_artifacts()
