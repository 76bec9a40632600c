"""A generated project, run against each production-like tracking server: `mlflow server` with a
PostgreSQL backend, and MLflow's basic-auth app. Each run records params, metrics, the plot
artifact and both models on the server, and nothing in a local store.

The project is pointed at the server by a conf environment (`kedro run --env <name>`): its
mlflow.yml is deep-merged over base, and its credentials.yml holds the login."""

from __future__ import annotations

from pathlib import Path

import mlflow.artifacts
import pytest
from mlflow import MlflowClient

from tests.conftest import generate, kedro, recorded_runs
from tests.servers import MlflowServer, PostgresCluster

pytestmark = pytest.mark.e2e
USER, PASSWORD = MlflowServer.ADMIN


@pytest.fixture(scope="module")
def postgres_server(tmp_path_factory):
    with PostgresCluster() as postgres:
        backend = postgres.create_database("mlflow")
        with MlflowServer(
            tmp_path_factory.mktemp("pg-server"), backend_store_uri=backend
        ) as server:
            yield server


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    with MlflowServer(tmp_path_factory.mktemp("auth-server"), auth=True) as server:
        yield server


def point_at(project: Path, env: str, uri: str, login: tuple[str, str] | None) -> None:
    conf = project / "conf" / env
    conf.mkdir()
    credentials = "  credentials: mlflow_login\n" if login else ""
    (conf / "mlflow.yml").write_text(
        f"server:\n  mlflow_tracking_uri: {uri}\n{credentials}"
        f"tracking:\n  experiment:\n    name: generated-{env}\n"
    )
    if login:
        (conf / "credentials.yml").write_text(
            f"mlflow_login:\n  MLFLOW_TRACKING_USERNAME: {login[0]}\n"
            f"  MLFLOW_TRACKING_PASSWORD: {login[1]}\n"
        )


@pytest.mark.parametrize("env", ["postgres", "auth"])
def test_a_generated_project_records_everything_on_the_server(env, request, tmp_path, monkeypatch):
    server = request.getfixturevalue(f"{env}_server")
    login = (USER, PASSWORD) if env == "auth" else None
    project = generate(tmp_path / "generated")
    point_at(project, env, server.uri, login)

    result = kedro(project, "run", "--env", env)
    assert result.returncode == 0, result.stdout + result.stderr

    if login:
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", USER)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    [run] = recorded_runs(server.uri, f"generated-{env}")
    assert run.info.status == "FINISHED"
    assert {"split", "model", "threshold"} <= set(run.data.params)
    assert {"training_loss", "metrics.accuracy"} <= set(run.data.metrics)
    client = MlflowClient(server.uri)
    assert [a.path for a in client.list_artifacts(run.info.run_id, "plots")] == [
        "plots/training_loss.png"
    ]
    models = client.search_logged_models([run.info.experiment_id])
    assert sorted(m.name for m in models) == ["classifier", "inference_model"]
    assert not (project / "mlflow.db").exists()  # nothing went to the local store
    if login:  # the password is nowhere in what the server holds
        recorded = [*run.data.params.values(), *run.data.tags.values()]
        assert not any(PASSWORD in value for value in recorded)
        folders = [download(server.uri, tmp_path / "run", run_id=run.info.run_id)]
        folders += [download(server.uri, tmp_path / m.name, m.artifact_location) for m in models]
        files = [f for folder in folders for f in folder.rglob("*") if f.is_file()]
        assert len(files) > 10  # the plot, the metrics' files, both models and their code
        assert not [f for f in files if PASSWORD.encode() in f.read_bytes()]
    if env == "postgres":  # the run really lives in PostgreSQL
        import sqlalchemy

        engine = sqlalchemy.create_engine(server.backend_store_uri)
        with engine.connect() as db:
            stored = db.execute(sqlalchemy.text("SELECT run_uuid FROM runs")).scalars().all()
        engine.dispose()
        assert run.info.run_id in stored


def download(uri: str, dst: Path, artifact_uri: str | None = None, run_id: str | None = None):
    return Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=artifact_uri, run_id=run_id, dst_path=str(dst), tracking_uri=uri
        )
    )
