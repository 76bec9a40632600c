"""Fixtures of the `copier update` tests: a throwaway tagged git repository of this template
(v0.1.0, then releases made in the test), a project copied from it, and copier's own commands."""

from __future__ import annotations

import subprocess
from pathlib import Path

import copier
import pytest
import yaml

from tests.conftest import git_repo, snapshot_checkout

PACKAGE = "kedro_mlflow_project"


def git(path: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=path, capture_output=True, text=True, check=True
    ).stdout


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


@pytest.fixture
def template_repo(tmp_path: Path) -> Path:
    """This checkout as it is, committed and tagged v0.1.0 in a fresh repository."""
    repo = snapshot_checkout(tmp_path / "template-repo")
    (repo / "runtime/kedro_mlflow_runtime/VERSION").write_text("0.1.0\n")
    return git_repo(repo, tag="v0.1.0")


def release_v2(repo: Path) -> None:
    """A template release that touches template-owned files only."""
    settings = repo / "template/src/{{ package_name }}/settings.py"
    edit(settings, "CONFIG_LOADER_CLASS", "# Added in v0.2.0.\nCONFIG_LOADER_CLASS")
    mlflow_yml = repo / "template/conf/base/mlflow.yml.jinja"
    edit(mlflow_yml, "# `kedro mlflow ui`.", "# `kedro mlflow ui` (updated in v0.2.0).")
    (repo / "runtime/kedro_mlflow_runtime/VERSION").write_text("0.2.0\n")
    git(repo, "commit", "-qam", "v0.2.0")
    git(repo, "tag", "v0.2.0")


@pytest.fixture
def project(tmp_path: Path, template_repo: Path) -> Path:
    path = tmp_path / "project"
    copier.run_copy(str(template_repo), path, defaults=True, vcs_ref="v0.1.0", quiet=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "Initial commit from kedro-mlflow-starter")
    return path


def update(project: Path, ref: str = "v0.2.0") -> None:
    copier.run_update(project, defaults=True, overwrite=True, vcs_ref=ref, quiet=True)


def change_answers(project: Path, **data: object) -> None:
    """`copier update --data KEY=VALUE --vcs-ref :current:`: new answers, same template version
    (the API spells `:current:` as the recorded `_commit`)."""
    current = yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"]
    copier.run_update(
        project, data=data, defaults=True, overwrite=True, vcs_ref=current, quiet=True
    )
