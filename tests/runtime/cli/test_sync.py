"""Offline mode (`server.offline.enabled`): runs go to a local SQLite store with no server
needed, and `kedro mlflow sync` copies them to the server (params, metric histories, tags,
artifacts, logged models, registered versions, parent/child links), once each."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput

from kedro_mlflow_runtime.cli.sync import (
    COMPLETE_TAG,
    OFFLINE_RUN_TAG,
    SYNCED_TO_TAG,
    exclusive,
    sync_offline_runs,
)
from kedro_mlflow_runtime.errors import SyncError
from tests.conftest import free_port, recorded_runs

pytestmark = pytest.mark.e2e
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # colours and cursor moves of a terminal

TRACKED_CATALOG = """
raw:
  type: json.JSONDataset
  filepath: data/raw.json
scaled:
  type: kedro_mlflow_runtime.MlflowMetricHistoryDataset
result:
  type: kedro_mlflow_runtime.MlflowArtifactDataset
  dataset:
    type: json.JSONDataset
    filepath: data/result.json
fitted:
  type: pickle.PickleDataset
  filepath: data/fitted.pkl
"""
NAMESPACE_PARAMETERS = """
left:
  factor: 3
  model: {offset: 1}
right:
  model: {offset: 100}
"""


def offline_yml(project, server_uri: str) -> None:
    project.mlflow_yml(
        f"server:\n  mlflow_tracking_uri: {server_uri}\n  offline:\n    enabled: true\n"
        f"tracking:\n  experiment:\n    name: offline-{project.package}\n"
        f"  run:\n    nesting: namespace\n"
    )


def sync(project, expect_success: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "kedro", "mlflow", "sync"],
        cwd=project.path,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert (result.returncode == 0) is expect_success, result.stdout + result.stderr
    return result


def test_offline_runs_need_no_server_and_sync_copies_them_once(project, mlflow_server):
    experiment = f"offline-{project.package}"
    project.write("conf/base/catalog.yml", TRACKED_CATALOG)
    parameters = project.path / "conf/base/parameters.yml"
    parameters.write_text(parameters.read_text() + NAMESPACE_PARAMETERS)
    # offline: the configured server does not even exist
    offline_yml(project, f"http://127.0.0.1:{free_port()}")
    project.run("steps")
    project.run("ml")
    project.run("namespaced")
    offline_store = project.path / "mlflow-offline" / "mlflow.db"
    offline_runs = recorded_runs(offline_store)
    assert len(offline_runs) == 5  # steps, ml, namespaced + its two namespace children
    assert not project.db.exists()

    offline_yml(project, mlflow_server.uri)  # back online
    assert recorded_runs(mlflow_server.uri, experiment) == []
    # on a terminal (rich's TTY_COMPATIBLE says the output is one): a progress bar of the runs
    first = sync(project, TTY_COMPATIBLE="1", COLUMNS="200")
    shown = ANSI.sub("", first.stdout)
    assert re.search(r"Syncing runs .* 5/5 ", shown), shown
    assert f"Synced 5 run(s) from sqlite:///{offline_store} to {mlflow_server.uri}" in shown

    copies = recorded_runs(mlflow_server.uri, experiment)
    assert len(copies) == 5
    assert_copied(offline_runs, copies, MlflowClient(f"sqlite:///{offline_store}"))
    by_name = {run.info.run_name: run for run in copies}
    assert_artifacts_and_history_copied(by_name["steps"], mlflow_server.uri)
    parent = by_name["namespaced"]  # children point to the parent's copy
    children = [r for r in copies if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.info.run_name for r in children) == ["left", "right"]
    ml = by_name["ml"]
    assert_model_copied(ml, mlflow_server.uri)

    client = MlflowClient(mlflow_server.uri, registry_uri=mlflow_server.uri)
    second = sync(project)  # idempotent: nothing more on the server
    assert "Synced 0 run(s)" in second.stdout and "5 already there" in second.stdout
    assert "Syncing runs" not in second.stdout  # not a terminal: no bar, the summary only
    assert len(recorded_runs(mlflow_server.uri, experiment)) == 5
    assert len(client.search_model_versions("name = 'tiny_registered'")) == 1
    assert len(client.search_logged_models([ml.info.experiment_id])) == 1


def test_an_interrupted_sync_is_redone_and_running_runs_wait(project, tmp_path):
    """Against two SQLite stores: the copy logic does not depend on the transport."""
    offline_yml(project, f"sqlite:///{tmp_path / 'server.db'}")
    project.run()
    offline_uri = f"sqlite:///{project.path / 'mlflow-offline' / 'mlflow.db'}"
    server_uri = f"sqlite:///{tmp_path / 'server.db'}"
    offline, server = MlflowClient(offline_uri), MlflowClient(server_uri)
    [finished] = recorded_runs(project.path / "mlflow-offline" / "mlflow.db")
    data = Dataset("raw", "d1g35t", "local", '{"uri": "data/raw.json"}')  # as mlflow.log_input
    offline.log_inputs(finished.info.run_id, datasets=[DatasetInput(data)])
    still_running = offline.create_run(finished.info.experiment_id).info.run_id
    # what a sync killed mid-copy leaves: a copy without the completion tag
    experiment = server.create_experiment(f"offline-{project.package}")
    partial = server.create_run(experiment, tags={OFFLINE_RUN_TAG: finished.info.run_id})
    half_model = server.create_logged_model(experiment, "tiny_model", partial.info.run_id)

    report = sync_offline_runs(offline_uri, server_uri)
    assert report.redone == [finished.info.run_id]
    assert report.unfinished == [still_running]
    [(_, copy_id)] = report.copied
    assert server.get_run(partial.info.run_id).info.lifecycle_stage == "deleted"
    assert half_model.model_id not in [
        m.model_id for m in server.search_logged_models([experiment])
    ]
    [copy] = recorded_runs(server_uri, f"offline-{project.package}")
    assert copy.info.run_id == copy_id
    assert copy.data.params == finished.data.params
    [dataset] = server.get_run(copy_id).inputs.dataset_inputs
    assert (dataset.dataset.name, dataset.dataset.digest) == ("raw", "d1g35t")

    offline.set_terminated(still_running, "FAILED")  # it ended: the next sync takes it
    again = sync_offline_runs(offline_uri, server_uri)
    assert (len(again.copied), again.already_synced) == (1, [finished.info.run_id])
    assert server.get_run(again.copied[0][1]).info.status == "FAILED"


@pytest.fixture
def stores(tmp_path):
    """An offline store with one experiment (artifacts in tmp_path), and a store to sync to."""
    offline_uri = f"sqlite:///{tmp_path / 'offline.db'}"
    offline = MlflowClient(offline_uri)
    experiment = offline.create_experiment("exp", artifact_location=(tmp_path / "art").as_uri())
    return offline, experiment, f"sqlite:///{tmp_path / 'server.db'}"


def test_a_child_run_waits_for_its_running_parent(stores):
    offline, experiment, server_uri = stores
    parent = offline.create_run(experiment, run_name="parent").info.run_id
    child = offline.create_run(experiment, tags={"mlflow.parentRunId": parent}).info.run_id
    offline.set_terminated(child)

    first = sync_offline_runs(offline.tracking_uri, server_uri)
    assert (first.copied, sorted(first.unfinished)) == ([], sorted([parent, child]))
    offline.set_terminated(parent)
    second = sync_offline_runs(offline.tracking_uri, server_uri)
    copy_of = dict(second.copied)
    child_copy = MlflowClient(server_uri).get_run(copy_of[child])
    assert child_copy.data.tags["mlflow.parentRunId"] == copy_of[parent]


def test_a_run_that_cannot_be_copied_does_not_stop_the_others(stores, tmp_path):
    offline, experiment, server_uri = stores
    broken, fine = (offline.create_run(experiment).info.run_id for _ in range(2))
    for run_id in (broken, fine):
        offline.log_text(run_id, "hello", "notes/hello.txt")
        offline.set_terminated(run_id)
    # the broken run's artifact went missing from the offline store, its entry left behind
    [lost] = (tmp_path / "art").glob(f"{broken}/artifacts/notes/hello.txt")
    lost.unlink()
    lost.symlink_to(tmp_path / "gone.txt")

    report = sync_offline_runs(offline.tracking_uri, server_uri)
    assert [run for run, _ in report.copied] == [fine]
    [(failed, error)] = report.failed
    assert failed == broken and "hello.txt" in error
    assert "Failed to copy" in report.summary() and "sync` again" in report.summary()
    again = sync_offline_runs(offline.tracking_uri, server_uri)  # redone, never duplicated
    assert (again.already_synced, again.redone) == ([fine], [broken])
    copies = recorded_runs(server_uri, "exp")
    assert sorted(r.data.tags[OFFLINE_RUN_TAG] for r in copies) == sorted([broken, fine])
    # a SQLite destination keeps the copies' artifacts next to its database, not in the CWD
    assert all(r.info.artifact_uri.startswith(tmp_path.as_uri()) for r in copies)


def test_one_sync_of_a_store_at_a_time(tmp_path):
    db = tmp_path / "offline.db"
    with exclusive(db), pytest.raises(SyncError, match="Another `kedro mlflow sync` of"):
        with exclusive(db):
            pass
    with exclusive(db):  # released
        pass


def test_sync_without_an_offline_store_says_so(project, mlflow_server):
    project.mlflow_yml(f"server:\n  mlflow_tracking_uri: {mlflow_server.uri}\n")
    result = sync(project)
    assert "Nothing to sync: there is no offline store at sqlite:///" in result.stdout


def assert_copied(offline_runs, copies, offline) -> None:
    copy_of = {run.data.tags[OFFLINE_RUN_TAG]: run for run in copies}
    for original in offline_runs:
        copy = copy_of[original.info.run_id]
        assert copy.data.tags[COMPLETE_TAG] == "true"
        assert (copy.info.run_name, copy.info.status) == (original.info.run_name, "FINISHED")
        assert (copy.info.start_time, copy.info.end_time) == (
            original.info.start_time,
            original.info.end_time,
        )
        assert copy.data.params == original.data.params
        assert copy.data.metrics == original.data.metrics
        for key in ("kedro_command", "kedro_pipeline", "mlflow.user"):
            assert copy.data.tags.get(key) == original.data.tags.get(key)
        # the offline run says where its copy is
        synced_to = offline.get_run(original.info.run_id).data.tags[SYNCED_TO_TAG]
        assert synced_to.endswith(f"/runs/{copy.info.run_id}")


def assert_artifacts_and_history_copied(steps, server_uri: str) -> None:
    client = MlflowClient(server_uri)
    history = client.get_metric_history(steps.info.run_id, "scaled")
    assert [(p.step, p.value) for p in history] == [(0, 2.0), (1, 4.0), (2, 6.0)]
    [artifact] = client.list_artifacts(steps.info.run_id)
    assert artifact.path == "result.json"
    local = mlflow.artifacts.download_artifacts(
        run_id=steps.info.run_id, artifact_path="result.json", tracking_uri=server_uri
    )
    assert json.loads(Path(local).read_text()) == 13  # sum(2, 4, 6) + offset 1


def assert_model_copied(ml, server_uri: str) -> None:
    """The pipeline model: a logged model of the copy, loadable from the server, registered."""
    client = MlflowClient(server_uri, registry_uri=server_uri)
    [model] = client.search_logged_models([ml.info.experiment_id])
    assert (model.name, model.source_run_id) == ("tiny_model", ml.info.run_id)
    assert [o.model_id for o in client.get_run(ml.info.run_id).outputs.model_outputs] == [
        model.model_id
    ]
    mlflow.set_tracking_uri(server_uri)
    loaded = mlflow.pyfunc.load_model(f"models:/{model.model_id}")
    assert loaded.predict([10]) == [22.0]
    assert (loaded.metadata.run_id, loaded.metadata.model_id) == (ml.info.run_id, model.model_id)
    [version] = client.search_model_versions("name = 'tiny_registered'")
    assert (version.run_id, version.source) == (ml.info.run_id, f"models:/{model.model_id}")


def test_sync_to_a_server_that_does_not_answer_syncs_nothing_and_says_so(project):
    dead = f"http://127.0.0.1:{free_port()}"
    offline_yml(project, dead)
    project.run()
    project.write(
        "conf/base/mlflow.yml",
        f"server:\n  mlflow_tracking_uri: {dead}\n  connect_timeout: 2\n"
        f"  offline:\n    enabled: false\n",
    )
    result = sync(project, expect_success=False)
    assert f"Cannot reach the MLflow tracking server at {dead} within 2 s" in result.stderr
    assert "Nothing was synced: run `kedro mlflow sync` again" in result.stderr
    [run] = recorded_runs(project.path / "mlflow-offline" / "mlflow.db")
    assert "kedro_mlflow.synced_to" not in run.data.tags


def test_offline_models_are_registered_in_the_offline_store(project, tmp_path, monkeypatch):
    """Offline, models are registered in the offline store, never at $MLFLOW_REGISTRY_URI; once
    the context is created, MLflow's default registry is that offline store too (a notebook)."""
    remote = f"sqlite:///{tmp_path / 'remote.db'}"
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", remote)
    offline_yml(project, remote)
    project.run("ml")
    offline_uri = f"sqlite:///{project.path / 'mlflow-offline' / 'mlflow.db'}"
    registered = MlflowClient(offline_uri, registry_uri=offline_uri).search_model_versions(
        "name = 'tiny_registered'"
    )
    assert [int(v.version) for v in registered] == [1]
    assert MlflowClient(remote, registry_uri=remote).search_model_versions() == []
    assert os.environ["MLFLOW_REGISTRY_URI"] == offline_uri
    assert mlflow.get_registry_uri() == offline_uri
