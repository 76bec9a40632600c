"""Coming from kedro-mlflow: a project laid out as kedro-mlflow's docs show is converted in
place, then runs tracked with kedro-mlflow-runtime."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO_ROOT, VERSION, git_repo, kedro, recorded_runs, snapshot_checkout
from tests.venvs import bash, make_venv

pytestmark = pytest.mark.e2e

SETTINGS = '''"""Project settings. There is no need to edit this file unless you want to change values
from the Kedro defaults."""

from kedro.config import OmegaConfigLoader  # noqa: E402

# kedro-mlflow registers its hook itself (entry point): nothing here.

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {"base_env": "base", "default_run_env": "local"}
'''

# what `kedro mlflow init` writes (kedro-mlflow 2.0.3), with its comments
KEDRO_MLFLOW_YML = """# SERVER CONFIGURATION -------------------
server:
  mlflow_tracking_uri: null # if null, will use mlflow.get_tracking_uri() as a default
  mlflow_registry_uri: null # if null, mlflow_tracking_uri will be used as mlflow default
  credentials: null  # must be a valid key in credentials.yml
  request_header_provider:
    type: null
    pass_context: False
    init_kwargs: {}

tracking:
  disable_tracking:
    pipelines: []
    disable_autologging: True
  experiment:
    name: legacy_experiment
    create_experiment_kwargs:
      artifact_location: null
      tags: null
    restore_if_deleted: True
  run:
    id: null # if `id` is None, a new run will be created
    name: null # if `name` is None, pipeline name will be used for the run name
    nested: True
  params:
    dict_params:
      flatten: False
      recursive: True
      sep: "."
    long_params_strategy: fail

ui:
  port: "5000"
  host: "127.0.0.1"
"""

CATALOG = """
raw:
  type: json.JSONDataset
  filepath: data/raw.json

scaled:
  type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
  dataset:
    type: json.JSONDataset
    filepath: data/scaled.json
  artifact_path: reports

result:
  type: kedro_mlflow.io.metrics.MlflowMetricDataSet  # the old spelling

fitted:
  type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
  dataset:
    type: pickle.PickleDataset
    filepath: data/fitted.pkl
"""


@pytest.fixture
def legacy(project):
    package = project.path / "src" / project.package
    (package / "settings.py").write_text(SETTINGS)
    registry = package / "pipeline_registry.py"
    registry.write_text(
        registry.read_text().replace(
            "from kedro_mlflow_runtime import pipeline_ml_factory",
            "from kedro_mlflow.pipeline import pipeline_ml_factory",
        )
    )
    project.write("conf/local/mlflow.yml", KEDRO_MLFLOW_YML)
    project.write("conf/base/catalog.yml", CATALOG)
    project.write("requirements.txt", "kedro~=1.7.0\nkedro-mlflow>=2.0.3\n")
    return project


def convert(project):
    result = subprocess.run(
        [sys.executable, "-m", "kedro_mlflow_runtime.cli.convert", str(project.path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_kedro_mlflow_project_is_converted_and_runs_tracked(legacy):
    out = convert(legacy)
    assert (
        "conf/base/catalog.yml: scaled: type: kedro_mlflow.io.artifacts.MlflowArtifactDataset "
        "-> kedro_mlflow_runtime.MlflowArtifactDataset" in out
    )
    # kedro-mlflow's null meant ./mlruns; here it means sqlite:///mlflow.db: it stays null
    assert "conf/local/mlflow.yml: mlflow_tracking_uri: null kept" in out
    assert "mlflow migrate-filestore --source mlruns --target sqlite:///mlflow.db" in out

    catalog = yaml.safe_load((legacy.path / "conf/base/catalog.yml").read_text())
    assert catalog["scaled"]["type"] == "kedro_mlflow_runtime.MlflowArtifactDataset"
    assert catalog["result"]["type"] == "kedro_mlflow_runtime.MlflowMetricDataset"
    mlflow_yml = (legacy.path / "conf/local/mlflow.yml").read_text()
    assert "mlflow_tracking_uri: null # if null" in mlflow_yml
    assert "name: legacy_experiment" in mlflow_yml  # everything else as it was
    settings = (legacy.path / f"src/{legacy.package}/settings.py").read_text()
    assert "from kedro_mlflow_runtime import MlflowHook" in settings
    assert "HOOKS = (MlflowHook(),)" in settings
    registry = (legacy.path / f"src/{legacy.package}/pipeline_registry.py").read_text()
    assert "from kedro_mlflow_runtime import pipeline_ml_factory" in registry
    # pinned where pip got the converting runtime: this suite's editable install of the checkout
    assert (legacy.path / "requirements.txt").read_text().splitlines() == [
        "kedro~=1.7.0",
        f"kedro-mlflow-runtime @ file://localhost{REPO_ROOT}",
    ]

    # the converted project runs, tracked where kedro-mlflow's settings said, in SQLite now
    result = kedro(legacy.path, "run")
    assert result.returncode == 0, result.stdout + result.stderr
    result = kedro(legacy.path, "run", "--pipelines", "ml")
    assert result.returncode == 0, result.stdout + result.stderr
    default, ml = recorded_runs(legacy.db, "legacy_experiment")
    assert default.data.metrics == {"result": 13.0}
    assert default.data.params == {"factor": "2", "model": "{'offset': 1, 'tree': {'depth': 3}}"}
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{legacy.db}")
    assert [a.path for a in client.list_artifacts(default.info.run_id, "reports")] == [
        "reports/scaled.json"
    ]
    [model] = client.search_logged_models([ml.info.experiment_id])
    assert (model.name, model.source_run_id) == ("tiny_model", ml.info.run_id)


def test_converting_twice_changes_nothing_more(legacy):
    convert(legacy)
    before = {p: p.read_bytes() for p in legacy.path.rglob("*") if p.is_file()}
    result = kedro(legacy.path, "mlflow", "convert")
    assert result.returncode == 0, result.stderr
    assert "Nothing to convert" in result.stdout
    assert {p: p.read_bytes() for p in legacy.path.rglob("*") if p.is_file()} == before


def test_an_existing_hooks_tuple_gets_the_hook_added(legacy):
    settings = legacy.path / f"src/{legacy.package}/settings.py"
    settings.write_text(SETTINGS + "\nfrom kedro.framework.hooks import hook_impl\n\n\n"
                        "class Mine:\n    @hook_impl\n    def before_pipeline_run(self):\n"
                        "        pass\n\n\nHOOKS = (Mine(),)\n")  # fmt: skip
    convert(legacy)
    text = settings.read_text()
    assert "HOOKS = (Mine(), MlflowHook())" in text  # last: it runs first, as kedro-mlflow's
    assert text.count("HOOKS =") == 1
    result = kedro(legacy.path, "run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(recorded_runs(legacy.db)) == 1


INSTALLABLE = """[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{package}"
version = "0.1.0"
dynamic = ["dependencies"]

[tool.setuptools.dynamic]
dependencies = {{ file = "requirements.txt" }}

[tool.setuptools.packages.find]
where = ["src"]
"""


@pytest.mark.install
def test_a_converted_project_pins_the_converting_runtime_and_installs(legacy, tmp_path):
    # a kedro-mlflow project as Kedro's starters lay it out: dependencies in requirements.txt
    pyproject = legacy.path / "pyproject.toml"
    pyproject.write_text(INSTALLABLE.format(package=legacy.package) + pyproject.read_text())
    legacy.write("requirements.txt", "kedro~=1.7.0\nkedro-datasets[json-jsondataset,"
                 "pickle-pickledataset]>=9.6\nkedro-mlflow>=2.0.3\n")  # fmt: skip
    # the runtime installed as a user would: from a release tag of the template's repository
    repo = git_repo(snapshot_checkout(tmp_path / "starter"), tag=f"v{VERSION}")
    pin = f"kedro-mlflow-runtime @ git+file://localhost{repo}@v{VERSION}"
    python = make_venv(tmp_path / "venv")
    done = bash([f"{python} -m pip install '{pin}'"], tmp_path, tmp_path / "runtime-install.log")
    assert done.returncode == 0, done.stdout[-5000:]

    done = bash([f"{python} -m kedro_mlflow_runtime.cli.convert {legacy.path}"], tmp_path,
                tmp_path / "convert.log")  # fmt: skip
    assert done.returncode == 0, done.stdout
    assert (legacy.path / "requirements.txt").read_text().splitlines()[-1] == pin

    done = bash(
        ["source ../venv/bin/activate", "pip install -e .", "kedro run"],
        legacy.path, tmp_path / "project-install.log",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-5000:]
    [run] = recorded_runs(legacy.db, "legacy_experiment")
    assert (run.info.status, run.data.metrics) == ("FINISHED", {"result": 13.0})
