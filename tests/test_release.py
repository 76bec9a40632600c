"""Releases: `make release VERSION=X.Y.Z` bumps the one version source, moves CHANGELOG.md's
"Unreleased" section under the new version, commits and tags; the newest tag and the version
source must agree (a generated project pins the runtime at the tag it was rendered from)."""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, VERSION, git_repo, snapshot_checkout

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import release  # noqa: E402

TODAY = datetime.date.today().isoformat()


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()


def make_release(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "release", *args, f"PYTHON={sys.executable}"],
        cwd=repo, capture_output=True, text=True, check=False,
    )  # fmt: skip


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of this checkout, committed: its first release not made yet."""
    return git_repo(snapshot_checkout(tmp_path / "starter"))


def test_this_repository_s_newest_tag_is_its_version():
    assert release.check(REPO_ROOT) is None
    assert (REPO_ROOT / "CHANGELOG.md").read_text().startswith("# Changelog\n")


def test_make_release_bumps_records_commits_and_tags(repo):
    unreleased = (repo / "CHANGELOG.md").read_text().split("## [Unreleased]\n", 1)[1]
    done = make_release(repo, "VERSION=7.1.0")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Released v7.1.0. Publish it with: git push --follow-tags" in done.stdout

    assert (repo / "runtime/kedro_mlflow_runtime/VERSION").read_text() == "7.1.0\n"
    changelog = (repo / "CHANGELOG.md").read_text()
    assert f"## [Unreleased]\n\n## [7.1.0] - {TODAY}\n{unreleased}" in changelog
    assert git(repo, "describe", "--tags", "--exact-match") == "v7.1.0"
    assert git(repo, "log", "-1", "--format=%s") == "Release v7.1.0"
    assert git(repo, "status", "--porcelain") == ""
    assert release.check(repo) is None

    # the next release needs something new under Unreleased, and a higher version
    done = make_release(repo, "VERSION=7.2.0")
    assert done.returncode != 0
    assert "has nothing under '## [Unreleased]'" in done.stderr
    changelog_path = repo / "CHANGELOG.md"
    changelog_path.write_text(
        changelog.replace("## [Unreleased]\n", "## [Unreleased]\n\n### Fixed\n\n- A bug.\n", 1)
    )
    git(repo, "commit", "-qam", "fix")
    done = make_release(repo, "VERSION=7.0.9")
    assert done.returncode != 0
    assert "7.0.9 is not newer than the last release, v7.1.0." in done.stderr
    assert make_release(repo, "VERSION=7.2.0").returncode == 0
    assert release.newest_tag(repo) == "v7.2.0"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "usage: make release VERSION=X.Y.Z"),
        (("VERSION=1.2",), "'1.2' is not a release version: use X.Y.Z"),
        (("VERSION=v1.2.3",), "'v1.2.3' is not a release version: use X.Y.Z"),
    ],
)
def test_make_release_refuses_a_malformed_version(repo, args, message):
    done = make_release(repo, *args)
    assert done.returncode != 0
    assert message in done.stdout + done.stderr
    assert release.newest_tag(repo) is None


def test_make_release_refuses_a_dirty_tree(repo):
    (repo / "notes.md").write_text("wip\n")
    done = make_release(repo, "VERSION=7.1.0")
    assert done.returncode != 0
    assert "uncommitted changes" in done.stderr


def test_the_check_fails_when_the_tag_and_the_version_disagree(repo):
    assert release.check(repo) is None  # before any release: nothing to compare
    git(repo, "tag", f"v{VERSION}")
    assert release.check(repo) is None
    (repo / "runtime/kedro_mlflow_runtime/VERSION").write_text("9.9.9\n")
    git(repo, "commit", "-qam", "bumped by hand")
    problem = release.check(repo)
    assert problem == (
        f"The newest release tag is v{VERSION} but runtime/kedro_mlflow_runtime/VERSION says "
        "9.9.9: make releases with `make release VERSION=X.Y.Z`, which writes both."
    )
    done = subprocess.run(
        [sys.executable, "scripts/release.py", "--check"],
        cwd=repo, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout.strip()) == (1, problem)
