"""Right after `copier copy` a project passes its own lint, `ruff check .` and
`ruff format --check .`, with the newest ruff its requirements/dev.txt allows, on every answer
profile that changes what is rendered."""

from __future__ import annotations

import itertools
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import TEMPLATE_DIR, generate
from tests.venvs import bash, make_venv

pytestmark = pytest.mark.e2e  # pip installs ruff from the package index

# tracking_backend changes mlflow.yml and the README, example_pipeline the code, tests and
# README, runtime_from the requirements: every combination
PROFILES = [
    {"tracking_backend": backend, "example_pipeline": example, "runtime_from": source}
    for backend, example, source in itertools.product(
        ("local", "server", "databricks"), (True, False), ("git", "index")
    )
]


def ruff_requirement() -> str:
    """The generated project's ruff line (the same for every answer in requirements/dev.txt)."""
    lines = (TEMPLATE_DIR / "requirements/dev.txt.jinja").read_text().splitlines()
    [line] = [line for line in lines if re.match(r"ruff\b", line)]
    return line


@pytest.fixture(scope="session")
def ruff(tmp_path_factory) -> tuple[Path, str]:
    """The newest ruff the project's requirement allows (pip picks it), in a throwaway venv."""
    where = tmp_path_factory.mktemp("ruff")
    python = make_venv(where / "venv")
    done = bash(
        [f"{python} -m pip install --quiet '{ruff_requirement()}'"], where, where / "pip.log"
    )
    assert done.returncode == 0, done.stdout
    executable = where / "venv/bin/ruff"
    version = subprocess.run(
        [str(executable), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return executable, version


def test_ruff_is_pinned_to_one_minor_release():
    # a formatter change in a newer minor would otherwise fail `ruff format --check` in
    # every project the day it is released
    assert re.fullmatch(r"ruff>=0\.(\d+),<0\.(\d+)", ruff_requirement()), ruff_requirement()
    low, high = map(int, re.findall(r"0\.(\d+)", ruff_requirement()))
    assert high == low + 1


@pytest.mark.parametrize(
    "answers", PROFILES, ids=lambda a: "-".join(str(v) for v in a.values()).lower()
)
def test_a_new_project_passes_its_own_ruff_check_and_format_check(tmp_path, ruff, answers):
    executable, version = ruff
    project = generate(tmp_path / "project", project_name="Lint Check", **answers)
    for command in (["check", "--no-cache", "."], ["format", "--no-cache", "--check", "."]):
        done = subprocess.run(
            [str(executable), *command], cwd=project, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"{version} {' '.join(command)}:\n{done.stdout}{done.stderr}"
