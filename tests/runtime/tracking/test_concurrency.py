"""Many `kedro run`s at once on one local SQLite store: a fresh store is created once, and each
run logs what it saved itself."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import recorded_runs

pytestmark = pytest.mark.e2e

RUNS = 16


def run_all_at_once(project, arguments: list[list[str]]) -> list[str]:
    """One `kedro run ARGS` per ARGS, all started together; the failures' output, once all ended."""
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "kedro", "run", *args],
            cwd=project.path,
            env=dict(os.environ),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for args in arguments
    ]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    return [output[-3000:] for run, output in zip(runs, outputs, strict=True) if run.returncode]


def test_concurrent_first_runs_create_a_fresh_store_once(project):
    assert not project.db.exists()  # no mlflow.yml: the default sqlite:///mlflow.db

    failed = run_all_at_once(project, [[]] * RUNS)

    assert not failed, f"{len(failed)}/{RUNS} runs failed; the first:\n{failed[0]}"
    runs = recorded_runs(project.db)
    assert [run.info.status for run in runs] == ["FINISHED"] * RUNS
    with sqlite3.connect(project.db) as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master")]
    assert not [name for name in tables if name.startswith("_alembic_tmp")]


# Each run scales [1, 2, 3] by its own factor and saves it to one non-versioned artifact path,
# all runs at the same instant: a barrier in the node holds each until every run has reached it.
TOGETHER_NODES = """
import pathlib
import time


def together(values, factor, runs):
    barrier = pathlib.Path("data/barrier")
    barrier.mkdir(parents=True, exist_ok=True)
    (barrier / str(factor)).touch()
    deadline = time.monotonic() + 120
    while len(list(barrier.iterdir())) < runs and time.monotonic() < deadline:
        time.sleep(0.01)
    return [v * factor for v in values]
"""
TOGETHER_REGISTRY = """
from kedro.pipeline import Node, Pipeline

from .together import together


def register_pipelines():
    pipeline = Pipeline([Node(together, ["raw", "params:factor", "params:runs"], "shared")])
    return {"__default__": pipeline}
"""
SHARED_ARTIFACT = """
raw:
  type: json.JSONDataset
  filepath: data/raw.json
shared:
  type: kedro_mlflow_runtime.MlflowArtifactDataset
  dataset: {type: json.JSONDataset, filepath: data/shared/scaled.json}
"""


def test_concurrent_runs_sharing_a_non_versioned_artifact_each_log_their_own(project):
    project.write(f"src/{project.package}/together.py", TOGETHER_NODES)
    project.write(f"src/{project.package}/pipeline_registry.py", TOGETHER_REGISTRY)
    project.write("conf/base/catalog.yml", SHARED_ARTIFACT)

    failed = run_all_at_once(
        project, [["--params", f"factor={n},runs={RUNS}"] for n in range(1, RUNS + 1)]
    )

    assert not failed, f"{len(failed)}/{RUNS} runs failed; the first:\n{failed[0]}"
    runs = recorded_runs(project.db)
    client = MlflowClient(f"sqlite:///{project.db}")
    logged = {}
    for run in runs:
        with tempfile.TemporaryDirectory() as folder:
            path = client.download_artifacts(run.info.run_id, "scaled.json", folder)
            logged[int(run.data.params["factor"])] = _parsed(Path(path).read_text())
    wrong = {
        factor: values
        for factor, values in logged.items()
        if values != [factor, 2 * factor, 3 * factor]
    }
    assert len(logged) == RUNS and not wrong, f"{len(wrong)}/{RUNS} runs logged another's: {wrong}"
    # the file is where the catalog says, as one of the runs saved it, and nothing else is there
    shared = project.path / "data/shared"
    assert [path.name for path in shared.iterdir()] == ["scaled.json"]
    assert json.loads((shared / "scaled.json").read_text()) in logged.values()


def _parsed(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:  # two runs' writes mixed, or an empty file: what it is, for the message
        return text
