"""Template changes are written to merge (README, "Developing this repository"): a new mlflow.yml
key goes in its own commented block directly under its section's header line or under a blank
line, never next to another key's value line. Then a user who changed the value of EVERY key gets
the new keys from `copier update` with no conflict and every edit kept. Release N is this checkout
(a throwaway tagged repository), N+1 the same plus new keys; real copier, real git."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.template.conftest import edit, git, update

pytestmark = pytest.mark.e2e
KEY_VALUE = re.compile(r"^(?P<indent> *)(?P<key>[a-z_]+): (?P<value>\S.*)$")
MLFLOW_YML = "template/conf/base/mlflow.yml.jinja"


def edited_value(value: str, tag: str) -> str:
    if value in ("true", "false"):
        return "false" if value == "true" else "true"
    if value.isdigit():
        return str(int(value) + 1)
    if value == "{}":
        return f"{{edited: {tag}}}"
    if value.startswith("["):  # a list, possibly continued on the next lines
        return f'["{tag}"]' if value == "[]" else f'["{tag}", {value[1:]}'
    return f'"{tag}"'


def edit_every_key(path: Path) -> list[str]:
    """Change the value of every key of a mlflow.yml; returns the edited lines."""
    lines, edited = path.read_text().splitlines(keepends=True), []
    for number, line in enumerate(lines):
        match = KEY_VALUE.match(line.rstrip("\n"))
        if match:
            tag = f"edited-{match['key']}-{number}"
            lines[number] = (
                f"{match['indent']}{match['key']}: {edited_value(match['value'], tag)}\n"
            )
            edited.append(lines[number])
    path.write_text("".join(lines))
    return edited


def leaves(tree: dict) -> int:
    return sum(leaves(value) if isinstance(value, dict) and value else 1 for value in tree.values())


def release_new_keys(repo: Path, placements: list[tuple[str, str, str]]) -> None:
    """v0.2.0: each (above, block, below) inserts `block` between the lines `above` and `below`."""
    for above, block, below in placements:
        edit(repo / MLFLOW_YML, above + below, above + block + below)
    (repo / "runtime/kedro_mlflow_runtime/VERSION").write_text("0.2.0\n")
    git(repo, "commit", "-qam", "v0.2.0: new mlflow.yml keys")
    git(repo, "tag", "v0.2.0")


BY_THE_CONVENTION = [
    # directly under a section's header line
    ("  run:\n",
     "    # New in v0.2.0: a description shown in the MLflow UI.\n    description: null\n",
     "    # Log into this existing run"),
    # directly under the blank line that ends a section
    ("    nesting: none\n\n",
     "    # New in v0.2.0: tag the run with these environment variables.\n"
     "    tags_from_env: []\n\n",
     "  # How parameters are logged.\n"),
    # a new top-level section, under the blank line before the next one
    ("\n",
     "# New in v0.2.0: how `kedro mlflow models` lists models.\nmodels:\n"
     "  # Newest first?\n  newest_first: true\n\n",
     "# `kedro mlflow ui`.\n"),
]  # fmt: skip
AGAINST_THE_CONVENTION = [
    # directly under another key's value line
    ("    nesting: none\n", "    # New in v0.2.0.\n    description: null\n", "\n"),
]


def conflict_markers(project: Path) -> list[str]:
    return [
        f"{path.relative_to(project)}:{number}"
        for path in project.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(project).parts
        for number, line in enumerate(path.read_bytes().splitlines(), start=1)
        if line.startswith((b"<<<<<<<", b">>>>>>>"))
    ]


def test_new_keys_written_by_the_convention_merge_with_an_edit_of_every_key(project, template_repo):
    mlflow_yml = project / "conf/base/mlflow.yml"
    edited = edit_every_key(mlflow_yml)
    assert len(edited) == leaves(yaml.safe_load(mlflow_yml.read_text())) == 26  # every key
    git(project, "commit", "-qam", "my values for every mlflow.yml key")

    release_new_keys(template_repo, BY_THE_CONVENTION)
    update(project)

    assert conflict_markers(project) == []
    merged = mlflow_yml.read_text()
    kept = [line for line in edited if line in merged.splitlines(keepends=True)]
    assert kept == edited  # every edit kept, unchanged
    config = yaml.safe_load(merged)
    assert config["tracking"]["run"]["description"] is None  # and the template's new keys
    assert config["tracking"]["run"]["tags_from_env"] == []
    assert config["models"] == {"newest_first": True}


def test_a_key_written_under_another_keys_value_line_conflicts(project, template_repo):
    """The check can fail: the same update with the new key against the convention."""
    edit_every_key(project / "conf/base/mlflow.yml")
    git(project, "commit", "-qam", "my values for every mlflow.yml key")

    release_new_keys(template_repo, AGAINST_THE_CONVENTION)
    update(project)

    markers = conflict_markers(project)
    assert len(markers) == 2, markers  # one conflict: <<<<<<< ... >>>>>>>
    assert all(marker.startswith("conf/base/mlflow.yml:") for marker in markers)
