"""The repository itself: no tracking store is committed (a stray `kedro run` or test in the
checkout writes `mlflow.db` or `mlruns/` at its root; .gitignore keeps them out, but a file added
before that rule, or with `git add -f`, would still ship with every clone and template copy)."""

from __future__ import annotations

import subprocess
from pathlib import PurePosixPath

from tests.conftest import REPO_ROOT


def test_the_repository_tracks_no_tracking_store():
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    stores = [
        name
        for name in filter(None, tracked)
        if PurePosixPath(name).suffix in (".db", ".sqlite", ".sqlite3")
        or {"mlruns", "mlartifacts", "mlflow-offline"} & set(PurePosixPath(name).parts)
    ]
    assert stores == [], f"tracking stores committed to the repository: {stores}"
