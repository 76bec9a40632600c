"""Bad mlflow.yml content stops `kedro run` before any node, with an error that names the file,
the key and the value and says how to fix it (real Kedro sessions, real SQLite stores)."""

from __future__ import annotations

import pytest

from kedro_mlflow_runtime import MlflowConfigError

# name -> (mlflow.yml, what the message must say, with {project} for the project's path)
BAD_FILES = {
    "top level is a list": (
        "- server\n- tracking\n",
        "conf/base/mlflow.yml: <top level>: expected a mapping of sections (server:, "
        "tracking:, ui:), got a list ['server', 'tracking']",
    ),
    "top level is a scalar": (
        "sqlite:///mlflow.db\n",
        "conf/base/mlflow.yml: <top level>: expected a mapping of sections (server:, "
        "tracking:, ui:), got a single str value 'sqlite:///mlflow.db'",
    ),
    "oc.env outside credentials": (
        "server:\n  mlflow_tracking_uri: ${oc.env:TRACKING_URI}\n",
        "conf/base/mlflow.yml: server.mlflow_tracking_uri: '${oc.env:TRACKING_URI}' cannot be "
        "resolved (Unsupported interpolation type oc.env). Kedro reads environment variables "
        "(${oc.env:...}) in credentials.yml only.",
    ),
    "unknown resolver": (
        "tracking:\n  run:\n    name: ${nope:x}\n",
        "conf/base/mlflow.yml: tracking.run.name: '${nope:x}' cannot be resolved "
        "(Unsupported interpolation type nope)",
    ),
    "sqlite:// (no path)": (
        "server:\n  mlflow_tracking_uri: 'sqlite://'\n",
        "conf/base/mlflow.yml: server.mlflow_tracking_uri: Value error, 'sqlite://' is an "
        "in-memory SQLite store",
    ),
    "sqlite with two slashes": (
        "server:\n  mlflow_tracking_uri: 'sqlite://mlflow.db'\n",
        "conf/base/mlflow.yml: server.mlflow_tracking_uri: Value error, a SQLite store is "
        "sqlite:///relative/path.db (three slashes",
    ),
    "sqlite file under a file": (
        "server:\n  mlflow_tracking_uri: sqlite:///data/raw.json/mlflow.db\n",
        "conf/base/mlflow.yml: server.mlflow_tracking_uri: "
        "'sqlite:///{project}/data/raw.json/mlflow.db': {project}/data/raw.json is a file, so "
        "it cannot hold the folder of mlflow.db.",
    ),
    "sqlite path is a folder": (
        "server:\n  mlflow_tracking_uri: sqlite:///data\n",
        "conf/base/mlflow.yml: server.mlflow_tracking_uri: 'sqlite:///{project}/data': "
        "{project}/data is a folder, not a database file.",
    ),
    "sqlite registry is a folder": (
        "server:\n  mlflow_registry_uri: sqlite:///data\n",
        "conf/base/mlflow.yml: server.mlflow_registry_uri: 'sqlite:///{project}/data': "
        "{project}/data is a folder",
    ),
    "offline store is a folder": (
        "server:\n  offline:\n    enabled: true\n    tracking_uri: sqlite:///data\n",
        "conf/base/mlflow.yml: server.offline.tracking_uri: 'sqlite:///{project}/data': "
        "{project}/data is a folder",
    ),
    "empty experiment name": (
        "tracking:\n  experiment:\n    name: ''\n",
        "conf/base/mlflow.yml: tracking.experiment.name: Value error, an experiment name cannot "
        "be empty or blank",
    ),
    "blank experiment name": (
        "tracking:\n  experiment:\n    name: '   '\n",
        "conf/base/mlflow.yml: tracking.experiment.name: Value error, an experiment name cannot "
        "be empty or blank; write one, or remove the key to use the package name, got '   '",
    ),
    "header provider is not an import path": (
        "server:\n  request_header_provider:\n    type: TokenProvider\n",
        "conf/base/mlflow.yml: server.request_header_provider.type: Value error, expected the "
        "import path of a RequestHeaderProvider subclass",
    ),
    "header provider module is missing": (
        "server:\n  request_header_provider:\n    type: no_such_package.auth.Provider\n",
        "mlflow.yml: server.request_header_provider.type: 'no_such_package.auth.Provider' cannot "
        "be imported (ModuleNotFoundError: No module named 'no_such_package'). Install the "
        "package that provides it",
    ),
    "header provider class is missing": (
        "server:\n  request_header_provider:\n    type: json.NoSuchProvider\n",
        "mlflow.yml: server.request_header_provider.type: 'json.NoSuchProvider' cannot be "
        "imported (AttributeError: module 'json' has no attribute 'NoSuchProvider')",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_mlflow_yml_stops_before_any_node_naming_file_key_and_value(project, case):
    text, expected = BAD_FILES[case]
    project.mlflow_yml(text)
    with pytest.raises(MlflowConfigError) as raised:
        project.run()
    assert expected.replace("{project}", str(project.path)) in str(raised.value)
    assert not (project.path / "data/result.json").exists()  # no node ran
    assert not project.db.exists()


def test_a_file_that_is_not_utf8_names_the_file_and_line(project):
    (project.path / "conf/base/mlflow.yml").write_bytes(
        "tracking:\n  run:\n    name: café\n".encode("latin-1")
    )
    with pytest.raises(MlflowConfigError) as raised:
        project.run()
    assert str(raised.value).startswith(
        "conf/base/mlflow.yml: line 3: byte b'\\xe9' is not UTF-8 text"
    )
    assert "Save it as UTF-8" in str(raised.value)
    assert not (project.path / "data/result.json").exists()


def test_the_file_that_is_wrong_is_named_among_envs(project):
    project.mlflow_yml("tracking:\n  run:\n    name: nightly\n")
    project.mlflow_yml("- oops\n", env="local")
    with pytest.raises(MlflowConfigError, match=r"^conf/local/mlflow.yml: <top level>"):
        project.run()


def test_hidden_files_are_ignored_as_kedro_ignores_them(project):
    # e.g. Jupyter's checkpoints: the config loader skips them, so must the checks
    project.write("conf/base/.ipynb_checkpoints/mlflow-checkpoint.yml", "- not read\n")
    project.run()
    assert (project.path / "data/result.json").exists()


def test_oc_env_works_once_the_project_allows_it_everywhere(project, monkeypatch):
    # Kedro's documented switch: the error's advice must hold
    settings = project.path / f"src/{project.package}/settings.py"
    settings.write_text(
        settings.read_text()
        + '\nfrom omegaconf.resolvers import oc\nCONFIG_LOADER_ARGS["custom_resolvers"] = '
        '{"oc.env": oc.env}\n'
    )
    monkeypatch.setenv("RUN_NAME", "from-the-environment")
    project.mlflow_yml("tracking:\n  run:\n    name: ${oc.env:RUN_NAME}\n")
    project.run()
    from tests.conftest import recorded_runs

    [run] = recorded_runs(project.db)
    assert run.info.run_name == "from-the-environment"
