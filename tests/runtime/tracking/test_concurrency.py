"""Many `kedro run`s at once on one local SQLite store: a fresh store is created once, and each
run logs what it saved itself."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from tests.conftest import recorded_runs

pytestmark = pytest.mark.e2e

RUNS = 16


def run_all_at_once(project, *args: str) -> list[subprocess.CompletedProcess[str]]:
    """`kedro run ARGS` RUNS times, all started together; their results once all have ended."""
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "kedro", "run", *args],
            cwd=project.path,
            env=dict(os.environ),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        for _ in range(RUNS)
    ]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    return [
        subprocess.CompletedProcess(run.args, run.returncode, output)
        for run, output in zip(runs, outputs, strict=True)
    ]


def test_concurrent_first_runs_create_a_fresh_store_once(project):
    assert not project.db.exists()  # no mlflow.yml: the default sqlite:///mlflow.db

    results = run_all_at_once(project)

    failed = [result.stdout[-3000:] for result in results if result.returncode != 0]
    assert not failed, f"{len(failed)}/{RUNS} runs failed; the first:\n{failed[0]}"
    runs = recorded_runs(project.db)
    assert [run.info.status for run in runs] == ["FINISHED"] * RUNS
    with sqlite3.connect(project.db) as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master")]
    assert not [name for name in tables if name.startswith("_alembic_tmp")]
