"""Make a release: one version for the template and the runtime (stdlib only).

    python scripts/release.py X.Y.Z    (make release VERSION=X.Y.Z)
        writes X.Y.Z to the version source, moves CHANGELOG.md's "Unreleased" section under
        "[X.Y.Z] - <today>", commits both and tags the commit vX.Y.Z. Then: git push --follow-tags
    python scripts/release.py --check
        exits 1 when the newest release tag and the version source disagree.

Generated projects pin the runtime at the release tag they were rendered from, so the tag and the
version the runtime reports must be the same release.
"""

from __future__ import annotations

import datetime
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VERSION_FILE = Path("runtime/kedro_mlflow_runtime/VERSION")
CHANGELOG = Path("CHANGELOG.md")
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_UNRELEASED = re.compile(r"^## \[Unreleased\][^\n]*\n(?P<body>.*?)(?=^## \[|\Z)", re.M | re.S)


class ReleaseError(Exception):
    """A release that must not be made; the message says why and what to do."""


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()


def parse(version: str) -> tuple[int, int, int]:
    match = _VERSION.match(version)
    if not match:
        raise ReleaseError(f"'{version}' is not a release version: use X.Y.Z, e.g. 0.2.0")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def newest_tag(repo: Path) -> str | None:
    """The highest vX.Y.Z tag of the repository (None before the first release)."""
    tags = [tag for tag in _git(repo, "tag", "--list", "v*").split() if _VERSION.match(tag[1:])]
    return max(tags, key=lambda tag: parse(tag[1:]), default=None)


def check(repo: Path) -> str | None:
    """Why the newest release tag and the version source disagree (None: they agree)."""
    tag = newest_tag(repo)
    version = (repo / VERSION_FILE).read_text().strip()
    if tag is not None and tag != f"v{version}":
        return (
            f"The newest release tag is {tag} but {VERSION_FILE} says {version}: make releases "
            "with `make release VERSION=X.Y.Z`, which writes both."
        )
    return None


def move_unreleased(changelog: str, version: str, today: datetime.date) -> str:
    match = _UNRELEASED.search(changelog)
    if not match or not match.group("body").strip():
        raise ReleaseError(
            f"{CHANGELOG} has nothing under '## [Unreleased]': list what this release changes "
            "there first (Keep a Changelog: ### Added / Changed / Fixed / Removed)."
        )
    released = f"## [Unreleased]\n\n## [{version}] - {today.isoformat()}\n{match.group('body')}"
    return changelog[: match.start()] + released + changelog[match.end() :]


def release(repo: Path, version: str, today: datetime.date | None = None) -> str:
    """Bump, record, commit and tag; returns the tag."""
    parse(version)
    if _git(repo, "status", "--porcelain"):
        raise ReleaseError("The working tree has uncommitted changes: commit or stash them first.")
    tag = f"v{version}"
    previous = newest_tag(repo)
    if previous is not None and parse(version) <= parse(previous[1:]):
        raise ReleaseError(f"{version} is not newer than the last release, {previous}.")
    changelog = move_unreleased(
        (repo / CHANGELOG).read_text(), version, today or datetime.date.today()
    )
    (repo / CHANGELOG).write_text(changelog)
    (repo / VERSION_FILE).write_text(version + "\n")
    _git(repo, "add", str(CHANGELOG), str(VERSION_FILE))
    _git(repo, "commit", "-q", "-m", f"Release {tag}")
    _git(repo, "tag", "-a", tag, "-m", f"kedro-mlflow-starter {version}")
    return tag


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        problem = check(ROOT)
        print(problem or f"Release tag and {VERSION_FILE} agree.")
        return 1 if problem else 0
    if len(argv) != 1:
        print(__doc__)
        return 2
    try:
        tag = release(ROOT, argv[0])
    except ReleaseError as error:
        print(f"release: {error}", file=sys.stderr)
        return 1
    print(f"Released {tag}. Publish it with: git push --follow-tags")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
