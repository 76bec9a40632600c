"""One owner per file (issue #16): the user's README and the example pipeline, one unit of code,
tests, config, data, walkthrough and notebook, belong to the user after `copier copy`.
`copier update` never renders them again: it adds no example file, brings back none the user
deleted, changes none, and deletes none, not even when the answer `example_pipeline` is turned
off. Real copier, real git, a throwaway tagged repository of this template."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pathspec import PathSpec

from tests.conftest import TEMPLATE_DIR, kedro, recorded_runs
from tests.template.conftest import PACKAGE, edit, git, release_v2, update

pytestmark = pytest.mark.e2e
CONDITIONAL = re.compile(r"{% if example_pipeline %}(.*?){% endif %}")


def example_files() -> list[str]:
    """Where the template's example files land in a project: every template path with an
    `{% if example_pipeline %}` part (the list `_exclude` in copier.yml must cover)."""
    found = []
    for path in TEMPLATE_DIR.rglob("*"):
        relative = path.relative_to(TEMPLATE_DIR).as_posix()
        if path.is_file() and CONDITIONAL.search(relative):
            relative = CONDITIONAL.sub(r"\1", relative).replace("{{ package_name }}", PACKAGE)
            found.append(relative.removesuffix(".jinja"))
    return sorted(found)


EXAMPLE = example_files()


def release_with_example_changes(repo: Path) -> None:
    """v0.2.0: the template's own files change (release_v2), and so does the example: a node edited,
    a new pipeline file, a new config file, the walkthrough and the README template extended."""
    example = (
        "template/src/{{ package_name }}/pipelines/{% if example_pipeline %}training{% endif %}"
    )
    nodes = repo / example / "nodes.py"
    nodes.write_text(nodes.read_text() + "\n# Changed in v0.2.0.\n")
    (repo / example / "report.py").write_text('"""New in v0.2.0."""\n')
    new_conf = repo / "template/conf/base/{% if example_pipeline %}catalog_reporting.yml{% endif %}"
    new_conf.write_text("report:\n  type: kedro.io.MemoryDataset\n")
    walkthrough = (
        repo / "template/docs/{% if example_pipeline %}example-pipeline.md{% endif %}.jinja"
    )
    walkthrough.write_text(walkthrough.read_text() + "\nChanged in v0.2.0.\n")
    readme = repo / "template/README.md.jinja"
    readme.write_text(readme.read_text() + "\nREADME changed in v0.2.0.\n")
    docs = repo / "template/docs/kedro-mlflow-starter.md.jinja"
    docs.write_text(docs.read_text() + "\nDocs changed in v0.2.0.\n")
    git(repo, "add", "-A")
    release_v2(repo)


def tracked_files(project: Path) -> dict[str, bytes]:
    return {
        name: (project / name).read_bytes()
        for name in git(project, "ls-files").splitlines()
        if (project / name).is_file()
    }


def test_the_example_list_is_the_unit_copier_yml_excludes_on_update(project):
    # 6 pipeline + 4 test files, 4 config, data, walkthrough, notebook
    assert len(EXAMPLE) == 17, EXAMPLE
    for name in EXAMPLE:
        assert (project / name).is_file(), name  # copier copy renders all of it ...
    config = (TEMPLATE_DIR.parent / "copier.yml").read_text()
    block = config[config.index("    # EXAMPLE") : config.index("    {% endif %}")]
    excluded = PathSpec.from_lines("gitignore", [line.strip() for line in block.splitlines()])
    for name in EXAMPLE:  # ... and copier.yml's _exclude leaves each out of an update
        assert excluded.match_file(name), name
    template_owned = [  # but no file of the template's
        name
        for name in git(project, "ls-files").splitlines()
        if name not in EXAMPLE and excluded.match_file(name)
    ]
    assert template_owned == [], template_owned


def test_an_example_the_user_reworked_stays_as_they_left_it_through_an_update(
    project, template_repo
):
    # the user folds the example's config into their own files, drops the inference tests and
    # the walkthrough, and writes their README
    catalog, parameters = project / "conf/base/catalog.yml", project / "conf/base/parameters.yml"
    for name in ("catalog_training", "catalog_inference"):
        catalog.write_text(catalog.read_text() + (project / f"conf/base/{name}.yml").read_text())
    for name in ("parameters_training", "parameters_inference"):
        parameters.write_text(
            parameters.read_text() + (project / f"conf/base/{name}.yml").read_text()
        )
    edit(parameters, "epochs: 20", "epochs: 5")
    deleted = [
        "conf/base/catalog_training.yml",
        "conf/base/catalog_inference.yml",
        "conf/base/parameters_training.yml",
        "conf/base/parameters_inference.yml",
        "docs/example-pipeline.md",
        "tests/pipelines/inference/__init__.py",
        "tests/pipelines/inference/test_pipeline.py",
    ]
    git(project, "rm", "-q", *deleted)
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\n## My notes\n\nMine.\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "my layout of the example")
    before = tracked_files(project)

    release_with_example_changes(template_repo)
    update(project)

    for name in deleted:
        assert not (project / name).exists(), f"{name} came back"
    assert not (project / f"src/{PACKAGE}/pipelines/training/report.py").exists()
    assert not (project / "conf/base/catalog_reporting.yml").exists()
    after = tracked_files(project)
    changed = sorted(name for name in after if after[name] != before.get(name))
    assert changed == [
        ".copier-answers.yml",
        "conf/base/mlflow.yml",
        "docs/kedro-mlflow-starter.md",
        "requirements/template.txt",
        f"src/{PACKAGE}/settings.py",
    ]  # the template's files only: README, example code and data as the user left them
    assert set(after) == set(before)
    assert "Docs changed in v0.2.0." in (project / "docs/kedro-mlflow-starter.md").read_text()
    assert not [
        name
        for name, text in after.items()
        if any(line.startswith((b"<<<<<<< ", b">>>>>>> ")) for line in text.splitlines())
    ]

    result = kedro(project, "run")
    assert result.returncode == 0, result.stdout + result.stderr
    [run] = recorded_runs(project / "mlflow.db")
    assert run.info.status == "FINISHED"
    assert run.data.params["model"].startswith("{'alpha': 0.001, 'epochs': 5")


OWN_PIPELINE = '''"""The user's own pipeline: it reads the example's data set."""

from kedro.pipeline import Node, Pipeline


def count(rows):
    return len(rows)


def create_pipeline(**kwargs):
    return Pipeline([Node(count, "tumours", "tumour_count", name="count")])
'''


def test_turning_the_example_off_deletes_nothing_and_says_how_to_remove_it(project, template_repo):
    # the user's edits of the example, and their own pipeline on the example's data file
    edit(project / "conf/base/parameters_training.yml", "epochs: 20", "epochs: 3")
    training_catalog = project / "conf/base/catalog_training.yml"
    training_catalog.write_text(
        training_catalog.read_text() + "\nmine:\n  type: kedro.io.MemoryDataset\n"
    )
    catalog = project / "conf/base/catalog.yml"
    catalog.write_text(
        catalog.read_text()
        + "\ntumours:\n  type: pandas.CSVDataset\n  filepath: data/01_raw/breast_cancer.csv\n"
    )
    (project / f"src/{PACKAGE}/pipelines/counting").mkdir()
    (project / f"src/{PACKAGE}/pipelines/counting/__init__.py").write_text(OWN_PIPELINE)
    git(project, "add", "-A")
    git(project, "commit", "-qm", "my work on the example")
    before = tracked_files(project)

    done = subprocess.run(
        [sys.executable, "-m", "copier", "update", "--defaults", "--vcs-ref", ":current:",
         "--data", "example_pipeline=false"],
        cwd=project, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr

    after = tracked_files(project)
    for name in EXAMPLE:
        assert after[name] == before[name], f"{name} was changed or deleted"
    assert "epochs: 3" in (project / "conf/base/parameters_training.yml").read_text()
    assert "mine:" in training_catalog.read_text()
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["example_pipeline"] is False
    assert "scikit-learn" not in (project / "requirements/template.txt").read_text()
    # what to do next: in copier's message, and in the template's docs
    assert "no file was deleted" in done.stderr
    [remove] = [line.strip() for line in done.stderr.splitlines() if "git rm -r" in line]
    assert remove.split()[3:] == [
        f"src/{PACKAGE}/pipelines/training",
        f"src/{PACKAGE}/pipelines/inference",
        "tests/pipelines/training",
        "tests/pipelines/inference",
        "conf/base/catalog_training.yml",
        "conf/base/catalog_inference.yml",
        "conf/base/parameters_training.yml",
        "conf/base/parameters_inference.yml",
        "data/01_raw/breast_cancer.csv",
        "docs/example-pipeline.md",
        "notebooks/example-pipeline.ipynb",
    ]
    docs = (project / "docs/kedro-mlflow-starter.md").read_text()
    assert "## Removing the example pipeline" in docs
    result = kedro(project, "run", "--pipelines", "counting")  # its data is still there
    assert result.returncode == 0, result.stdout + result.stderr
    assert recorded_runs(project / "mlflow.db")[0].info.status == "FINISHED"
    git(project, "add", "-A")
    git(project, "commit", "-qm", "example_pipeline=false")

    # the documented removal, which the next release does not undo
    subprocess.run(remove.split(), cwd=project, check=True, capture_output=True)
    git(project, "commit", "-qm", "Remove the example pipeline")
    release_with_example_changes(template_repo)
    update(project)
    for name in [*EXAMPLE, f"src/{PACKAGE}/pipelines/training/report.py"]:
        assert not (project / name).exists(), name
    assert "Docs changed in v0.2.0." in (project / "docs/kedro-mlflow-starter.md").read_text()


REFUSE = (
    "_migrations:\n  - version: v0.2.0\n    when: \"{{ _stage == 'before' }}\"\n"
    '    command: ["{{ _copier_python }}", '
    '"{{ _copier_conf.src_path }}/hooks/refuse_to_drop_edited_files.py", '
    '"tests/test_project.py", "conf/README.md"]'
)


def copier_cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "copier", *args],
        cwd=project, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_a_release_that_deletes_a_file_the_user_edited_stops_before_touching_anything(
    project, template_repo
):
    mine = project / "tests/test_project.py"
    mine.write_text(mine.read_text() + "\n\ndef test_mine():\n    assert True\n")
    git(project, "commit", "-qam", "my test")
    before = tracked_files(project)

    # v0.2.0 deletes two template files, and lists them for the check
    git(template_repo, "rm", "-q", "template/tests/test_project.py", "template/conf/README.md")
    edit(template_repo / "copier.yml", "_migrations: []", REFUSE)
    release_v2(template_repo)

    stopped = copier_cli(project, "update", "--defaults", "--trust", "--vcs-ref", "v0.2.0")
    assert stopped.returncode != 0
    assert "stopped before changing anything" in stopped.stderr
    assert "  tests/test_project.py\n" in stopped.stderr  # the edited one, named ...
    assert "  conf/README.md" not in stopped.stderr  # ... not the one left as rendered
    assert git(project, "status", "--porcelain") == ""
    assert tracked_files(project) == before  # nothing touched

    # what the message says: keep the edits under another name, commit, update again
    git(project, "mv", "tests/test_project.py", "tests/test_my_project.py")
    git(project, "commit", "-qm", "my tests, kept")
    done = copier_cli(project, "update", "--defaults", "--trust", "--vcs-ref", "v0.2.0")
    assert done.returncode == 0, done.stderr
    assert (project / "tests/test_my_project.py").read_bytes() == before["tests/test_project.py"]
    assert not (project / "tests/test_project.py").exists()
    assert not (project / "conf/README.md").exists()  # unedited: deleted as the release says
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == "v0.2.0"
