"""`kedro mlflow convert` on copies of real kedro-mlflow projects (fixtures/): a kedro-mlflow 0.11
project on Kedro 0.18 and a kedro-mlflow 0.14 project on Kedro 0.19, both of which Kedro 1 refuses
to load, plus the settings.py shapes Kedro's starters and their users write."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kedro_mlflow_runtime.cli.converting import python, requirements, yaml_files
from kedro_mlflow_runtime.config.pin import installed_requirement

FIXTURES = Path(__file__).parent / "fixtures"
RUNTIME = Path(__file__).resolve().parents[3] / "runtime"


def copy_of(layout: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / layout, tmp_path / layout))


def convert(project: Path) -> str:
    """The module form: it works on files, where `kedro` refuses to load the project."""
    result = subprocess.run(
        [sys.executable, "-m", "kedro_mlflow_runtime.cli.convert", str(project)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_kedro_mlflow_0_11_project_on_kedro_0_18_is_converted(tmp_path):
    project = copy_of("kedro_mlflow_0_11", tmp_path)
    out = convert(project)

    expected = (FIXTURES / "expected/kedro_mlflow_0_11/catalog.yml").read_text()
    assert (project / "conf/base/catalog.yml").read_text() == expected
    for line in [
        "conf/base/catalog.yml: feature_importance: type: kedro_mlflow.io.artifacts."
        "MlflowArtifactDataSet -> kedro_mlflow_runtime.MlflowArtifactDataset",
        "conf/base/catalog.yml: feature_importance: data_set: -> dataset:",
        "conf/base/catalog.yml: X_test: data_set: -> dataset:",
        "conf/base/catalog.yml: regressor: type: kedro_mlflow.io.models.MlflowModelLoggerDataSet "
        "-> kedro_mlflow_runtime.MlflowModelTrackingDataset",
        "conf/base/catalog.yml: regressor: artifact_path: regressor -> save_args: name: regressor",
        "conf/base/catalog.yml: metrics: type: kedro_mlflow.io.metrics.MlflowMetricsDataSet "
        "-> kedro_mlflow_runtime.MlflowMetricsHistoryDataset",
        "conf/local/mlflow.yml: mlflow_tracking_uri: mlruns -> sqlite:///mlflow.db "
        "(MLflow >= 3.13 refuses file stores)",
        "src/spaceflights/pipeline_registry.py: pipeline_ml_factory(...) line 12: "
        "log_model_kwargs: artifact_path -> name",
        "src/spaceflights/settings.py: HOOKS: MlflowHook() added",
        f"src/requirements.txt: kedro-mlflow>=0.11.9,<0.12: replaced by {installed_requirement()}",
        # reported, left as they are: the user decides
        "conf/base/catalog.yml: X_test: type: pickle.PickleDataSet: kedro-datasets >= 2 spells "
        "it pickle.PickleDataset",
        "src/requirements.txt: mlflow==1.30.0: excludes the mlflow",
        "src/requirements.txt: kedro~=0.18.14: excludes the kedro",
        "pyproject.toml: kedro_init_version: 0.18.14: Kedro",
    ]:
        assert line in out, line
    assert (
        "mlflow_tracking_uri: sqlite:///mlflow.db  # if null, will use"
        in (project / "conf/local/mlflow.yml").read_text()
    )
    assert (project / "src/requirements.txt").read_text().splitlines()[3:6] == [
        "kedro-datasets[pandas.CSVDataSet, pandas.ExcelDataSet, pandas.ParquetDataSet]~=1.0",
        f"{installed_requirement()}  # tracking",
        "mlflow==1.30.0",
    ]
    registry = (project / "src/spaceflights/pipeline_registry.py").read_text()
    assert "from kedro_mlflow_runtime import pipeline_ml_factory\n" in registry
    assert '            name="spaceflights_regressor",\n' in registry
    code = (project / "src/spaceflights/pipelines/data_science/evaluation.py").read_text()
    assert code.splitlines()[1:6] == [
        "from kedro_mlflow_runtime import (",
        "    MlflowModelTrackingDataset,",
        "    MlflowModelLocalFileSystemDataset,  # saved locally too",
        ")",
        "from kedro_mlflow_runtime import MlflowMetricsHistoryDataset as Metrics",
    ]
    assert '    MlflowModelTrackingDataset(flavor="mlflow.sklearn").save(model)' in code
    assert_hooks(project / "src", "spaceflights.settings", ["ProjectHooks", "MlflowHook"])


def test_a_kedro_mlflow_0_14_project_on_kedro_0_19_is_converted(tmp_path):
    project = copy_of("kedro_mlflow_0_14", tmp_path)
    out = convert(project)

    expected = (FIXTURES / "expected/kedro_mlflow_0_14/catalog.yml").read_text()
    assert (project / "conf/base/catalog.yml").read_text() == expected
    pin = installed_requirement()
    for line in [
        "conf/base/catalog.yml: {name}_metric: type: kedro_mlflow.io.metrics.MlflowMetricDataset "
        "-> kedro_mlflow_runtime.MlflowMetricDataset",
        "conf/base/catalog.yml: regressor: artifact_path: regressor -> save_args: name: regressor",
        "conf/base/catalog.yml: scaler: artifact_path: scaler -> save_args: name: scaler",
        "src/spaceflights_pyspark/pipeline_registry.py: pipeline_ml_factory(...) line 12: "
        "log_model_kwargs: artifact_path -> name",
        f"requirements.txt: kedro-mlflow==0.14.4: replaced by {pin}",
        f"pyproject.toml: kedro-mlflow[doc]: replaced by {pin}",
        "Kept:\n  conf/base/mlflow.yml: mlflow_tracking_uri: null kept: it means "
        "$MLFLOW_TRACKING_URI, else sqlite:///mlflow.db at the project root",
        "requirements.txt: mlflow>=2.7,<3: excludes the mlflow",
        "pyproject.toml: kedro_init_version: 0.19.10: Kedro",
    ]:
        assert line in out, line
    mlflow_yml = (project / "conf/base/mlflow.yml").read_text()
    assert mlflow_yml == (FIXTURES / "kedro_mlflow_0_14/conf/base/mlflow.yml").read_text()
    assert '"kedro-mlflow-runtime' in (project / "pyproject.toml").read_text()
    registry = (project / "src/spaceflights_pyspark/pipeline_registry.py").read_text()
    assert 'log_model_kwargs={"name": "spaceflights_regressor", "signature": "auto"},' in registry
    # the spark starter's layout: the hook's import above HOOKS, Kedro's config import below
    settings = (project / "src/spaceflights_pyspark/settings.py").read_text()
    assert settings.splitlines()[4:10] == [
        "# Instantiated project hooks.",
        "from kedro_mlflow_runtime import MlflowHook",
        "from spaceflights_pyspark.hooks import SparkHooks  # noqa: E402",
        "",
        "# Hooks are executed in a Last-In-First-Out (LIFO) order.",
        "HOOKS = (SparkHooks(), MlflowHook())",
    ]
    assert_hooks(project / "src", "spaceflights_pyspark.settings", ["SparkHooks", "MlflowHook"])


@pytest.mark.parametrize("layout", ["kedro_mlflow_0_11", "kedro_mlflow_0_14"])
def test_converting_a_real_layout_twice_changes_nothing_the_second_time(layout, tmp_path):
    project = copy_of(layout, tmp_path)
    convert(project)
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    out = convert(project)
    assert out.startswith("Nothing to convert")
    assert "mlflow_tracking_uri" not in out  # `null kept` is said with the conversion only
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == before


def assert_hooks(src: Path, module: str, names: list[str]) -> None:
    """Import the converted settings for real, in a fresh interpreter with the runtime importable."""
    code = f"import {module} as s; print([type(h).__name__ for h in s.HOOKS])"
    env_path = f"{src}:{RUNTIME}"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(names)


# settings.py as Kedro's starters and their users write it: (before, after)
SETTINGS_SHAPES = {
    "HOOKS above the imports": (
        '"""Settings."""\nHOOKS = ()\n\nfrom kedro.config import OmegaConfigLoader  # noqa: E402\n'
        "\nCONFIG_LOADER_CLASS = OmegaConfigLoader\n",
        '"""Settings."""\nfrom kedro_mlflow_runtime import MlflowHook\nHOOKS = (MlflowHook(),)\n\n'
        "from kedro.config import OmegaConfigLoader  # noqa: E402\n"
        "\nCONFIG_LOADER_CLASS = OmegaConfigLoader\n",
    ),
    "a list": (
        "from shapes.hooks import ProjectHooks\n\nHOOKS = [ProjectHooks()]\n",
        "from kedro_mlflow_runtime import MlflowHook\nfrom shapes.hooks import ProjectHooks\n\n"
        "HOOKS = [ProjectHooks(), MlflowHook()]\n",
    ),
    "an empty list": (
        "HOOKS = []\n",
        "from kedro_mlflow_runtime import MlflowHook\nHOOKS = [MlflowHook()]\n",
    ),
    "annotated": (
        "from shapes.hooks import ProjectHooks\n\nHOOKS: tuple = (ProjectHooks(),)\n",
        "from kedro_mlflow_runtime import MlflowHook\nfrom shapes.hooks import ProjectHooks\n\n"
        "HOOKS: tuple = (ProjectHooks(), MlflowHook())\n",
    ),
    "multi-line, hooks kept in order": (
        "from shapes.hooks import ProjectHooks, SparkHooks\n\nHOOKS = (\n    SparkHooks(),\n"
        "    ProjectHooks(),  # ours\n)\n",
        "from kedro_mlflow_runtime import MlflowHook\n"
        "from shapes.hooks import ProjectHooks, SparkHooks\n\nHOOKS = (\n    SparkHooks(),\n"
        "    ProjectHooks(),  # ours\n    MlflowHook(),\n)\n",
    ),
    "multi-line without a trailing comma": (
        "from shapes.hooks import ProjectHooks, SparkHooks\n\nHOOKS = (\n    SparkHooks(),\n"
        "    ProjectHooks()\n)\n",
        "from kedro_mlflow_runtime import MlflowHook\n"
        "from shapes.hooks import ProjectHooks, SparkHooks\n\nHOOKS = (\n    SparkHooks(),\n"
        "    ProjectHooks(),\n    MlflowHook(),\n)\n",
    ),
    "no HOOKS, commented-out lines (Kedro 0.18/0.19 starters)": (
        '"""Project settings."""\n\n# Instantiated project hooks.\n'
        "# from shapes.hooks import ProjectHooks\n# HOOKS = (ProjectHooks(),)\n"
        "# HOOKS = (MlflowHook(),)\n",
        '"""Project settings."""\nfrom kedro_mlflow_runtime import MlflowHook\n\n'
        "# Instantiated project hooks.\n# from shapes.hooks import ProjectHooks\n"
        "# HOOKS = (ProjectHooks(),)\n# HOOKS = (MlflowHook(),)\n\n"
        "# Tracks every `kedro run` in MLflow (conf/*/mlflow.yml).\nHOOKS = (MlflowHook(),)\n",
    ),
    "from __future__ first": (
        '"""Settings\nfrom docs."""\nfrom __future__ import annotations\n\nX = 1\n',
        '"""Settings\nfrom docs."""\nfrom __future__ import annotations\n'
        "from kedro_mlflow_runtime import MlflowHook\n\nX = 1\n\n"
        "# Tracks every `kedro run` in MLflow (conf/*/mlflow.yml).\nHOOKS = (MlflowHook(),)\n",
    ),
    "HOOKS set in a try block": (
        "try:\n    from shapes.hooks import SparkHooks\n    HOOKS = (SparkHooks(),)\n"
        "except ImportError:\n    HOOKS = ()\n",
        "from kedro_mlflow_runtime import MlflowHook\n"
        "try:\n    from shapes.hooks import SparkHooks\n    HOOKS = (SparkHooks(),)\n"
        "except ImportError:\n    HOOKS = ()\n\n"
        "# Tracks every `kedro run` in MLflow (conf/*/mlflow.yml).\n"
        "HOOKS = (*HOOKS, MlflowHook())\n",
    ),
    "HOOKS computed": (
        "from shapes.hooks import ProjectHooks\n\nHOOKS = tuple([ProjectHooks()])\nX = 1\n",
        "from kedro_mlflow_runtime import MlflowHook\nfrom shapes.hooks import ProjectHooks\n\n"
        "HOOKS = tuple([ProjectHooks()])\nHOOKS = (*HOOKS, MlflowHook())\nX = 1\n",
    ),
}


@pytest.fixture
def shapes_package(tmp_path, monkeypatch):
    """The project hooks the shapes import, importable for real."""
    package = tmp_path / "shapes"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "hooks.py").write_text(
        "class ProjectHooks:\n    pass\n\n\nclass SparkHooks:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))


@pytest.mark.parametrize("shape", SETTINGS_SHAPES)
def test_every_settings_shape_registers_the_hook_last_and_imports_it_first(shape, shapes_package):
    before, after = SETTINGS_SHAPES[shape]
    converted, notes = python.register_hook(before)
    assert converted == after
    namespace: dict = {}
    exec(compile(converted, "settings.py", "exec"), namespace)  # every name defined before use
    hooks = [type(hook).__name__ for hook in namespace["HOOKS"]]
    assert hooks[-1] == "MlflowHook" and hooks.count("MlflowHook") == 1
    assert notes and notes[0].entry == "HOOKS"
    assert python.register_hook(converted) == (converted, [])


def test_a_hook_registered_by_hand_with_kedro_mlflow_keeps_its_place(shapes_package):
    # kedro-mlflow's documented manual registration, its auto-registration disabled
    before = (
        "from kedro_mlflow.framework.hooks import MlflowHook\nfrom shapes.hooks import ProjectHooks\n"
        'DISABLE_HOOKS_FOR_PLUGINS = ("kedro-mlflow",)\nHOOKS = (MlflowHook(), ProjectHooks())\n'
    )
    converted, _ = python.imports(before, {"MlflowHook"})
    converted, notes = python.register_hook(converted)
    assert converted == before.replace("kedro_mlflow.framework.hooks", "kedro_mlflow_runtime")
    assert notes == []


def test_an_import_the_runtime_lacks_is_reported(shapes_package):
    converted, notes = python.imports(
        "from kedro_mlflow.framework.hooks.mlflow_hook import mlflow_hook\n", {"MlflowHook"}
    )
    assert converted == "from kedro_mlflow_runtime import mlflow_hook\n"
    assert ("line 1", "mlflow_hook is not in kedro_mlflow_runtime: replace it") in [
        (n.entry, n.what) for n in notes
    ]


def test_settings_importing_what_is_missing_and_an_old_kedro_still_convert(tmp_path):
    project = tmp_path / "old"
    (project / "src/old").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[tool.kedro]\npackage_name = "old"\nproject_name = "old"\nkedro_init_version = "0.18.3"\n'
    )
    settings = project / "src/old/settings.py"
    settings.write_text("from kedro.config import TemplatedConfigLoader\nfrom gone import Hooks\n"
                        "HOOKS = (Hooks(),)\nCONFIG_LOADER_CLASS = TemplatedConfigLoader\n")  # fmt: skip
    out = convert(project)
    assert "src/old/settings.py: HOOKS: MlflowHook() added" in out
    text = settings.read_text()
    assert text.splitlines()[:4] == [
        "from kedro_mlflow_runtime import MlflowHook",
        "from kedro.config import TemplatedConfigLoader",
        "from gone import Hooks",
        "HOOKS = (Hooks(), MlflowHook())",
    ]
    compile(text, "settings.py", "exec")


@pytest.mark.parametrize(
    ("line", "after", "kind"),
    [
        ("mlflow_tracking_uri: null", "mlflow_tracking_uri: null", "kept"),
        ("mlflow_tracking_uri: ~  # default", "mlflow_tracking_uri: ~  # default", "kept"),
        ("mlflow_tracking_uri:", "mlflow_tracking_uri:", "kept"),
        ("mlflow_tracking_uri: mlruns", "mlflow_tracking_uri: sqlite:///mlflow.db", "changed"),
        ('mlflow_tracking_uri: "./mlruns"', "mlflow_tracking_uri: sqlite:///mlflow.db", "changed"),
        ("mlflow_tracking_uri: file:mlruns", "mlflow_tracking_uri: sqlite:///mlflow.db", "changed"),
        ("mlflow_tracking_uri: /shared/mlruns", "mlflow_tracking_uri: /shared/mlruns", "check"),
        (
            "mlflow_tracking_uri: http://mlflow:5000",
            "mlflow_tracking_uri: http://mlflow:5000",
            None,
        ),
        (
            "mlflow_tracking_uri: ${oc.env:TRACKING}",
            "mlflow_tracking_uri: ${oc.env:TRACKING}",
            None,
        ),
    ],
)
def test_only_a_literal_mlruns_store_is_rewritten(line, after, kind):
    text, notes = yaml_files.tracking_uri(f"server:\n  {line}\n")
    assert text == f"server:\n  {after}\n"
    assert [n.kind for n in notes] == ([kind] if kind else [])


def test_pyproject_dependencies_are_pinned_and_conflicting_pins_reported():
    text = (
        '[project]\nkeywords = ["kedro-mlflow"]\ndependencies = [\n    "kedro>=1.0",\n'
        '    "kedro-mlflow>=0.14, <0.15",\n    "mlflow-skinny<3",\n]\n'
    )
    converted, notes = requirements.pyproject(text, "kedro-mlflow-runtime==9.9.9")
    assert converted == text.replace('"kedro-mlflow>=0.14, <0.15"', '"kedro-mlflow-runtime==9.9.9"')
    assert [(n.entry, n.kind) for n in notes] == [
        ("kedro-mlflow>=0.14, <0.15", "changed"),
        ("mlflow-skinny<3", "check"),
    ]


def test_a_poetry_dependency_is_reported():
    text = '[tool.poetry.dependencies]\nkedro-mlflow = "^0.11"\n'
    converted, notes = requirements.pyproject(text, "kedro-mlflow-runtime==9.9.9")
    assert converted == text
    assert [(n.entry, n.kind) for n in notes] == [('kedro-mlflow = "^0.11"', "check")]
