"""A release history, as a user lives it: a throwaway repository of this template with four
releases, each a realistic template change written by the merge convention (README, "Developing
this repository"); a project copied at the first release and edited in 18 ways; then updated
release by release, and a twin project updated in one jump. Both end identical, no edit is lost,
there is no conflict (no edit shares a line with a template change), the project's own tests
pass and `kedro run` records a FINISHED run. Real copier, real git, real Kedro."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import copier
import pytest
import yaml

from tests.conftest import kedro, recorded_runs
from tests.template.conftest import PACKAGE, edit, git

pytestmark = pytest.mark.e2e
TEMPLATE = "template"
PKG = "template/src/{{ package_name }}"
TRAINING = "template/src/{{ package_name }}/pipelines/{% if example_pipeline %}training{% endif %}"


def release(repo: Path, version: str, changes: dict[str, tuple[str, str]]) -> None:
    for old_name, new_name in RENAMES.get(version, {}).items():
        git(repo, "mv", old_name, new_name)
    for name, (old, new) in changes.items():
        edit(repo / name, old, new)
    (repo / "runtime/kedro_mlflow_runtime/VERSION").write_text(version.lstrip("v") + "\n")
    git(repo, "commit", "-qam", f"Release {version}")
    git(repo, "tag", version)


# the first release has no `ui.host` key: v0.3.0 adds it, by the merge convention
UI_HOST = "  # Host to serve it on (127.0.0.1: this machine only).\n  host: 127.0.0.1\n"
MLFLOW_YML = f"{TEMPLATE}/conf/base/mlflow.yml.jinja"
# v0.4.0 renames a template-owned file, with the migration that stops the update if it was edited
RENAMES = {
    "v0.4.0": {
        f"{TEMPLATE}/tests/test_no_conflict_markers.py": f"{TEMPLATE}/tests/test_conflict_markers.py"
    }
}
REFUSE_TO_DROP = (
    "_migrations:\n  - version: v0.4.0\n    when: \"{{ _stage == 'before' }}\"\n"
    '    command: ["{{ _copier_python }}", '
    '"{{ _copier_conf.src_path }}/hooks/refuse_to_drop_edited_files.py", '
    '"tests/test_no_conflict_markers.py"]'
)

RELEASES = {
    # mlflow.yml: a comment reworded; settings.py: a new commented setting block; a new pin
    "v0.2.0": {
        f"{TEMPLATE}/conf/base/mlflow.yml.jinja": (
            "# `kedro mlflow ui`.\n",
            "# `kedro mlflow ui` (its command-line options override these).\n",
        ),
        f"{PKG}/settings.py": ("\nCONFIG_LOADER_CLASS", "\n# Set in v0.2.0.\nCONFIG_LOADER_CLASS"),
        f"{TEMPLATE}/requirements/template.txt.jinja": ("kedro~=1.7\n", "kedro~=1.7\npyyaml>=6\n"),
    },
    # .gitignore: a new block under a blank line; pyproject: a pytest option; the template's docs
    "v0.3.0": {
        f"{TEMPLATE}/.gitignore.jinja": (
            "\n# --- Python ---\n", "\n# --- Kedro-Viz ---\n.viz/\n\n# --- Python ---\n"
        ),
        f"{TEMPLATE}/pyproject.toml.jinja": ('addopts = "-ra"', 'addopts = "-ra --strict-markers"'),
        f"{TEMPLATE}/docs/kedro-mlflow-starter.md.jinja": (
            "## Testing\n", "## Testing\n\nThe project's tests need no tracking server.\n"
        ),
        MLFLOW_YML: ("ui:\n", "ui:\n" + UI_HOST),  # a new key, under its section's header
    },
    # mlflow.yml: a default changes; the project's own checks get a new test
    "v0.4.0": {
        f"{TEMPLATE}/conf/base/mlflow.yml.jinja": ("  connect_timeout: 15\n", "  connect_timeout: 20\n"),
        "copier.yml": ("_migrations: []", REFUSE_TO_DROP),
        f"{TEMPLATE}/tests/test_project.py": (
            "\n\ndef test_every_dataset",
            '\n\ndef test_the_default_pipeline_has_nodes():\n    assert pipelines["__default__"].nodes\n'
            "\n\ndef test_every_dataset",
        ),
    },
    # the example changes (users who have it keep theirs), and the README template too
    "v0.5.0": {
        f"{TRAINING}/nodes.py": ('"""', '"""Changed in v0.5.0.\n', ),
        f"{TEMPLATE}/README.md.jinja": ("## Installing\n", "## Installing\n\nChanged in v0.5.0.\n"),
        f"{PKG}/pipeline_registry.py": ("Register the project's pipelines.", "Register the pipelines."),
    },
}  # fmt: skip

OWN_PIPELINE = '''"""The user's pipeline."""

from kedro.pipeline import Node, Pipeline


def double(rate):
    return rate * 2


def create_pipeline(**kwargs):
    return Pipeline([Node(double, "params:rate", "doubled", name="double")])
'''


OWN_TEST = """import importlib
from pathlib import Path

from kedro.framework.startup import bootstrap_project

PACKAGE = bootstrap_project(Path(__file__).resolve().parents[1]).package_name
doubling = importlib.import_module(f"{PACKAGE}.pipelines.doubling")


def test_double():
    assert doubling.double(2) == 4
"""


def user_edits(project: Path) -> dict[str, list[str]]:
    """18 kinds of edits, committed (conf/local is git-ignored); returns the texts each file
    must keep."""
    append = {
        "README.md": "\n## Our team notes\n\nAsk Ana before changing the split.\n",
        "conf/base/catalog.yml": "\ndoubled:\n  type: kedro.io.MemoryDataset\n",
        "conf/base/parameters.yml": "\nrate: 0.25\n",
        "requirements/project.txt": "tabulate>=0.9\n",
        f"src/{PACKAGE}/settings.py": "\n# Ours: keep sessions in memory.\n",
        "pyproject.toml": '\n[tool.mypy]\nfiles = ["src"]\n',
        ".gitignore": "\n# ours\n*.parquet\n",
        "docs/example-pipeline.md": "\nOur notes on the example.\n",
    }
    for name, text in append.items():
        path = project / name
        path.write_text(path.read_text() + text)
    edit(project / "conf/base/mlflow.yml", "    name: null\n", "    name: team-runs\n")
    edit(
        project / "conf/base/mlflow.yml", "  port: 5000\n", "  port: 5001\n"
    )  # new key's neighbour
    edit(
        project / "conf/base/mlflow.yml",
        "# MLflow settings",
        "# Ours: reviewed.\n# MLflow settings",
    )
    edit(project / "conf/base/parameters_training.yml", "epochs: 20", "epochs: 6")
    nodes = project / f"src/{PACKAGE}/pipelines/training/nodes.py"
    edit(nodes, "from typing import Any", "# ours\nfrom typing import Any")
    (project / f"src/{PACKAGE}/pipelines/doubling").mkdir()
    (project / f"src/{PACKAGE}/pipelines/doubling/__init__.py").write_text(OWN_PIPELINE)
    (project / "tests/test_doubling.py").write_text(OWN_TEST)
    (project / "notes.md").write_text("# Notes\n")
    git(project, "rm", "-rq", "tests/pipelines/inference")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "our work")
    (project / "conf/local/mlflow.yml").write_text("tracking:\n  run:\n    name: my-laptop\n")
    (project / "conf/local/credentials.yml").write_text("mine:\n  TOKEN: t\n")
    kept = {name: [text] for name, text in append.items()}
    kept.update({
        "conf/base/mlflow.yml": ["    name: team-runs\n", "# Ours: reviewed.\n", "  port: 5001\n"],
        "conf/base/parameters_training.yml": ["epochs: 6"],
        f"src/{PACKAGE}/pipelines/training/nodes.py": ["# ours\nfrom typing import Any"],
        f"src/{PACKAGE}/pipelines/doubling/__init__.py": [OWN_PIPELINE],
        "tests/test_doubling.py": [OWN_TEST],
        "notes.md": ["# Notes\n"],
        "conf/local/mlflow.yml": ["name: my-laptop"],
        "conf/local/credentials.yml": ["TOKEN: t"],
    })  # fmt: skip
    return kept


def files(project: Path) -> dict[str, bytes]:
    names = git(project, "ls-files", "--cached", "--others", "--exclude-standard").splitlines() + [
        "conf/local/mlflow.yml",
        "conf/local/credentials.yml",
    ]
    return {name: (project / name).read_bytes() for name in names if (project / name).is_file()}


def conflicts(project: Path) -> list[str]:
    return [
        name
        for name, text in files(project).items()
        if any(line.startswith((b"<<<<<<<", b">>>>>>>")) for line in text.splitlines())
    ] + [str(path) for path in project.rglob("*.rej")]


def test_a_release_history_step_by_step_and_in_one_jump(tmp_path, template_repo):
    edit(template_repo / MLFLOW_YML, UI_HOST, "")  # the first release, before ui.host existed
    git(template_repo, "commit", "-qam", "Release v0.1.0")
    git(template_repo, "tag", "-f", "v0.1.0")
    projects = {}
    for name in ("steps", "jump"):
        project = tmp_path / name
        copier.run_copy(str(template_repo), project, defaults=True, vcs_ref="v0.1.0", quiet=True)
        git(project, "init", "-q", "-b", "main")
        git(project, "add", "-A")
        git(project, "commit", "-qm", "Initial commit from kedro-mlflow-starter")
        projects[name] = project
    kept = user_edits(projects["steps"])
    assert user_edits(projects["jump"]) == kept
    assert sum(map(len, kept.values())) == 18  # + the deleted inference tests: 19 kinds
    for version, changes in RELEASES.items():
        release(template_repo, version, changes)

    for version in RELEASES:
        copier.run_update(  # unsafe: v0.4.0's migration (copier's --trust)
            projects["steps"],
            defaults=True,
            overwrite=True,
            vcs_ref=version,
            quiet=True,
            unsafe=True,
        )
        assert conflicts(projects["steps"]) == [], version
        git(projects["steps"], "add", "-A")
        git(projects["steps"], "commit", "-qm", f"Update to {version}")
    copier.run_update(
        projects["jump"], defaults=True, overwrite=True, vcs_ref="v0.5.0", quiet=True, unsafe=True
    )
    assert conflicts(projects["jump"]) == []

    steps, jump = files(projects["steps"]), files(projects["jump"])
    assert steps == jump  # the same project either way
    for name, texts in kept.items():
        for text in texts:
            assert text in steps[name].decode(), f"lost: {name}: {text!r}"
    assert "tests/pipelines/inference/test_pipeline.py" not in steps  # stays deleted
    assert "tests/test_conflict_markers.py" in steps  # renamed by v0.4.0
    assert "tests/test_no_conflict_markers.py" not in steps
    assert "  # Host to serve it on" in steps["conf/base/mlflow.yml"].decode()  # the new key
    for version, changes in RELEASES.items():  # every template change arrived ...
        for template_name, (_, new) in changes.items():
            if not template_name.startswith(TEMPLATE):
                continue  # copier.yml: the template's own
            name = template_name.removeprefix("template/").removesuffix(".jinja")
            name = name.replace("{{ package_name }}", PACKAGE).replace(
                "{% if example_pipeline %}training{% endif %}", "training"
            )
            arrived = new.strip() in steps[name].decode()
            # ... except to the user's files (README, the example): theirs since copier copy
            assert arrived == (version != "v0.5.0" or name.endswith("pipeline_registry.py")), name
    answers = yaml.safe_load(steps[".copier-answers.yml"])
    assert answers["_commit"] == "v0.5.0"

    project = projects["steps"]
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout + tests.stderr
    result = kedro(project, "run")
    assert result.returncode == 0, result.stdout + result.stderr
    [run] = recorded_runs(project / "mlflow.db")
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "my-laptop"
    assert run.data.params["rate"] == "0.25"
    assert run.data.params["model"].startswith("{'alpha': 0.001, 'epochs': 6")
