"""The example's inference pipeline, logged by a training run, used as MLflow users do:
loaded where the project is not installed, served over HTTP, re-logged with modelify."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from tests.conftest import free_port, generate, kedro, recorded_runs, stop, wait_for_http

pytestmark = pytest.mark.e2e
PACKAGE = "kedro_mlflow_project"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, str]:
    project = generate(tmp_path_factory.mktemp("pipeline-model") / "project")
    result = kedro(project, "run", "--pipelines", "training")
    assert result.returncode == 0, result.stdout + result.stderr
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    [run] = recorded_runs(project / "mlflow.db")
    [model] = client.search_logged_models(
        [run.info.experiment_id], filter_string="name = 'inference_model'"
    )
    assert model.source_run_id == run.info.run_id
    assert run.info.status == "FINISHED"
    return project, f"models:/{model.model_id}"


def rows(project: Path, n: int = 5) -> pd.DataFrame:
    data = pd.read_csv(project / "data/01_raw/breast_cancer.csv")
    return data.drop(columns=["malignant"]).iloc[[0, 1, 3, 19, 40][:n]]


LOAD_AND_PREDICT = """
import io, json, sys
import mlflow, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
rows = pd.read_json(io.StringIO(sys.argv[2]), orient="split")
out = {"default": model.predict(rows).to_dict(orient="list"),
       "strict": model.predict(rows, params={"threshold": 0.99}).to_dict(orient="list"),
       "package_file": sys.modules["kedro_mlflow_project"].__file__,
       "runtime_file": sys.modules["kedro_mlflow_runtime"].__file__}
print(json.dumps(out))
"""


def load_and_predict_elsewhere(project: Path, uri: str, where: Path) -> dict:
    """A fresh interpreter, in a folder outside the project, without the project on its path."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{project / 'mlflow.db'}"
    result = subprocess.run(
        [sys.executable, "-c", LOAD_AND_PREDICT, uri, rows(project).to_json(orient="split")],
        cwd=where, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_model_loads_and_predicts_where_the_project_is_not(trained, tmp_path):
    project, uri = trained
    out = load_and_predict_elsewhere(project, uri, tmp_path)
    # the project's code and the runtime came from the model itself, not from the project
    assert "/artifacts/code/kedro_mlflow_project/" in out["package_file"]
    assert "/artifacts/code/kedro_mlflow_runtime/" in out["runtime_file"]
    assert not out["package_file"].startswith(str(project / "src"))
    probabilities = out["default"]["malignant_probability"]
    assert len(probabilities) == 5 and all(0 <= p <= 1 for p in probabilities)
    # a predict-time param changes the output: the decision threshold
    assert out["default"]["malignant_probability"] == out["strict"]["malignant_probability"]
    assert sum(out["strict"]["malignant"]) < sum(out["default"]["malignant"])


def test_the_model_carries_its_code_spec_and_requirements(trained):
    project, uri = trained
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    model = client.get_logged_model(uri.removeprefix("models:/"))
    root = Path(model.artifact_location.removeprefix("file://"))
    assert (root / "code" / PACKAGE / "pipelines" / "inference" / "nodes.py").exists()
    assert (root / "code" / "kedro_mlflow_runtime" / "model" / "pipeline_model.py").exists()
    requirements = (root / "requirements.txt").read_text().split()
    names = {line.split("==")[0] for line in requirements}
    assert {"mlflow-skinny", "kedro", "scikit-learn", "pandas", "cloudpickle"} <= names
    assert "mlflow" not in names  # the UI and server: not needed to load, predict or serve
    assert "kedro-mlflow-runtime" not in names  # it travels as code
    mlmodel = (root / "MLmodel").read_text()
    assert "python_model.pkl" not in mlmodel  # models from code: nothing cloudpickled but artifacts
    spec = yaml.safe_load((root / "artifacts" / "kedro_pipeline.yml").read_text())
    assert spec["nodes"] == [
        {
            "name": "predict",
            "func": f"{PACKAGE}.pipelines.inference.nodes:predict",
            "inputs": ["classifier", "x_test", "params:threshold"],
            "outputs": "predictions",
        }
    ]
    assert spec["parameters"] == {"params:threshold": 0.5}


def test_mlflow_models_serve_answers_like_the_loaded_model(trained, tmp_path):
    project, uri = trained
    expected = load_and_predict_elsewhere(project, uri, tmp_path)
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", uri, "--env-manager", "local",
         "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", server)

        def invoke(payload: dict) -> dict:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/invocations",
                data=json.dumps(payload).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                predictions = json.load(response)["predictions"]
            return pd.DataFrame(predictions).to_dict(orient="list")

        split = json.loads(rows(project).to_json(orient="split"))
        del split["index"]
        served = invoke({"dataframe_split": split})
        assert served["malignant"] == expected["default"]["malignant"]
        assert served["malignant_probability"] == pytest.approx(
            expected["default"]["malignant_probability"]
        )
        strict = invoke({"dataframe_split": split, "params": {"threshold": 0.99}})
        assert strict["malignant"] == expected["strict"]["malignant"]
    finally:
        stop(server)


def test_modelify_logs_a_registered_pipeline_in_a_new_run(trained, tmp_path):
    project, _ = trained
    result = kedro(
        project, "mlflow", "modelify", "--pipeline", "inference", "--input-name", "x_test",
        "--model-name", "scorer",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    run = recorded_runs(project / "mlflow.db")[-1]
    assert (run.info.run_name, run.info.status) == ("modelify-inference", "FINISHED")
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    [model] = client.search_logged_models(
        [run.info.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'"
    )
    assert model.name == "scorer"
    out = load_and_predict_elsewhere(project, f"models:/{model.model_id}", tmp_path)
    assert len(out["default"]["malignant"]) == 5


def test_modelify_explains_a_wrong_input_name(trained):
    project, _ = trained
    result = kedro(project, "mlflow", "modelify", "--pipeline", "inference", "--input-name", "rows")
    assert result.returncode != 0
    assert "'rows' is not an input of pipeline 'inference'" in result.stdout + result.stderr
