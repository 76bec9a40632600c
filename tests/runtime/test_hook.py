"""MlflowHook in real Kedro sessions against a real SQLite tracking store."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from kedro_mlflow_runtime import MlflowConfigError, __version__
from kedro_mlflow_runtime.errors import LongParamError
from tests.conftest import kedro, recorded_runs


def only_run(project):
    runs = recorded_runs(project.db)
    assert len(runs) == 1, [r.info.run_id for r in runs]
    return runs[0]


def test_a_kedro_run_is_one_finished_mlflow_run_with_params_and_tags(
    project, tmp_path, monkeypatch
):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the store is the project's, whatever the working directory
    project.run()

    run = only_run(project)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "__default__"
    # exactly the parameters the nodes read, logged once
    assert run.data.params == {"factor": "2", "model": "{'offset': 1, 'tree': {'depth': 3}}"}
    tags = run.data.tags
    assert tags["pipeline_names"] == "['__default__']"
    assert tags["env"] == "local"
    assert tags["runner"] == "SequentialRunner"
    assert tags["kedro_command"] == "kedro run"
    assert tags["kedro_version"]
    assert tags["kedro_mlflow_runtime_version"] == __version__
    assert tags["project_path"] == str(project.path)
    assert "mlflow.source.git.commit" not in tags  # not a git repository
    experiment = MlflowClient(f"sqlite:///{project.db}").get_experiment(run.info.experiment_id)
    assert experiment.name == project.package  # kedro-mlflow's default: the package name
    # artifacts live next to the database, not in the working directory
    assert run.info.artifact_uri.startswith((project.path / "mlruns").as_uri())
    assert not (elsewhere / "mlruns").exists()
    assert not (elsewhere / "mlflow.db").exists()
    assert json.loads((project.path / "data/result.json").read_text()) == 13
    assert mlflow.active_run() is None
    # MLflow's defaults name the project, as once the context was created; nothing of the run
    assert os.environ["MLFLOW_TRACKING_URI"] == f"sqlite:///{project.db}"
    assert "MLFLOW_EXPERIMENT_ID" not in os.environ
    assert "KEDRO_MLFLOW_RUNTIME_NOT_LOGGED" not in os.environ
    assert not (project.path / "mlflow-not-logged").exists()  # nothing was left not logged


def test_runtime_params_env_runner_and_pipeline_are_recorded(project):
    from kedro.runner import ThreadRunner

    project.write("conf/staging/.gitkeep", "")
    with project.session(env="staging", runtime_params={"factor": 5}) as session:
        session.run(pipeline_names=["__default__"], runner=ThreadRunner())
    run = only_run(project)
    assert run.data.params["factor"] == "5"
    assert run.data.tags["env"] == "staging"
    assert run.data.tags["runner"] == "ThreadRunner"
    assert run.data.tags["kedro_command"] == (
        "kedro run --pipelines=__default__ --env=staging --runner=ThreadRunner --params=factor=5"
    )


def test_the_whole_parameters_dict_and_flattening(project):
    project.mlflow_yml(
        """
        tracking:
          params:
            dict_params: {flatten: true, sep: "/"}
        """
    )
    project.run("everything")
    params = only_run(project).data.params
    assert params["parameters/model/tree/depth"] == "3"
    assert params["parameters/unused"] == "5"


def test_a_failing_node_leaves_a_failed_run_and_keeps_earlier_outputs(project):
    with pytest.raises(ValueError, match="boom"):
        project.run("failing")
    run = only_run(project)
    assert run.info.status == "FAILED"
    assert run.data.tags["error_type"] == "ValueError"
    assert "boom" in run.data.tags["error_message"]
    assert run.data.params == {"factor": "2", "fail": "True"}
    assert json.loads((project.path / "data/scaled.json").read_text()) == [2, 4, 6]
    assert mlflow.active_run() is None


def test_invalid_mlflow_yml_stops_before_any_node(project):
    project.mlflow_yml("tracking:\n  experiment:\n    nmae: typo\n")
    with pytest.raises(MlflowConfigError) as raised:
        project.run()
    assert "conf/base/mlflow.yml: tracking.experiment.nmae: unknown key" in str(raised.value)
    assert not (project.path / "data/result.json").exists()
    assert not project.db.exists()


def test_local_env_overrides_one_key_without_wiping_its_section(project):
    project.mlflow_yml(
        """
        tracking:
          experiment: {name: base-experiment}
          run: {name: from-base}
        """
    )
    project.mlflow_yml("tracking:\n  run:\n    name: from-local\n", env="local")
    project.run()
    run = only_run(project)
    assert run.info.run_name == "from-local"
    experiment = MlflowClient(f"sqlite:///{project.db}").get_experiment(run.info.experiment_id)
    assert experiment.name == "base-experiment"


def test_creating_the_context_touches_no_store(project):
    with project.session() as session:
        context = session.load_context()
        assert context.mlflow.tracking_uri == f"sqlite:///{project.db}"
    assert not project.db.exists()


def test_disabled_pipelines_are_not_tracked(project):
    project.mlflow_yml("tracking:\n  disable_tracking:\n    pipelines: [__default__]\n")
    project.run()
    assert json.loads((project.path / "data/result.json").read_text()) == 13
    assert not project.db.exists()


def test_run_id_resumes_an_existing_run(project):
    client = MlflowClient(f"sqlite:///{project.db}")
    experiment_id = client.create_experiment("orchestrated")
    run_id = client.create_run(experiment_id, run_name="outer").info.run_id
    client.set_terminated(run_id, "FINISHED")
    project.mlflow_yml(f"tracking:\n  run:\n    id: {run_id}\n")
    project.run()
    run = only_run(project)
    assert run.info.run_id == run_id
    assert run.info.status == "FINISHED"
    assert run.data.params["factor"] == "2"


def test_an_unknown_run_id_is_a_clear_error(project):
    project.mlflow_yml("tracking:\n  run:\n    id: 0123456789abcdef0123456789abcdef\n")
    with pytest.raises(MlflowConfigError, match="tracking.run.id .*cannot be resumed"):
        project.run()


def test_an_already_active_run_is_used_and_left_open(project):
    mlflow.set_tracking_uri(f"sqlite:///{project.db}")
    with mlflow.start_run(run_name="notebook") as outer:
        project.run()
        assert mlflow.active_run().info.run_id == outer.info.run_id
        assert MlflowClient().get_run(outer.info.run_id).info.status == "RUNNING"
    run = only_run(project)
    assert run.info.run_id == outer.info.run_id
    assert run.data.params["factor"] == "2"


def test_a_deleted_experiment_is_restored_or_reported(project):
    client = MlflowClient(f"sqlite:///{project.db}")
    client.delete_experiment(client.create_experiment("gone"))
    project.mlflow_yml("tracking:\n  experiment:\n    name: gone\n    restore_if_deleted: false\n")
    with pytest.raises(MlflowConfigError, match="experiment 'gone' is deleted"):
        project.run()
    assert recorded_runs(project.db) == []

    project.mlflow_yml("tracking:\n  experiment:\n    name: gone\n")
    project.run()
    assert client.get_experiment_by_name("gone").lifecycle_stage == "active"
    assert len(recorded_runs(project.db)) == 1


def test_long_params_fail_before_the_run_is_created(project):
    project.write("conf/base/parameters.yml", f"factor: 2\nmodel: {{offset: '{'x' * 7000}'}}\n")
    with pytest.raises(LongParamError, match="'model'"):
        project.run()
    assert not project.db.exists()  # checked before anything was created


def test_long_params_as_tags(project):
    project.write(
        "conf/base/parameters.yml", f"factor: 2\nmodel: {{offset: 1, x: '{'x' * 7000}'}}\n"
    )
    project.mlflow_yml("tracking:\n  params:\n    long_params_strategy: tag\n")
    project.run()
    run = only_run(project)
    assert "model" not in run.data.params
    assert run.data.tags["model"].startswith("{'offset': 1")


def test_credentials_are_exported_for_mlflow_and_never_logged(project, monkeypatch):
    monkeypatch.delenv("KMR_TEST_SECRET", raising=False)
    project.write("conf/local/credentials.yml", "mlflow_creds:\n  KMR_TEST_SECRET: s3cr3t-value\n")
    project.mlflow_yml("server:\n  credentials: mlflow_creds\n")
    project.run()
    assert os.environ["KMR_TEST_SECRET"] == "s3cr3t-value"
    run = only_run(project)
    recorded = [*run.data.params.values(), *run.data.tags.values()]
    assert not any("s3cr3t" in value for value in recorded)


def test_missing_credentials_key_is_reported(project):
    project.mlflow_yml("server:\n  credentials: nope\n")
    with pytest.raises(MlflowConfigError, match="'nope' is not a key of credentials.yml"):
        project.run()


def test_two_sessions_in_one_process_each_get_one_run(project):
    project.run()
    project.run()
    runs = recorded_runs(project.db)
    assert [r.info.status for r in runs] == ["FINISHED", "FINISHED"]


def test_hook_without_context_explains_registration():
    from kedro_mlflow_runtime import MlflowHook

    with pytest.raises(RuntimeError, match="settings.py"):
        MlflowHook().before_pipeline_run({}, None, None)


def running_runs(db_file) -> int:
    """RUNNING runs, read with plain sqlite3: an MLflow client would race the subprocess that is
    creating the database tables."""
    try:
        with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True) as db:
            return db.execute("SELECT count(*) FROM runs WHERE status = 'RUNNING'").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.e2e
def test_ctrl_c_marks_the_run_killed(project):
    process = subprocess.Popen(
        [sys.executable, "-m", "kedro", "run", "--pipelines", "slow"],
        cwd=project.path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not running_runs(project.db):
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    finally:
        process.kill()
    run = only_run(project)
    assert run.info.status == "KILLED"
    assert process.returncode != 0


METRIC_CATALOG = """
raw:
  type: json.JSONDataset
  filepath: data/raw.json
scaled:
  type: json.JSONDataset
  filepath: data/scaled.json
"{name}":
  type: kedro_mlflow_runtime.MlflowMetricDataset
"""


def test_factory_metric_entries_are_named_after_the_entry(project):
    project.write("conf/base/catalog.yml", METRIC_CATALOG)
    project.run()
    assert only_run(project).data.metrics == {"result": 13.0}


def test_mlflow_datasets_in_an_untracked_pipeline_log_nothing(project, runtime_logs):
    project.write("conf/base/catalog.yml", METRIC_CATALOG)
    project.mlflow_yml("tracking:\n  disable_tracking:\n    pipelines: [__default__]\n")
    project.run()
    assert any("no MLflow run to log into" in r.getMessage() for r in runtime_logs)
    assert not project.db.exists()


def test_a_pipelineml_run_logs_its_inference_pipeline_as_a_model(project):
    project.run("ml")
    run = only_run(project)
    assert run.info.status == "FINISHED"
    client = MlflowClient(f"sqlite:///{project.db}")
    [model] = client.search_logged_models([run.info.experiment_id])
    assert (model.name, model.source_run_id) == ("tiny_model", run.info.run_id)
    mlflow.set_tracking_uri(f"sqlite:///{project.db}")
    loaded = mlflow.pyfunc.load_model(f"models:/{model.model_id}")
    # fitted on [1, 2, 3] with factor 2: x * 2 + mean 2 + offset 0
    assert loaded.predict([10]) == [22.0]
    assert loaded.unwrap_python_model().spec["parameters"] == {"params:offset": 0}
    assert "offset" not in run.data.params  # the model's spec does not leak into the run's params
    [version] = client.search_model_versions("name = 'tiny_registered'")
    assert (int(version.version), version.run_id) == (1, run.info.run_id)
    assert mlflow.pyfunc.load_model("models:/tiny_registered/1").predict([0]) == [2.0]


def test_a_pipelineml_with_a_lambda_logs_a_model_that_predicts(project, runtime_logs):
    project.run("ml_lambda")
    run = only_run(project)
    assert run.info.status == "FINISHED"
    [model] = MlflowClient(f"sqlite:///{project.db}").search_logged_models([run.info.experiment_id])
    assert model.name == "lambda_model"
    mlflow.set_tracking_uri(f"sqlite:///{project.db}")
    assert mlflow.pyfunc.load_model(f"models:/{model.model_id}").predict([10]) == [22.0]
    assert any("stores it with cloudpickle" in r.getMessage() for r in runtime_logs)


def test_a_pipelineml_whose_artifacts_are_not_persisted_fails_before_running(project):
    project.write("conf/base/catalog.yml", CATALOG_WITHOUT_FITTED)
    with pytest.raises(Exception, match=r"reads fitted, which is not persisted"):
        project.run("ml")
    assert not project.db.exists()
    assert not (project.path / "data/fitted.pkl").exists()


CATALOG_WITHOUT_FITTED = """
raw:
  type: json.JSONDataset
  filepath: data/raw.json
"""


NAMESPACED_CATALOG = """
raw:
  type: json.JSONDataset
  filepath: data/raw.json
"{namespace}.result":
  type: kedro_mlflow_runtime.MlflowMetricDataset
"""
NAMESPACED_PARAMETERS = """
factor: 2
left:
  factor: 3
  model: {offset: 1}
right:
  model: {offset: 100}
"""


@pytest.mark.parametrize(
    ("runner", "store", "started_by"),
    [
        ("SequentialRunner", "sqlite", "session"),
        ("ParallelRunner", "sqlite", "session"),
        pytest.param("ThreadRunner", "server", "session", marks=pytest.mark.e2e),
        # through the CLI
        pytest.param("SequentialRunner", "sqlite", "kedro run", marks=pytest.mark.e2e),
        pytest.param("ParallelRunner", "server", "kedro run", marks=pytest.mark.e2e),
    ],
)
def test_nesting_by_namespace_gives_each_namespace_a_child_run(
    project, runner, store, started_by, request
):
    from kedro.runner import ParallelRunner, SequentialRunner, ThreadRunner

    project.write("conf/base/catalog.yml", NAMESPACED_CATALOG)
    project.write("conf/base/parameters.yml", NAMESPACED_PARAMETERS)
    uri = f"sqlite:///{project.db}"
    if store == "server":
        uri = request.getfixturevalue("mlflow_server").uri
    project.mlflow_yml(
        f"server:\n  mlflow_tracking_uri: {uri}\n"
        f"tracking:\n  experiment:\n    name: nesting-{project.package}\n"
        "  run:\n    nesting: namespace\n"
    )
    if started_by == "kedro run":
        result = kedro(project.path, "run", "--pipelines", "namespaced", "--runner", runner)
        assert result.returncode == 0, result.stderr
    else:
        with project.session() as session:
            session.run(
                pipeline_names=["namespaced"],
                runner={
                    "SequentialRunner": SequentialRunner,
                    "ParallelRunner": ParallelRunner,
                    "ThreadRunner": ThreadRunner,
                }[runner](),
            )
    runs = {run.info.run_name: run for run in recorded_runs(uri, f"nesting-{project.package}")}
    assert set(runs) == {"namespaced", "left", "right"}
    parent, left, right = runs["namespaced"], runs["left"], runs["right"]
    assert {run.info.status for run in runs.values()} == {"FINISHED"}
    for child, namespace in ((left, "left"), (right, "right")):
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.data.tags["kedro_namespace"] == namespace
    # a parameter read in one namespace goes to its child; one read more widely to the parent
    assert parent.data.params == {"factor": "2"}
    assert left.data.params == {"left.factor": "3", "left.model": "{'offset': 1}"}
    assert right.data.params == {"right.model": "{'offset': 100}"}
    # each namespace's datasets log into its child run
    assert left.data.metrics == {"left.result": 19.0}
    assert right.data.metrics == {"right.result": 112.0}
    assert parent.data.metrics == {}


def test_nesting_is_validated():
    from kedro_mlflow_runtime.config.schema import load_mlflow_config
    from kedro_mlflow_runtime.errors import MlflowConfigError

    with pytest.raises(MlflowConfigError, match="tracking.run.nesting: Input should be 'none'"):
        load_mlflow_config(
            {"tracking": {"run": {"nesting": "pipeline"}}},
            project_path=project_path_for_validation(),
            default_experiment_name="x",
        )


def project_path_for_validation():

    return Path("/proj")


def test_an_unreachable_server_stops_the_run_before_any_node_within_the_timeout(project):
    import socket
    import time as clock

    from kedro_mlflow_runtime.errors import TrackingUnavailableError

    # a server that accepts connections and never answers: the worst case for a client
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
    project.mlflow_yml(f"server:\n  mlflow_tracking_uri: {uri}\n  connect_timeout: 2\n")
    start = clock.monotonic()
    try:
        with pytest.raises(TrackingUnavailableError) as raised:
            project.run()
    finally:
        silent.close()
    assert clock.monotonic() - start < 15
    message = str(raised.value)
    assert f"Cannot reach the MLflow tracking server at {uri} within 2 s" in message
    assert "tracking.disable_tracking.pipelines" in message
    assert not (project.path / "data/result.json").exists()  # no node ran


def test_a_refused_connection_fails_at_once(project):
    from kedro_mlflow_runtime.errors import TrackingUnavailableError
    from tests.conftest import free_port

    project.mlflow_yml(f"server:\n  mlflow_tracking_uri: http://127.0.0.1:{free_port()}\n")
    with pytest.raises(TrackingUnavailableError, match="Connection refused"):
        project.run()


def test_secret_looking_params_are_redacted_in_the_run(project):
    project.write(
        "conf/base/parameters.yml",
        "factor: 2\nmodel:\n  offset: 1\n  api_key: sk-live-123\n  db_password: hunter2\n",
    )
    project.run()
    logged = only_run(project).data.params["model"]
    assert "sk-live-123" not in logged and "hunter2" not in logged
    assert logged == "{'offset': 1, 'api_key': '***', 'db_password': '***'}"


def test_mlflow_environment_variables_that_mlflow_yml_overrides_are_reported(runtime_logs):

    from kedro_mlflow_runtime.config.schema import load_mlflow_config

    config = load_mlflow_config(
        {"server": {"mlflow_tracking_uri": "sqlite:///mlflow.db"}},
        project_path=Path("/proj"),
        default_experiment_name="x",
        environ={"MLFLOW_TRACKING_URI": "http://elsewhere:5000"},
    )
    assert config.tracking_uri == "sqlite:////proj/mlflow.db"
    [warning] = [r.getMessage() for r in runtime_logs if "MLFLOW_TRACKING_URI" in r.getMessage()]
    assert "http://elsewhere:5000" in warning and "using mlflow.yml's" in warning


def test_a_leftover_kedro_mlflow_install_is_warned_about(
    project, runtime_logs, tmp_path, monkeypatch
):
    def warnings() -> list[str]:
        with project.session() as session:
            session.load_context()
        return [
            r.getMessage()
            for r in runtime_logs
            if "kedro-mlflow is still installed" in r.getMessage()
        ]

    assert warnings() == []
    # a stand-in for kedro-mlflow: found, never imported (importing it would raise)
    fake = tmp_path / "site" / "kedro_mlflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise RuntimeError('kedro_mlflow must not be imported')\n")
    monkeypatch.syspath_prepend(str(fake.parent))
    [warning] = warnings()
    assert "two hooks would own this run" in warning
    assert "pip uninstall kedro-mlflow" in warning
    assert "kedro_mlflow" not in sys.modules


def test_a_tracking_uri_mlflow_has_no_store_for_is_a_config_error(project):
    project.mlflow_yml("server:\n  mlflow_tracking_uri: ftp://files.example.com/runs\n")
    with pytest.raises(MlflowConfigError, match=r"MLflow has no store for 'ftp://files"):
        project.run()
    assert not (project.path / "data/result.json").exists()


@pytest.mark.e2e
def test_a_read_only_tracking_store_stops_the_run_before_any_node(project, immutable):
    from kedro_mlflow_runtime.errors import TrackingStoreUnwritableError

    # a first run in another process: this one must open the store read-only from the start
    first = subprocess.run(
        [sys.executable, "-m", "kedro", "run"], cwd=project.path, capture_output=True, check=False
    )
    assert first.returncode == 0, first.stderr
    (project.path / "data/result.json").unlink()
    immutable(project.db)
    with pytest.raises(TrackingStoreUnwritableError) as raised:
        project.run()
    message = str(raised.value)
    assert f"The tracking store sqlite:///{project.db} is read-only" in message
    assert "attempt to write a readonly database" in message
    assert "server.mlflow_tracking_uri" in message
    assert not (project.path / "data/result.json").exists()
    assert len(recorded_runs(project.db)) == 1  # the store itself is intact


def test_malformed_yaml_names_the_file(project):
    project.mlflow_yml("server:\n  mlflow_tracking_uri: [unclosed\n")
    with pytest.raises(Exception, match=r"Invalid YAML or JSON file .*conf/base/mlflow.yml"):
        project.run()
    assert not project.db.exists()
