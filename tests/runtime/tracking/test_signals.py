"""Every way a `kedro run` can end is recorded: SIGTERM and SIGHUP mark the run KILLED (then the
process dies of the signal, as it would have), with each runner, and no worker outlives the run;
a node error marks it FAILED; a run whose process was killed with -9 is found and ended by
`kedro mlflow runs --stale --end`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import recorded_runs

pytestmark = pytest.mark.e2e

RUNNERS = ["SequentialRunner", "ThreadRunner", "ParallelRunner"]


def start_noted_run(project, runner: str, pid_file: Path) -> subprocess.Popen:
    """`kedro run` of a node that notes its process id, then waits a minute."""
    process = subprocess.Popen(
        [sys.executable, "-m", "kedro", "run", "--pipelines", "noted", "--runner", runner,
         "--params", f"pid_file={pid_file},seconds=60"],
        cwd=project.path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not pid_file.exists() or not pid_file.read_text():
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "the node never started"
        time.sleep(0.2)
    return process


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (dead, not yet reaped by its parent) counts as gone
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
@pytest.mark.parametrize("runner", RUNNERS)
def test_a_termination_signal_marks_the_run_killed(project, tmp_path, runner, signum):
    pid_file = tmp_path / "node.pid"
    process = start_noted_run(project, runner, pid_file)
    node_pid = int(pid_file.read_text())
    try:
        process.send_signal(signum)
        process.wait(timeout=60)
    finally:
        process.kill()

    assert process.returncode == -signum  # died of the signal, as without the runtime
    [run] = recorded_runs(project.db)
    assert run.info.status == "KILLED"
    assert run.data.tags["error_type"] == "RunKilledError"
    assert signal.Signals(signum).name in run.data.tags["error_message"]
    deadline = time.monotonic() + 10
    while alive(node_pid):  # a ParallelRunner worker never outlives the run
        assert time.monotonic() < deadline, f"worker {node_pid} outlived the run"
        time.sleep(0.2)


@pytest.mark.parametrize("runner", RUNNERS)
def test_a_node_error_marks_the_run_failed(project, runner):
    done = subprocess.run(
        [sys.executable, "-m", "kedro", "run", "--pipelines", "failing", "--runner", runner],
        cwd=project.path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    [run] = recorded_runs(project.db)
    assert run.info.status == "FAILED"
    assert "boom: the node failed on purpose" in run.data.tags["error_message"]


def test_a_run_killed_with_minus_9_is_found_and_ended_as_stale(project, tmp_path):
    pid_file = tmp_path / "node.pid"
    process = start_noted_run(project, "SequentialRunner", pid_file)
    process.kill()  # SIGKILL: nothing in the process can record it
    process.wait(timeout=30)
    [run] = recorded_runs(project.db)
    assert run.info.status == "RUNNING"

    def kedro_mlflow(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "kedro", "mlflow", "runs", *args],
            cwd=project.path, capture_output=True, text=True, timeout=300, check=False,
            env={**os.environ, "COLUMNS": "1000"},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    listed = kedro_mlflow("--stale")
    assert "1 stale (their process is gone) run(s)" in listed
    assert run.info.run_id in listed and "kedro mlflow runs --stale --end" in listed
    assert "1 run(s) marked KILLED" in kedro_mlflow("--stale", "--end")
    [ended] = recorded_runs(project.db)
    assert ended.info.status == "KILLED"
    assert "0 stale" in kedro_mlflow("--stale")


def test_a_run_whose_process_still_runs_is_not_stale(project, tmp_path):
    pid_file = tmp_path / "node.pid"
    process = start_noted_run(project, "SequentialRunner", pid_file)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "kedro", "mlflow", "runs", "--stale", "--end"],
            cwd=project.path, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "0 run(s) marked KILLED" in done.stdout
        [run] = recorded_runs(project.db)
        assert run.info.status == "RUNNING"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
