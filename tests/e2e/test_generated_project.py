"""A generated project, used as a user would: `kedro run` subprocesses, its own tests and lint,
`kedro mlflow ui`; what MLflow recorded is read back through the MLflow API."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import (
    VERSION,
    free_port,
    generate,
    kedro,
    recorded_runs,
    stop,
    wait_for_http,
)

pytestmark = pytest.mark.e2e

GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]


def git(project: Path, *args: str) -> str:
    return subprocess.run(
        [*GIT, *args], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    path = generate(tmp_path_factory.mktemp("generated") / "demo")
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "Initial commit from kedro-mlflow-starter")
    return path


def assert_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def test_kedro_run_records_one_finished_run_with_params_and_tags(project):
    assert_ok(kedro(project, "run"))
    [run] = recorded_runs(project / "mlflow.db")
    assert run.info.status == "FINISHED"
    assert run.data.params == {
        "split": "{'target': 'malignant', 'test_size': 0.25, 'random_state': 42}",
        "model": "{'alpha': 0.001, 'epochs': 20, 'random_state': 42}",
        "threshold": "0.5",
    }
    tags = run.data.tags
    assert tags["pipeline_names"] == "['__default__']"
    assert tags["env"] == "local"
    assert tags["runner"] == "SequentialRunner"
    assert tags["kedro_command"] == "kedro run"
    assert tags["kedro_mlflow_runtime_version"] == VERSION
    assert tags["kedro_version"].startswith("1.")
    assert tags["mlflow.source.git.commit"] == git(project, "rev-parse", "HEAD")
    assert tags["git_dirty"] == "false"  # mlflow.db, mlruns/ and data/ are git-ignored
    assert run.data.metrics["metrics.accuracy"] > 0.85


def test_kedro_run_from_a_subfolder_records_into_the_project_store(project):
    before = len(recorded_runs(project / "mlflow.db"))
    assert_ok(kedro(project, "run", "--pipelines", "training", cwd=project / "src"))
    runs = recorded_runs(project / "mlflow.db")
    assert len(runs) == before + 1
    assert runs[-1].info.run_name == "training"
    assert runs[-1].data.tags["kedro_command"] == "kedro run --pipelines=training"
    assert not (project / "src" / "mlflow.db").exists()
    assert not (project / "src" / "mlruns").exists()


def test_a_failing_node_leaves_a_failed_run(project):
    result = kedro(project, "run", "--params", "model.alpha=-1")
    assert result.returncode != 0
    run = recorded_runs(project / "mlflow.db")[-1]
    assert run.info.status == "FAILED"
    assert run.data.tags["error_type"] == "InvalidParameterError"
    assert "alpha" in run.data.tags["error_message"]
    assert run.data.params["model"].startswith("{'alpha': -1")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("name:", "nmae:"), "conf/base/mlflow.yml: tracking.experiment.nmae: unknown key"),
        (("nested: true", "nested: maybe"), "conf/base/mlflow.yml: tracking.run.nested: "),
    ],
)
def test_a_broken_mlflow_yml_stops_the_run_before_any_node(project, edit, message):
    mlflow_yml = project / "conf/base/mlflow.yml"
    output = project / "data/08_reporting/classification_report.csv"
    runs_before = len(recorded_runs(project / "mlflow.db"))
    output.unlink(missing_ok=True)
    original = mlflow_yml.read_text()
    mlflow_yml.write_text(original.replace(*edit, 1))
    try:
        result = kedro(project, "run")
    finally:
        mlflow_yml.write_text(original)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not output.exists(), "a node ran"
    assert len(recorded_runs(project / "mlflow.db")) == runs_before


def test_commands_that_run_no_pipeline_never_touch_mlflow(tmp_path):
    project = generate(tmp_path / "quiet")
    expected_output = {
        "--help": "mlflow",
        "registry list": "training",
        "catalog describe-datasets": "breast_cancer",
        "mlflow --help": "ui",
    }
    for command, expected in expected_output.items():
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "kedro", *command.split()],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
        )
        assert_ok(result)
        assert expected in result.stdout
        imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
        # the runtime was loaded (settings.py, the CLI entry point), mlflow was not
        assert "kedro_mlflow_runtime" in imported, command
        assert "mlflow" not in imported, f"`kedro {command}` imported mlflow"
    assert not (project / "mlflow.db").exists()
    assert not (project / "mlruns").exists()


@pytest.mark.parametrize("answers", [{}, {"example_pipeline": False}], ids=["example", "bare"])
def test_the_generated_project_passes_its_own_tests_and_lint(tmp_path, answers):
    project = generate(tmp_path / "own", **answers)
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert_ok(tests)
    assert (" passed" in tests.stdout) and (" failed" not in tests.stdout)
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
        cwd=project, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert_ok(lint)
    assert not (project / "mlflow.db").exists()


def test_kedro_mlflow_ui_serves_the_project_store(project):
    if not (project / "mlflow.db").exists():
        assert_ok(kedro(project, "run"))
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "kedro", "mlflow", "ui", "--port", str(port)],
        cwd=project / "conf",  # any folder of the project
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get-by-name"
    try:
        found = wait_for_http(f"{url}?experiment_name=kedro_mlflow_project", server)
        experiment = json.loads(found)["experiment"]
        assert experiment["name"] == "kedro_mlflow_project"
        search = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/2.0/mlflow/runs/search",
            data=json.dumps({"experiment_ids": [experiment["experiment_id"]]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(search, timeout=10) as response:
            runs = json.load(response)["runs"]
        assert len(runs) == len(recorded_runs(project / "mlflow.db"))
        # SIGTERM to `kedro` alone (as a service manager sends it) stops the UI server too
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        deadline = time.monotonic() + 15
        while port_in_use(port):
            assert time.monotonic() < deadline, f"the UI server still holds port {port}"
            time.sleep(0.3)
    finally:
        stop(server)


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0
