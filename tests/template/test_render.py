"""The template renders a valid Kedro project for every answer profile (pytest-copie, real copier)."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from kedro.config import OmegaConfigLoader

from kedro_mlflow_runtime.config.schema import MlflowConfig, load_mlflow_config
from tests.conftest import REPO_ROOT, TEMPLATE_DIR, VERSION, generate

PROFILES = {
    "default": {},
    "no-example": {"example_pipeline": False},
    "server": {"tracking_backend": "server", "tracking_uri": "https://mlflow.example.com"},
    "databricks": {"tracking_backend": "databricks", "example_pipeline": False},
    "index": {"runtime_from": "index", "project_name": "Fraud Detection 2"},
}
EXPECTED_TRACKING_URI = {
    "default": "sqlite:///{project}/mlflow.db",
    "no-example": "sqlite:///{project}/mlflow.db",
    "server": "https://mlflow.example.com",
    "databricks": "databricks",
    "index": "sqlite:///{project}/mlflow.db",
}
EXAMPLE_FILES = [
    "conf/base/catalog_training.yml",
    "conf/base/parameters_training.yml",
    "data/01_raw/breast_cancer.csv",
    "src/{package}/pipelines/training/pipeline.py",
    "tests/pipelines/training/test_pipeline.py",
    "notebooks/example-pipeline.ipynb",
]
JINJA_LEFTOVER = re.compile(r"{{|}}|{%|%}|{#|#}")


@pytest.fixture(params=list(PROFILES), scope="module")
def rendered(request, copie_session):
    result = copie_session.copy(extra_answers=PROFILES[request.param])
    assert result.exit_code == 0, result.exception
    return request.param, result


def text_files(project: Path):
    for path in sorted(project.rglob("*")):
        if path.is_file() and path.suffix != ".csv":
            yield path, path.read_text(encoding="utf-8")


def test_every_yaml_and_toml_file_parses_and_no_jinja_is_left(rendered):
    _, result = rendered
    for path, text in text_files(result.project_dir):
        assert not JINJA_LEFTOVER.search(text), f"template syntax left in {path}"
        if path.suffix in (".yml", ".yaml"):
            yaml.safe_load(text)
        elif path.suffix == ".toml":
            tomllib.loads(text)


def test_kedro_reads_the_configuration_and_mlflow_yml_is_valid(rendered):
    profile, result = rendered
    project = result.project_dir
    loader = OmegaConfigLoader(
        conf_source=str(project / "conf"),
        base_env="base",
        default_run_env="local",
        config_patterns={"mlflow": ["mlflow*", "mlflow*/**", "**/mlflow*"]},
        merge_strategy={"mlflow": "soft"},
    )
    catalog, parameters = loader["catalog"], loader["parameters"]
    assert loader["credentials"] is not None
    config = load_mlflow_config(
        loader["mlflow"], project_path=project, default_experiment_name="unused", environ={}
    )
    assert config.tracking_uri == EXPECTED_TRACKING_URI[profile].format(project=project)
    assert config.tracking.experiment.name == result.answers["package_name"]
    if result.answers["example_pipeline"]:
        assert {"breast_cancer", "classifier", "metrics"} <= set(catalog)
        assert {"split", "model"} <= set(parameters)
    else:
        assert catalog == {}


def key_tree(model_class) -> dict:
    return {
        name: key_tree(field.annotation) if isinstance(field.annotation, type)
        and hasattr(field.annotation, "model_fields") else None
        for name, field in model_class.model_fields.items()
    }


def yaml_tree(data) -> dict:
    return {k: yaml_tree(v) if isinstance(v, dict) and k != "init_kwargs" else None
            for k, v in data.items()}


def test_mlflow_yml_has_every_key_each_with_a_comment(rendered):
    _, result = rendered
    text = (result.project_dir / "conf/base/mlflow.yml").read_text()
    assert yaml_tree(yaml.safe_load(text)) == key_tree(MlflowConfig)
    previous = ""
    for line in text.splitlines():
        if re.match(r"^\s*[a-z_]+:", line):
            assert previous.lstrip().startswith("#"), f"no comment above '{line.strip()}'"
        if line.strip():
            previous = line


def test_settings_register_the_hook_and_python_files_hold_no_template_code(rendered):
    _, result = rendered
    package = result.answers["package_name"]
    settings = result.project_dir / "src" / package / "settings.py"
    assert settings.read_text() == (TEMPLATE_DIR / "src/{{ package_name }}/settings.py").read_text()
    assert "HOOKS = (MlflowHook(),)" in settings.read_text()
    assert '"merge_strategy": {"mlflow": "soft"}' in settings.read_text()
    assert not list(TEMPLATE_DIR.rglob("*.py.jinja"))


def test_example_files_follow_the_answer(rendered):
    _, result = rendered
    package = result.answers["package_name"]
    for relative in EXAMPLE_FILES:
        exists = (result.project_dir / relative.format(package=package)).exists()
        assert exists == result.answers["example_pipeline"], relative


def test_pyproject_is_a_kedro_project_pinning_this_runtime(rendered):
    _, result = rendered
    project = result.project_dir
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    kedro = pyproject["tool"]["kedro"]
    assert kedro["package_name"] == result.answers["package_name"]
    assert kedro["project_name"] == result.answers["project_name"]
    requirements = (project / "requirements/template.txt").read_text()
    [pin] = [line for line in requirements.splitlines() if "kedro-mlflow-runtime" in line]
    if result.answers["runtime_from"] == "git":  # copied at HEAD: its tag, or else its commit
        assert re.fullmatch(
            rf"kedro-mlflow-runtime @ git\+file://localhost{REPO_ROOT}@(v{VERSION}|[0-9a-f]{{40}})",
            pin,
        ), pin
    else:
        assert pin == f"kedro-mlflow-runtime=={VERSION}"


def test_gitignore_keeps_tracking_data_and_secrets_out_of_git(rendered):
    _, result = rendered
    ignored = (result.project_dir / ".gitignore").read_text().splitlines()
    for pattern in ("mlflow.db", "mlruns/", "conf/local/**", "conf/**/*credentials*", "data/**"):
        assert pattern in ignored
    assert ("!data/01_raw/breast_cancer.csv" in ignored) == result.answers["example_pipeline"]


def test_answers_file_records_what_copier_update_needs(rendered):
    _, result = rendered
    answers = yaml.safe_load((result.project_dir / ".copier-answers.yml").read_text())
    assert {"_commit", "_src_path"} <= set(answers)
    assert answers["_src_path"] == str(REPO_ROOT)
    assert answers["tracking_backend"] == result.answers["tracking_backend"]
    assert ("tracking_uri" in answers) == (answers["tracking_backend"] == "server")
    assert "runtime_version" not in answers  # computed on every update, never stored


def test_derived_defaults(copie):
    result = copie.copy(extra_answers={"project_name": "Fraud Detection"})
    assert result.exit_code == 0, result.exception
    assert result.answers["package_name"] == "fraud_detection"
    assert result.answers["experiment_name"] == "fraud_detection"
    assert (result.project_dir / "src/fraud_detection/settings.py").exists()


@pytest.mark.parametrize(
    ("project_name", "package_name"),
    [
        ("2 Fast 2 Furious", "project_2_fast_2_furious"),  # not project_\x01_... (an octal escape)
        ("Café Données", "cafe_donnees"),
        ("  Spaced  Out ", "spaced_out"),
        ("!!! ???", "project"),
        ("数据项目", "project"),
        ("Logging", "logging_project"),  # a standard-library module
        ("NumPy", "numpy_project"),  # a package projects import
        ("Class", "class_project"),  # a keyword
    ],
)
def test_the_default_package_name_is_valid_for_any_project_name(
    tmp_path, project_name, package_name
):
    project = generate(tmp_path / "project", project_name=project_name)
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["package_name"] == package_name
    assert (project / "src" / package_name / "settings.py").exists()


@pytest.mark.parametrize(
    ("package_name", "message"),
    [
        ("My-Package", "'My-Package' is not a valid Python import name"),
        ("1abc", "'1abc' is not a valid Python import name"),
        ("has space", "'has space' is not a valid Python import name"),
        ("class", "'class' is a Python keyword, which cannot be imported: choose another name "
                  "(e.g. 'class_project')"),
        ("logging", "'logging' is a module of Python's standard library"),
        ("json", "'json' is a module of Python's standard library"),
        ("typing", "(e.g. 'typing_project')"),
        ("__main__", "'__main__' is a dunder name"),
        ("__init__", "(e.g. 'init_project')"),
        ("_json", "'_json' starts with an underscore"),
        ("mlflow", "'mlflow' is the name of a package the project imports"),
        ("kedro_mlflow_runtime", "'kedro_mlflow_runtime' is the name of a package"),
        ("numpy", "'numpy' is the name of a package"),
        ("yaml", "(e.g. 'yaml_project')"),
        ("sklearn", "'sklearn' is the name of a package"),
        ("tests", "'tests' is the name of a package"),
    ],
)  # fmt: skip
def test_an_invalid_package_name_is_refused_with_a_readable_message(copie, package_name, message):
    result = copie.copy(extra_answers={"package_name": package_name})
    assert result.exit_code != 0
    assert message in str(result.exception)


def test_every_standard_library_module_of_this_python_is_a_reserved_name():
    """copier's Jinja cannot read sys.stdlib_module_names: copier.yml lists them. A new Python's
    modules are added with `python3.X scripts/stdlib_module_names.py`."""
    questions = yaml.safe_load((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))
    reserved = yaml.safe_load(questions["reserved_package_names"]["default"])
    public = {name for name in sys.stdlib_module_names if not name.startswith("_")}
    assert public - set(reserved["stdlib"]) == set(), (
        f"run `{sys.executable} scripts/stdlib_module_names.py` and paste its output into copier.yml"
    )
    # the private ones are refused by their leading underscore; `kedro new` refuses them too
    assert not {name for name in sys.stdlib_module_names if name.startswith("_")} & set(
        reserved["stdlib"]
    )


def test_an_invalid_server_url_is_refused(copie):
    result = copie.copy(extra_answers={"tracking_backend": "server", "tracking_uri": "ftp://x"})
    assert result.exit_code != 0
    assert "'ftp://x' is not a server URL" in str(result.exception)


def test_an_unknown_backend_is_refused(copie):
    result = copie.copy(extra_answers={"tracking_backend": "cloud"})
    assert result.exit_code != 0
    assert "Invalid choice for 'tracking_backend': 'cloud'" in str(result.exception)


def _render_pin(src: str, commit: str | None, commit_hash: str | None, runtime_from="git"):
    """copier.yml's computed template_location and runtime_requirement, rendered as copier does
    (its sandboxed Jinja with the ansible filters and StrictUndefined) for one template source."""
    from copier._main import SandboxedEnvironment  # the environment class copier renders with
    from jinja2 import StrictUndefined

    questions = yaml.safe_load((REPO_ROOT / "copier.yml").read_text())
    env = SandboxedEnvironment(
        extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"],
        undefined=StrictUndefined,
    )
    answers = {"_src_path": src, **({"_commit": commit} if commit else {})}
    context = {
        "_copier_answers": answers,
        "_copier_conf": {"vcs_ref_hash": commit_hash},
        "runtime_from": runtime_from,
        "runtime_version": "1.2.3",
    }
    context["template_location"] = env.from_string(
        questions["template_location"]["default"]
    ).render(context)
    pin = env.from_string(questions["runtime_requirement"]["default"]).render(context)
    return context["template_location"], pin


SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("src", "commit", "location", "pin"),
    [
        ("gh:acme/starter", "v1.2.3", "gh:acme/starter",
         "kedro-mlflow-runtime @ git+https://github.com/acme/starter@v1.2.3"),
        ("gl:acme/starter", "v1.2.3", "gl:acme/starter",
         "kedro-mlflow-runtime @ git+https://gitlab.com/acme/starter@v1.2.3"),
        ("https://git.example.com/acme/starter.git", "v1.2.3", None,
         "kedro-mlflow-runtime @ git+https://git.example.com/acme/starter.git@v1.2.3"),
        ("git@github.com:acme/starter.git", "v1.2.3", None,
         "kedro-mlflow-runtime @ git+ssh://git@github.com/acme/starter.git@v1.2.3"),
        ("git+ssh://git@host/acme/starter", "v1.2.3", None,
         "kedro-mlflow-runtime @ git+ssh://git@host/acme/starter@v1.2.3"),
        ("file:///srv/git/starter.git", "v1.2.3", None,
         "kedro-mlflow-runtime @ git+file://localhost/srv/git/starter.git@v1.2.3"),
        # past the last tag, or no tag at all: the exact commit copier rendered
        ("/srv/starter", "v1.2.3-4-g0123456", None,
         f"kedro-mlflow-runtime @ git+file://localhost/srv/starter@{SHA}"),
        ("/srv/starter", "0123456", None,
         f"kedro-mlflow-runtime @ git+file://localhost/srv/starter@{SHA}"),
        # not a git repository: the folder itself
        ("/srv/starter", None, None, "kedro-mlflow-runtime @ file://localhost/srv/starter"),
    ],
)  # fmt: skip
def test_the_runtime_pin_names_what_pip_can_fetch_for_every_template_source(
    src, commit, location, pin
):
    assert _render_pin(src, commit, SHA if commit else None) == (location or src, pin)


def test_a_relative_or_home_template_path_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _render_pin("../starter", "v1.2.3", SHA)[0] == str(tmp_path.parent / "starter")
    assert _render_pin("~/starter", "v1.2.3", SHA) == (
        str(tmp_path / "home/starter"),
        f"kedro-mlflow-runtime @ git+file://localhost{tmp_path}/home/starter@v1.2.3",
    )


def test_runtime_from_index_pins_the_version_whatever_the_source():
    assert _render_pin("gh:acme/starter", "v1.2.3", SHA, runtime_from="index")[1] == (
        "kedro-mlflow-runtime==1.2.3"
    )
