"""The example's inference pipeline, logged by a training run, used as MLflow users do:
loaded where the project is not installed, served over HTTP, scored on Spark, re-logged with
modelify."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from tests.conftest import free_port, generate, kedro, recorded_runs, stop, wait_for_http
from tests.servers import scoring_server_predictions

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
            predictions = scoring_server_predictions(port, payload)
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


# Spark runs on Java, the one test dependency pip cannot install (.ci/run installs Debian's).
needs_java = pytest.mark.skipif(
    shutil.which("java") is None,
    reason="Spark needs Java 17+ and `java` is not on PATH: install one (Debian: "
    "apt-get install openjdk-17-jre-headless; .ci/run does it when run as root)",
)
MODEL_NAME, ALIAS = "breast_cancer_classifier", "champion"


def spark_env() -> dict[str, str]:
    """Spark's Python workers run this interpreter (the first python3 on PATH may lack pandas);
    its JVM binds to the loopback interface only. No PYTHONPATH: the project is not importable."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    return env


@pytest.fixture(scope="module")
def champion(trained) -> str:
    """The logged model registered as MODEL_NAME, its version aliased ALIAS: its models:/ URI."""
    project, uri = trained
    store = f"sqlite:///{project / 'mlflow.db'}"
    # both, explicitly: MLflow's process-wide registry URI may be left from another test
    mlflow.set_tracking_uri(store)
    mlflow.set_registry_uri(store)
    try:
        version = mlflow.register_model(uri, MODEL_NAME)
        MlflowClient().set_registered_model_alias(MODEL_NAME, ALIAS, version.version)
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    return f"models:/{MODEL_NAME}@{ALIAS}"


SPARK_UDF_AND_PREDICT = """
import importlib.util, json, sys
import mlflow, pandas as pd
from pyspark.sql import SparkSession

model_uri, rows_file, out = sys.argv[1:]
rows = pd.read_parquet(rows_file)
spark = (SparkSession.builder.master("local[2]").config("spark.driver.memory", "1g")
         .config("spark.ui.enabled", "false").getOrCreate())
spark.sparkContext.setLogLevel("WARN")
try:
    # can Spark's workers import the project? (if not, what scores comes from the model)
    importable = spark.sparkContext.parallelize(range(2), 2).map(
        lambda _: importlib.util.find_spec("kedro_mlflow_project") is not None).collect()
    frame = spark.createDataFrame(rows)
    predict = mlflow.pyfunc.spark_udf(
        spark, model_uri, result_type="malignant_probability double, malignant long",
        env_manager="local")
    frame.select(predict().alias("p")).select("p.*").toPandas().to_parquet(f"{out}/spark.parquet")
    facts = {"project_importable_in_workers": importable,
             "parallelism": spark.sparkContext.defaultParallelism,
             "partitions": frame.rdd.getNumPartitions()}
finally:
    spark.stop()
mlflow.pyfunc.load_model(model_uri).predict(rows).to_parquet(f"{out}/pyfunc.parquet")
print(json.dumps(facts))
"""


@needs_java
def test_spark_udf_scores_exactly_like_the_loaded_model(trained, champion, tmp_path):
    project, _ = trained
    # 10,000 rows like the example's input: its rows drawn again, each feature scaled by up to
    # ±10 % so that (almost) no two rows are the same
    data = pd.read_csv(project / "data/01_raw/breast_cancer.csv").drop(columns=["malignant"])
    inputs = data.sample(10_000, replace=True, random_state=0, ignore_index=True)
    inputs *= np.random.default_rng(0).uniform(0.9, 1.1, size=inputs.shape)
    inputs.to_parquet(tmp_path / "rows.parquet")
    # a fresh interpreter (its JVM ends with it), outside the project, without it on its path
    env = {**spark_env(), "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}"}
    result = subprocess.run(
        [sys.executable, "-c", SPARK_UDF_AND_PREDICT, champion, str(tmp_path / "rows.parquet"),
         str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    assert facts == {
        "project_importable_in_workers": [False, False],  # the model brought its code
        "parallelism": 2,  # two executor threads, each with its Python worker
        "partitions": 2,
    }
    on_spark = pd.read_parquet(tmp_path / "spark.parquet")
    loaded = pd.read_parquet(tmp_path / "pyfunc.parquet")
    assert len(on_spark) == 10_000
    assert set(on_spark["malignant"]) == {0, 1}
    pd.testing.assert_frame_equal(on_spark, loaded, check_exact=True)


def recipe_files(docs: Path, heading: str) -> dict[str, tuple[str, bool]]:
    """The files a docs section shows: each code block whose first line is `# <path>` is that
    file, whole, or what to add at its end (`# <path>: add at the end`)."""
    text = docs.read_text(encoding="utf-8")
    section = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert section, f"{docs} has no '## {heading}' section"
    files = {}
    for block in re.findall(r"^```(?:python|yaml)\n(.*?)^```", section.group(1), re.M | re.S):
        named = re.match(r"# (\S+)(: add at the end)?\n", block)
        if named:
            files[named.group(1)] = (block, bool(named.group(2)))
    return files


@needs_java
def test_the_docs_spark_scoring_node_scores_a_spark_dataset(trained, champion, tmp_path):
    """The recipe of the project's docs/kedro-mlflow-starter.md, applied as written to a copy of
    the trained project, scores a spark.SparkDatasetV2 with the registered model in `kedro run`."""
    project = shutil.copytree(trained[0], tmp_path / "project")
    files = recipe_files(project / "docs/kedro-mlflow-starter.md", "Scoring on Spark")
    assert len(files) == 7, sorted(files)  # spark.yml, hooks, settings, 2 pipeline, 2 conf
    for name, (text, add_at_the_end) in files.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{path.read_text()}\n{text}" if add_at_the_end else text)
    scoring = rows(project).reset_index(names="row_id")  # a column the model does not read
    (project / "data/05_model_input").mkdir(parents=True, exist_ok=True)
    scoring.to_parquet(project / "data/05_model_input/rows_to_score.parquet")

    # the docs' hook points Spark's workers at this interpreter
    result = kedro(project, "run", "--pipelines", "spark_scoring", SPARK_LOCAL_IP="127.0.0.1")
    assert result.returncode == 0, result.stdout + result.stderr

    run = recorded_runs(project / "mlflow.db")[-1]
    assert (run.info.run_name, run.info.status) == ("spark_scoring", "FINISHED")
    assert run.data.params["scoring_model_uri"] == champion
    scored = pd.read_parquet(project / "data/07_model_output/scored_rows.parquet")
    scored = scored.sort_values("row_id", ignore_index=True)
    assert list(scored.columns) == [*scoring.columns, "malignant_probability", "malignant"]
    expected = load_and_predict_elsewhere(project, champion, tmp_path)["default"]
    assert scored["malignant"].tolist() == expected["malignant"]
    assert scored["malignant_probability"].tolist() == pytest.approx(
        expected["malignant_probability"]
    )


def test_modelify_logs_a_registered_pipeline_in_a_new_run(trained, tmp_path):
    project, _ = trained
    result = kedro(
        project, "mlflow", "modelify", "--pipeline", "inference", "--input-name", "x_test",
        "--model-name", "scorer", COLUMNS="1000",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    run = recorded_runs(project / "mlflow.db")[-1]
    assert (run.info.run_name, run.info.status) == ("modelify-inference", "FINISHED")
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    [model] = client.search_logged_models(
        [run.info.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'"
    )
    assert model.name == "scorer"
    # it says what it logged and where
    assert f"as model 'scorer': models:/{model.model_id}" in result.stdout
    assert f"run:        {run.info.run_id} (experiment 'kedro_mlflow_project')" in result.stdout
    out = load_and_predict_elsewhere(project, f"models:/{model.model_id}", tmp_path)
    assert len(out["default"]["malignant"]) == 5


def test_modelify_explains_a_wrong_input_name(trained):
    project, _ = trained
    result = kedro(project, "mlflow", "modelify", "--pipeline", "inference", "--input-name", "rows")
    assert result.returncode != 0
    assert "'rows' is not an input of pipeline 'inference'" in result.stdout + result.stderr
