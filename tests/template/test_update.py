"""`copier update` keeps the user's work: copier's own idiom, on a throwaway tagged git repo of
this template (v0.1.0 -> v0.2.0), independent of the tags of the checkout under test."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import copier
import pytest
import yaml

from tests.conftest import kedro, recorded_runs
from tests.template.conftest import PACKAGE, change_answers, edit, git, release_v2, update
from tests.venvs import bash

pytestmark = pytest.mark.e2e


def test_update_keeps_the_users_work_and_brings_the_templates(project, template_repo):
    # the user's work, committed
    catalog = project / "conf/base/catalog.yml"
    catalog.write_text(catalog.read_text() + "\nscores:\n  type: pandas.CSVDataset\n"
                       "  filepath: data/07_model_output/scores.csv\n")  # fmt: skip
    edit(project / "conf/base/parameters_training.yml", "epochs: 20", "epochs: 7")
    edit(project / "conf/base/mlflow.yml", "    name: null\n", "    name: my-runs\n")
    scoring = project / f"src/{PACKAGE}/pipelines/scoring"
    scoring.mkdir()
    (scoring / "__init__.py").write_text(
        '"""My own pipeline."""\nfrom kedro.pipeline import Pipeline\n\n\n'
        "def create_pipeline(**kwargs):\n    return Pipeline([])\n"
    )
    (project / "notes.md").write_text("# My notes\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "my work")
    # and what git does not track: conf/local is git-ignored
    (project / "conf/local/mlflow.yml").write_text("tracking:\n  run:\n    name: local-run\n")
    (project / "conf/local/credentials.yml").write_text("mine:\n  KEY: secret\n")

    release_v2(template_repo)
    update(project)

    assert "scores:" in catalog.read_text()
    assert "epochs: 7" in (project / "conf/base/parameters_training.yml").read_text()
    mlflow_yml = (project / "conf/base/mlflow.yml").read_text()
    assert "name: my-runs" in mlflow_yml  # the user's edit ...
    assert "(updated in v0.2.0)" in mlflow_yml  # ... and the template's, merged
    assert "# Added in v0.2.0." in (project / f"src/{PACKAGE}/settings.py").read_text()
    assert (scoring / "__init__.py").exists()
    assert (project / "notes.md").read_text() == "# My notes\n"
    assert "local-run" in (project / "conf/local/mlflow.yml").read_text()
    assert "KEY: secret" in (project / "conf/local/credentials.yml").read_text()
    # the runtime pin moved with the template version
    requirements = (project / "requirements/template.txt").read_text()
    assert f"@ git+file://localhost{template_repo}@v0.2.0" in requirements
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == "v0.2.0"
    assert not list(project.rglob("*.rej"))
    assert "<<<<<<<" not in git(project, "diff")

    result = kedro(project, "run")
    assert result.returncode == 0, result.stdout + result.stderr
    [run] = recorded_runs(project / "mlflow.db")
    assert run.info.run_name == "local-run"  # conf/local/mlflow.yml still overrides base
    assert run.data.params["model"].startswith("{'alpha': 0.001, 'epochs': 7")


def test_a_real_conflict_is_left_as_markers_that_the_projects_tests_catch(project, template_repo):
    settings = project / f"src/{PACKAGE}/settings.py"
    edit(settings, "CONFIG_LOADER_CLASS", "# My own comment.\nCONFIG_LOADER_CLASS")
    git(project, "commit", "-qam", "my settings")

    release_v2(template_repo)
    update(project)

    text = settings.read_text()
    assert "<<<<<<< before updating" in text and ">>>>>>> after updating" in text
    assert "# My own comment." in text and "# Added in v0.2.0." in text  # nothing lost
    check = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/test_no_conflict_markers.py"],
        cwd=project, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert check.returncode != 0
    assert f"src/{PACKAGE}/settings.py" in check.stdout
    # the message tells what each side holds, and to merge them (here both lines are wanted)
    assert "is your version" in check.stdout and "lines from both" in check.stdout


def test_adding_the_example_pipeline_to_a_project_made_without_it(tmp_path, template_repo):
    project = tmp_path / "bare"
    copier.run_copy(
        str(template_repo), project, defaults=True, vcs_ref="v0.1.0", quiet=True,
        data={"example_pipeline": False},
    )  # fmt: skip
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "bare project")
    catalog = project / "conf/base/catalog.yml"
    catalog.write_text(catalog.read_text() + "\nmine:\n  type: kedro.io.MemoryDataset\n")
    git(project, "commit", "-qam", "my catalog entry")

    change_answers(project, example_pipeline=True)

    for example in (
        "conf/base/catalog_training.yml",
        "conf/base/parameters_inference.yml",
        "data/01_raw/breast_cancer.csv",
        f"src/{PACKAGE}/pipelines/training/pipeline.py",
        f"src/{PACKAGE}/pipelines/inference/nodes.py",
        "notebooks/example-pipeline.ipynb",
    ):
        assert (project / example).exists(), example
    assert "mine:" in catalog.read_text()
    assert "scikit-learn" in (project / "requirements/template.txt").read_text()
    assert "!data/01_raw/breast_cancer.csv" in (project / ".gitignore").read_text()
    result = kedro(project, "run")
    assert result.returncode == 0, result.stdout + result.stderr
    [run] = recorded_runs(project / "mlflow.db")
    assert {"split", "model", "threshold"} <= set(run.data.params)


def test_switching_the_tracking_backend_rewrites_only_the_tracking_config(project):
    edit(project / "conf/base/mlflow.yml", "    name: null\n", "    name: my-runs\n")
    git(project, "commit", "-qam", "my run name")
    before = {
        path: path.read_text()
        for path in (project / "conf/base").glob("*.yml")
        if path.name != "mlflow.yml"
    }

    change_answers(project, tracking_backend="server", tracking_uri="https://mlflow.example.com")

    mlflow_yml = yaml.safe_load((project / "conf/base/mlflow.yml").read_text())
    assert mlflow_yml["server"]["mlflow_tracking_uri"] == "https://mlflow.example.com"
    assert mlflow_yml["tracking"]["run"]["name"] == "my-runs"
    assert {path: path.read_text() for path in before} == before
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert (answers["tracking_backend"], answers["_commit"]) == ("server", "v0.1.0")
    changed = git(project, "status", "--porcelain").split("\n")
    assert sorted(line[3:] for line in changed if line) == [
        ".copier-answers.yml",
        "conf/base/mlflow.yml",
        "docs/kedro-mlflow-starter.md",
        "requirements/dev.txt",  # a server's UI is the server's: no kedro-mlflow-runtime[ui]
    ]  # README.md is the user's: the backend's notes are in the template's docs
    assert "kedro-mlflow-runtime[ui]" not in (project / "requirements/dev.txt").read_text()


ADOPTED_PIPELINE = """from kedro.pipeline import Node, Pipeline


def double(rate):
    return rate * 2


def create_pipeline(**kwargs):
    return Pipeline([Node(double, "params:rate", "doubled", name="double")])
"""


def kedro_new(where: Path, name: str, tools: str) -> Path:
    created = subprocess.run(
        [sys.executable, "-m", "kedro", "new", "--name", name, "--tools", tools,
         "--example", "n"],
        cwd=where, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert created.returncode == 0, created.stdout + created.stderr
    return where / name


def adopt(template_repo: Path, project: Path, package_name: str) -> None:
    """README "Adding it to an existing Kedro project": copier copy --defaults --overwrite
    --skip README.md --data project_name=... --data package_name=... --data
    example_pipeline=false SRC ."""
    copier.run_copy(
        str(template_repo), project, defaults=True, overwrite=True, quiet=True,
        skip_if_exists=["README.md"], vcs_ref="v0.1.0",
        data={"project_name": project.name, "package_name": package_name,
              "example_pipeline": False},
    )  # fmt: skip


@pytest.mark.install
def test_adopting_a_project_made_by_kedro_new(tmp_path, template_repo):
    project = kedro_new(tmp_path, "demo", tools="log")
    catalog, parameters = project / "conf/base/catalog.yml", project / "conf/base/parameters.yml"
    catalog.write_text(catalog.read_text() + "\ncompanies:\n  type: pandas.CSVDataset\n"
                       "  filepath: data/01_raw/companies.csv\n")  # fmt: skip
    parameters.write_text(parameters.read_text() + "\nrate: 0.5\n")
    (project / "src/demo/pipelines/etl").mkdir()
    (project / "src/demo/pipelines/etl/__init__.py").write_text(ADOPTED_PIPELINE)
    readme = (project / "README.md").read_text()
    # what the overlay has no reason to replace: the project's logging and package files
    own = [project / "conf/logging.yml", project / "src/demo/__init__.py",
           project / "src/demo/__main__.py"]  # fmt: skip
    kept = {path: path.read_text() for path in (catalog, parameters, *own)}
    scripts = tomllib.loads((project / "pyproject.toml").read_text())["project"]["scripts"]
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "kedro new + my work")

    adopt(template_repo, project, package_name="demo")

    assert {path: path.read_text() for path in kept} == kept
    assert (project / "src/demo/pipelines/etl/__init__.py").read_text() == ADOPTED_PIPELINE
    assert (project / "README.md").read_text() == readme
    assert (project / "conf/base/mlflow.yml").exists()
    assert "HOOKS = (MlflowHook(),)" in (project / "src/demo/settings.py").read_text()
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"] == scripts  # the console script keeps its name
    ignored = (project / ".gitignore").read_text().splitlines()
    assert {"!.gitkeep", ".env", "conf/local/**", "!data/**/"} <= set(ignored)  # Kedro's rules
    pin = f"kedro-mlflow-runtime @ git+file://localhost{template_repo}@v0.1.0"
    assert pin in (project / "requirements/template.txt").read_text()
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == "v0.1.0"  # so `copier update` works from now on
    # replaced (the README lists each) or added, and nothing else
    changed = {line[3:] for line in git(project, "status", "--porcelain", "-uall").splitlines()}
    assert {name for name in changed if not name.startswith(("data/", "tests/"))} == {
        ".copier-answers.yml", ".gitignore", "conf/base/mlflow.yml",
        "docs/kedro-mlflow-starter.md", "pyproject.toml",
        "requirements/dev.txt", "requirements/notebook.txt", "requirements/project.txt",
        "requirements/template.txt",
        "src/demo/pipeline_registry.py", "src/demo/settings.py",
    }  # fmt: skip

    # installs in a fresh venv with the pin the overlay wrote, runs tracked, and the project's
    # check of its package name passes
    done = bash(
        ["python -m venv .venv && source .venv/bin/activate", 'pip install -e ".[dev]"',
         "kedro run", "pytest -q -p no:cacheprovider tests/test_package_name.py"],
        project, tmp_path / "adopted-install.log",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-5000:]
    [run] = recorded_runs(project / "mlflow.db")
    assert (run.info.status, run.data.params) == ("FINISHED", {"rate": "0.5"})


def test_adopting_with_another_package_name_fails_the_projects_own_check(tmp_path, template_repo):
    project = kedro_new(tmp_path, "demo", tools="none")
    adopt(template_repo, project, package_name="my_demo")

    check = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/test_package_name.py"],
        cwd=project, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert check.returncode == 1, check.stdout + check.stderr
    assert (
        "pyproject.toml's package_name is 'my_demo' but the project's package is 'demo' "
        "(src/demo/)" in check.stdout
    ), check.stdout
    assert "--data package_name=demo" in check.stdout


def test_a_version_gated_migration_renames_a_key_in_the_users_mlflow_files(project, template_repo):
    # the user's own mlflow.yml files, which the template does not render
    (project / "conf/prod").mkdir()
    prod = project / "conf/prod/mlflow.yml"
    prod.write_text("tracking:\n  params:\n    # mine\n    long_params_strategy: tag  # keep\n")
    local = project / "conf/local/mlflow.yml"  # git-ignored
    local.write_text("tracking:\n  params:\n    long_params_strategy: truncate\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "prod settings")

    # v0.2.0 renames the key and ships the migration for it
    old, new = "tracking.params.long_params_strategy", "tracking.params.on_long_value"
    edit(template_repo / "template/conf/base/mlflow.yml.jinja",
         "    long_params_strategy: fail", "    on_long_value: fail")  # fmt: skip
    edit(template_repo / "copier.yml", "_migrations: []",
         '_migrations:\n  - version: v0.2.0\n    command: ["{{ _copier_python }}", '
         f'"{{{{ _copier_conf.src_path }}}}/hooks/rename_mlflow_yml_keys.py", "{old}={new}"]')  # fmt: skip
    release_v2(template_repo)
    copier.run_update(
        project, defaults=True, overwrite=True, vcs_ref="v0.2.0", quiet=True, unsafe=True
    )

    assert prod.read_text() == "tracking:\n  params:\n    # mine\n    on_long_value: tag  # keep\n"
    assert local.read_text() == "tracking:\n  params:\n    on_long_value: truncate\n"
    base = (project / "conf/base/mlflow.yml").read_text()
    assert "on_long_value: fail" in base and "long_params_strategy:" not in base

    # idempotent, and a no-op where there is nothing to rename
    script = template_repo / "hooks/rename_mlflow_yml_keys.py"
    again = subprocess.run(
        [sys.executable, str(script), f"{old}={new}"],
        cwd=project, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert again.stdout == ""
    assert local.read_text() == "tracking:\n  params:\n    on_long_value: truncate\n"


def test_no_migration_runs_when_an_update_does_not_cross_its_version(project, template_repo):
    edit(template_repo / "copier.yml", "_migrations: []",
         '_migrations:\n  - version: v0.1.0\n    command: ["{{ _copier_python }}", "-c", '
         '"open(\'migrated\', \'w\').close()"]')  # fmt: skip
    release_v2(template_repo)
    update(project)  # v0.1.0 -> v0.2.0 does not cross v0.1.0: no --trust needed either
    assert not (project / "migrated").exists()


def test_switching_to_a_server_says_how_to_add_the_login_to_the_users_credentials(project):
    """conf/local/credentials.yml is the user's (never re-rendered): the update says what to add."""
    credentials = (project / "conf/local/credentials.yml").read_text()
    switched = subprocess.run(
        [sys.executable, "-m", "copier", "update", "--defaults", "--vcs-ref", ":current:",
         "--data", "tracking_backend=server", "--data", "tracking_uri=https://mlflow.example.com"],
        cwd=project, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert switched.returncode == 0, switched.stderr
    said = switched.stdout + switched.stderr
    assert "conf/local/credentials.yml is yours" in said
    assert "MLFLOW_TRACKING_USERNAME: ${oc.env:MLFLOW_TRACKING_USERNAME}" in said
    assert (project / "conf/local/credentials.yml").read_text() == credentials
