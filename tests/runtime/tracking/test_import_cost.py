"""The collector is paused while mlflow is first imported, and what the import created is frozen
only in a process started by the `kedro` CLI (bench/tracking_overhead.py measures the gain)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kedro_mlflow_runtime.tracking.import_cost import started_by_kedro_cli

PROBE = """
import gc, sys
sys.argv[0] = {argv0!r}
from kedro_mlflow_runtime.tracking.import_cost import importing_mlflow
with importing_mlflow():
    paused = not gc.isenabled()
    import mlflow
print(paused, gc.isenabled(), gc.get_freeze_count() > 0)
"""


@pytest.mark.parametrize(
    ("argv0", "frozen"),
    [("python -m kedro", True), ("/venv/bin/kedro", True), ("/venv/bin/jupyter-lab", False)],
)
def test_the_first_mlflow_import_pauses_the_collector_and_freezes_only_under_the_cli(argv0, frozen):
    probe = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv0=argv0)],
        capture_output=True,
        text=True,
        check=True,
    )
    paused, enabled_after, froze = probe.stdout.split()
    assert (paused, enabled_after, froze) == ("True", "True", str(frozen))


@pytest.mark.parametrize(
    ("argv0", "expected"),
    [
        ("python -m kedro", True),
        ("/venv/bin/kedro", True),
        ("/venv/lib/python3.11/site-packages/kedro/__main__.py", True),
        ("/venv/bin/pytest", False),
        ("", False),
    ],
)
def test_started_by_kedro_cli(monkeypatch, argv0, expected):
    monkeypatch.setattr(sys, "argv", [argv0])
    assert started_by_kedro_cli() is expected


def test_a_second_import_changes_nothing():
    import gc

    import mlflow  # noqa: F401 - already imported by the test session

    from kedro_mlflow_runtime.tracking.import_cost import importing_mlflow

    frozen = gc.get_freeze_count()
    with importing_mlflow():
        assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
