"""Artifacts in an S3-compatible object store (moto's standalone S3 server on 127.0.0.1), both
production layouts of `mlflow server`:
- proxied (`--artifacts-destination s3://...`): the server writes to S3, the client needs no
  S3 credentials;
- direct (`--no-serve-artifacts --default-artifact-root s3://...`): the client writes to S3
  itself with boto3, its AWS credentials and MLFLOW_S3_ENDPOINT_URL coming from
  credentials.yml through `server.credentials`.
Every Mlflow* dataset and the PipelineML model round-trip, and the bytes are in the bucket."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

from kedro_mlflow_runtime import (
    MlflowArtifactDataset,
    MlflowMetricDataset,
    MlflowMetricHistoryDataset,
    MlflowMetricsHistoryDataset,
    MlflowModelLocalFileSystemDataset,
    MlflowModelRegistryDataset,
    MlflowModelTrackingDataset,
)
from tests.conftest import recorded_runs
from tests.servers import MlflowServer, PostgresCluster

pytestmark = pytest.mark.e2e

S3_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "MLFLOW_S3_ENDPOINT_URL",
)
CATALOG = """
raw:
  type: json.JSONDataset
  filepath: data/raw.json
scaled:
  type: kedro_mlflow_runtime.MlflowMetricHistoryDataset
result:
  type: kedro_mlflow_runtime.MlflowArtifactDataset
  artifact_path: reports
  dataset:
    type: json.JSONDataset
    filepath: data/result.json
labelled:
  type: kedro_mlflow_runtime.MlflowMetricDataset
fitted:
  type: pickle.PickleDataset
  filepath: data/fitted.pkl
"""
X = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]])
Y = np.array([0, 1, 0, 1])


@pytest.fixture(autouse=True)
def no_multipart_download_from_s3(monkeypatch):
    # A proxying server that says it supports multipart makes the client download large files
    # straight from presigned S3 URLs; moto's presigned URLs do not serve them here.
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD", "false")


@pytest.fixture(autouse=True)
def no_s3_settings_left_behind():
    """The hook exports the credentials entry into os.environ (MLflow and boto3 read them
    there); no test sees another's, and MLflow's cached boto3 clients go with them."""
    from mlflow.store.artifact import s3_artifact_repo  # noqa: PLC0415

    saved = {name: os.environ.pop(name) for name in S3_VARIABLES if name in os.environ}
    s3_artifact_repo._cached_get_s3_client.cache_clear()
    yield
    for name in S3_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(saved)
    s3_artifact_repo._cached_get_s3_client.cache_clear()


def s3_env(s3_server, key: tuple[str, str]) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": key[0],
        "AWS_SECRET_ACCESS_KEY": key[1],
        "AWS_DEFAULT_REGION": s3_server.REGION,
        "MLFLOW_S3_ENDPOINT_URL": s3_server.endpoint,
    }


@pytest.fixture(scope="module")
def proxied(s3_server, tmp_path_factory):
    """The production layout: runs in PostgreSQL, artifacts proxied to S3."""
    bucket = s3_server.create_bucket("proxied-artifacts")
    with (
        PostgresCluster() as postgres,
        MlflowServer(
            tmp_path_factory.mktemp("s3-proxied"),
            backend_store_uri=postgres.create_database("s3proxied"),
            artifacts_destination=f"s3://{bucket}/mlflow",
            env=s3_env(s3_server, s3_server.access_key("mlflow-server")),
        ) as server,
    ):
        server.bucket = bucket
        yield server


@pytest.fixture(scope="module")
def direct(s3_server, tmp_path_factory):
    bucket = s3_server.create_bucket("direct-artifacts")
    with MlflowServer(
        tmp_path_factory.mktemp("s3-direct"),
        serve_artifacts=False,
        default_artifact_root=f"s3://{bucket}/mlflow",
    ) as server:
        server.bucket = bucket
        yield server


def use_server(project, server, credentials: dict[str, str] | None = None) -> str:
    experiment = f"s3-{project.package}"
    text = f"server:\n  mlflow_tracking_uri: {server.uri}\n"
    if credentials is not None:
        entry = "".join(f"  {name}: {value}\n" for name, value in credentials.items())
        project.write("conf/local/credentials.yml", f"s3_artifacts:\n{entry}")
        text += "  credentials: s3_artifacts\n"
    project.mlflow_yml(text + f"tracking:\n  experiment:\n    name: {experiment}\n")
    project.write("conf/base/catalog.yml", CATALOG)
    return experiment


def in_bucket(server, uri: str) -> str:
    """The key prefix in the server's bucket of an artifact location: `s3://<bucket>/...` as
    such (direct), or `mlflow-artifacts:/...` under the server's destination (proxied)."""
    if uri.startswith("mlflow-artifacts:/"):
        uri = server.artifacts_destination + "/" + uri.removeprefix("mlflow-artifacts:/")
    assert uri.startswith(f"s3://{server.bucket}/"), uri
    return uri.removeprefix(f"s3://{server.bucket}/") + "/"


def objects(s3_server, server, location: str) -> list[str]:
    """The objects under an artifact location, relative to it."""
    prefix = in_bucket(server, location)
    return [key.removeprefix(prefix) for key in s3_server.keys(server.bucket, prefix)]


def check_round_trip(project, server, s3_server, client_env: dict[str, str]) -> None:
    """`kedro run` of a pipeline with metric, metric history and artifact datasets, then of the
    PipelineML pipeline; then, in a notebook-like run, the other datasets (metrics history,
    model tracking) saved and loaded back. Everything recorded, the bytes in the bucket."""
    experiment = f"s3-{project.package}"
    project.run("steps")
    project.run("ml")
    steps, ml = recorded_runs(server.uri, experiment)
    assert (steps.info.status, ml.info.status) == ("FINISHED", "FINISHED")
    assert steps.data.metrics == {"scaled": 6.0, "labelled": 13.0}
    client = MlflowClient(server.uri)
    assert [m.value for m in client.get_metric_history(steps.info.run_id, "scaled")] == [2, 4, 6]
    assert json.loads((project.path / "data/result.json").read_text()) == 13
    assert objects(s3_server, server, steps.info.artifact_uri) == ["reports/result.json"]
    loaded = MlflowArtifactDataset(
        dataset={
            "type": "json.JSONDataset",
            "filepath": str(project.path / "elsewhere/result.json"),
        },
        artifact_path="reports",
        run_id=steps.info.run_id,
    ).load()
    assert loaded == 13

    # the pipeline model: its files are in the bucket, and it loads back and predicts
    [model] = client.search_logged_models([ml.info.experiment_id])
    stored = objects(s3_server, server, model.artifact_location)
    assert "MLmodel" in stored and "artifacts/kedro_pipeline.yml" in stored, stored
    mlflow.set_tracking_uri(server.uri)
    with pytest.MonkeyPatch.context() as env:
        for name, value in client_env.items():
            env.setenv(name, value)
        pipeline_model = mlflow.pyfunc.load_model(f"models:/{model.model_id}")
        assert pipeline_model.predict([10]) == [22.0]  # 10 * 2 + mean 2 + offset 0
        # the version the ml pipeline registered, through the registry dataset
        registered = MlflowModelRegistryDataset(model_name="tiny_registered", stage_or_version=1)
        assert registered.load().predict([10]) == [22.0]

        # the datasets a notebook uses, in a run of its own
        with mlflow.start_run(experiment_id=steps.info.experiment_id) as run:
            MlflowMetricsHistoryDataset().save({"loss": [0.5, 0.25], "accuracy": [0.9]})
            MlflowMetricDataset(key="score").save(0.75)
            MlflowMetricHistoryDataset(key="epochs").save([1.0, 2.0])
            classifier = MlflowModelTrackingDataset(
                flavor="mlflow.sklearn",
                save_args={"name": "classifier", "pip_requirements": ["scikit-learn"]},
            )
            classifier.save(LogisticRegression().fit(X, Y))
        run_id = run.info.run_id
        assert MlflowMetricsHistoryDataset(run_id=run_id).load() == {
            "accuracy": {"step": 0, "value": 0.9},
            "epochs": [{"step": 0, "value": 1.0}, {"step": 1, "value": 2.0}],
            "loss": [{"step": 0, "value": 0.5}, {"step": 1, "value": 0.25}],
            "score": {"step": 0, "value": 0.75},
        }
        assert MlflowMetricDataset(key="score", run_id=run_id).load() == 0.75
        reloaded = MlflowModelTrackingDataset(
            flavor="mlflow.sklearn", run_id=run_id, save_args={"name": "classifier"}
        ).load()
        assert (reloaded.predict(X) == Y).all()
        # a model kept on local disk (logged nowhere): the same round trip, no bucket involved
        local = MlflowModelLocalFileSystemDataset(
            filepath=str(project.path / "data/classifier"),
            flavor="mlflow.sklearn",
            save_args={"pip_requirements": ["scikit-learn"]},
        )
        local.save(reloaded)
        assert (local.load().predict(X) == Y).all()
    [logged] = [
        m for m in client.search_logged_models([steps.info.experiment_id]) if m.name == "classifier"
    ]
    stored = objects(s3_server, server, logged.artifact_location)
    assert "MLmodel" in stored and any(name.startswith("model.") for name in stored), stored


def check_sync(project, server, s3_server, client_env: dict[str, str]) -> None:
    """Runs recorded offline, then `kedro mlflow sync`: the copies' artifacts and the pipeline
    model are in the bucket, and the model loads back from the server."""
    experiment = f"s3-{project.package}"
    online = (project.path / "conf/base/mlflow.yml").read_text()
    project.mlflow_yml(online.replace("server:\n", "server:\n  offline:\n    enabled: true\n", 1))
    project.run("steps")
    project.run("ml")
    project.mlflow_yml(online)
    before = {run.info.run_id for run in recorded_runs(server.uri, experiment)}
    synced = subprocess.run(
        [sys.executable, "-m", "kedro", "mlflow", "sync"],
        cwd=project.path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert "Synced 2 run(s)" in synced.stdout, synced.stdout
    copies = {
        run.info.run_name: run
        for run in recorded_runs(server.uri, experiment)
        if run.info.run_id not in before
    }
    assert sorted(copies) == ["ml", "steps"]
    steps = copies["steps"]
    assert objects(s3_server, server, steps.info.artifact_uri) == ["reports/result.json"]
    client = MlflowClient(server.uri)
    [model] = [
        m
        for m in client.search_logged_models([steps.info.experiment_id])
        if m.source_run_id == copies["ml"].info.run_id
    ]
    assert "MLmodel" in objects(s3_server, server, model.artifact_location)
    mlflow.set_tracking_uri(server.uri)
    with pytest.MonkeyPatch.context() as env:
        for name, value in client_env.items():
            env.setenv(name, value)
        assert mlflow.pyfunc.load_model(f"models:/{model.model_id}").predict([10]) == [22.0]


def test_proxied_artifacts_need_no_s3_credentials_on_the_client(project, proxied, s3_server):
    use_server(project, proxied)
    check_round_trip(project, proxied, s3_server, client_env={})
    check_sync(project, proxied, s3_server, client_env={})
    assert not any(name in os.environ for name in S3_VARIABLES)  # none needed, none set


def test_direct_artifacts_with_credentials_from_credentials_yml(project, direct, s3_server):
    key = s3_server.access_key(f"client-{project.package}")
    credentials = s3_env(s3_server, key)
    use_server(project, direct, credentials)
    check_round_trip(project, direct, s3_server, client_env=credentials)
    check_sync(project, direct, s3_server, client_env=credentials)
    runs = recorded_runs(direct.uri, f"s3-{project.package}")
    recorded = [
        value for run in runs for value in (*run.data.params.values(), *run.data.tags.values())
    ]
    assert not any(key[1] in value or key[0] in value for value in recorded)


def failing_run(project):
    with pytest.raises(Exception) as raised:
        project.run("steps")
    return raised.value


def test_direct_wrong_s3_key_stops_before_any_node_naming_bucket_and_entry(
    project, direct, s3_server
):
    key = s3_server.access_key(f"client-{project.package}")
    credentials = s3_env(s3_server, (key[0], "not-the-secret"))
    experiment = use_server(project, direct, credentials)
    error = failing_run(project)
    message = str(error)
    assert type(error).__name__ == "ArtifactStoreError", message
    assert f"bucket '{direct.bucket}'" in message and "'s3_artifacts'" in message, message
    assert "not-the-secret" not in message
    assert not (project.path / "data/result.json").exists()  # no node ran
    [run] = recorded_runs(direct.uri, experiment)
    assert run.info.status == "FAILED"
    assert run.data.tags["error_type"] == "ArtifactStoreError"


def test_direct_missing_bucket_stops_before_any_node(project, direct, s3_server):
    credentials = s3_env(s3_server, s3_server.access_key(f"client-{project.package}"))
    experiment = use_server(project, direct, credentials)
    project.mlflow_yml(
        (project.path / "conf/base/mlflow.yml").read_text()
        + "    create_experiment_kwargs:\n      artifact_location: s3://no-such-bucket/runs\n"
    )
    message = str(failing_run(project))
    assert "bucket 'no-such-bucket' does not exist" in message, message
    [run] = recorded_runs(direct.uri, experiment)
    assert run.info.status == "FAILED"


def test_proxied_missing_bucket_keeps_the_outputs_for_retry(project, s3_server, tmp_path):
    """The server holds the S3 credentials: the client learns of a missing bucket from the
    server's errors at the first artifact. The pipeline's outputs are saved, what was not logged
    is kept, and `kedro mlflow retry` logs it once the bucket exists."""
    bucket = f"later-{project.package.replace('_', '-')}"
    with MlflowServer(
        tmp_path / "server",
        artifacts_destination=f"s3://{bucket}/mlflow",
        env=s3_env(s3_server, s3_server.access_key(f"server-{project.package}")),
    ) as server:
        server.bucket = bucket
        experiment = use_server(project, server)
        error = failing_run(project)
        assert type(error).__name__ == "NotLoggedError", error
        assert json.loads((project.path / "data/result.json").read_text()) == 13
        [run] = recorded_runs(server.uri, experiment)
        assert run.info.status == "FAILED"
        # the server answered (500), so the run's other items were still logged
        assert run.data.metrics == {"scaled": 6.0, "labelled": 13.0}
        assert "unreachable" not in str(error)

        s3_server.create_bucket(bucket)
        retried = subprocess.run(
            [sys.executable, "-m", "kedro", "mlflow", "retry"],
            cwd=project.path, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert retried.returncode == 0, retried.stdout + retried.stderr
        [run] = recorded_runs(server.uri, experiment)
        assert run.info.status == "FINISHED"
        assert run.data.metrics["labelled"] == 13.0
        assert objects(s3_server, server, run.info.artifact_uri) == ["reports/result.json"]
