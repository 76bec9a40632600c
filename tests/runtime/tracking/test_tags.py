"""Run tags: runner name, the reproducing `kedro run` command, git state (real git)."""

import subprocess

import pytest

from kedro_mlflow_runtime.tracking.tags import (
    git_tags,
    kedro_command,
    pipeline_names,
    run_tags,
    runner_name,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("None", "SequentialRunner"),
        (None, "SequentialRunner"),
        ("<kedro.runner.thread_runner.ThreadRunner object at 0x7fe707229950>", "ThreadRunner"),
        ("<kedro.runner.parallel_runner.ParallelRunner object at 0x7f00aa>", "ParallelRunner"),
        ("ParallelRunner", "ParallelRunner"),
    ],
)
def test_runner_name(raw, expected):
    assert runner_name({"runner": raw}) == expected


def test_pipeline_names_default():
    assert pipeline_names({"pipeline_names": []}) == ["__default__"]
    assert pipeline_names({"pipeline_names": ["a", "b"]}) == ["a", "b"]


def test_kedro_command_reproduces_the_selection():
    run_params = {
        "pipeline_names": ["training"],
        "env": "prod",
        "runner": "<kedro.runner.thread_runner.ThreadRunner object at 0x7f>",
        "tags": ["t1", "t2"],
        "node_names": ["n1"],
        "from_nodes": [],
        "to_nodes": None,
        "from_inputs": ["raw"],
        "to_outputs": [],
        "namespaces": ["ns"],
        "load_versions": {"model": "2024-01-01T00.00.00.000Z"},
        "runtime_params": {"model.alpha": 0.1},
        "only_missing_outputs": True,
    }
    assert kedro_command(run_params) == (
        "kedro run --pipelines=training --env=prod --runner=ThreadRunner --tags=t1,t2 "
        "--nodes=n1 --from-inputs=raw --namespaces=ns "
        "--load-versions=model:2024-01-01T00.00.00.000Z --params=model.alpha=0.1 "
        "--only-missing-outputs"
    )
    assert kedro_command({"runner": "None"}) == "kedro run"


def git(path, *args):
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=path,
        check=True,
        capture_output=True,
    )


def test_git_tags_commit_branch_and_dirty_flag(tmp_path):
    assert git_tags(tmp_path) == {}  # not a repository
    git(tmp_path, "init", "-q", "-b", "main")
    assert git_tags(tmp_path) == {}  # no commit yet
    (tmp_path / "a.txt").write_text("a")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "init")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert git_tags(tmp_path) == {
        "mlflow.source.git.commit": head,
        "mlflow.source.git.branch": "main",
        "git_dirty": "false",
    }
    (tmp_path / "a.txt").write_text("changed")
    assert git_tags(tmp_path)["git_dirty"] == "true"


def test_the_kedro_command_masks_secret_params_and_url_passwords():
    command = kedro_command(
        {
            "runtime_params": {
                "password": "hunter2",
                "apiKey": "k-1",
                "db": "postgresql://u:pw9@h/db",
                "alpha": 0.5,
            }
        }
    )
    assert command == (
        "kedro run --params=password=***,apiKey=***,db=postgresql://u:***@h/db,alpha=0.5"
    )
    assert kedro_command({"runtime_params": {"host": "h1"}}, redact=["host"]) == (
        "kedro run --params=host=***"
    )


def test_kedro_mlflow_run_param_tags_keep_its_names_and_values_secrets_masked():
    """kedro-mlflow logs every truthy run_param as str(value): saved searches carry over."""
    run_params = {
        "run_id": "2026-11-30T10.00.00.000Z",
        "project_path": "/p",
        "env": "local",
        "pipeline_names": ["training"],
        "runner": "<kedro.runner.thread_runner.ThreadRunner object at 0x7f>",
        "tags": ["t1"],
        "from_nodes": ["split"],
        "to_nodes": [],
        "node_names": None,
        "load_versions": {"model": "2024-01-01T00.00.00.000Z"},
        "runtime_params": {"alpha": 0.1, "api_token": "s3cr3t", "db": "postgresql://u:pw@h/d"},
        "only_missing_outputs": False,
    }
    tags = run_tags(run_params, "local")
    assert tags["run_id"] == "2026-11-30T10.00.00.000Z"
    assert tags["pipeline_names"] == "['training']"
    assert tags["tags"] == "['t1']"
    assert tags["from_nodes"] == "['split']"
    assert tags["load_versions"] == "{'model': '2024-01-01T00.00.00.000Z'}"
    assert (
        tags["runtime_params"]
        == "{'alpha': 0.1, 'api_token': '***', 'db': 'postgresql://u:***@h/d'}"
    )
    assert tags["runner"] == "ThreadRunner"  # not the object's repr
    assert "to_nodes" not in tags and "node_names" not in tags  # falsy: not logged
    assert "only_missing_outputs" not in tags
