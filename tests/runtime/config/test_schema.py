"""mlflow.yml: the schema, error messages that name file and key, and URI resolution."""

from pathlib import Path

import pytest
import yaml

from kedro_mlflow_runtime.config.schema import (
    DEFAULT_TRACKING_URI,
    MlflowConfig,
    config_files,
    load_mlflow_config,
    local_sqlite_path,
    resolve_uri,
)
from kedro_mlflow_runtime.errors import MlflowConfigError

# Every key of kedro-mlflow 2.x's mlflow.yml, with non-default values.
KEDRO_MLFLOW_FILE = """
server:
  mlflow_tracking_uri: http://127.0.0.1:5000
  mlflow_registry_uri: sqlite:///registry.db
  credentials: my_creds
  request_header_provider:
    type: my_pkg.MyProvider
    pass_context: true
    init_kwargs: {token: abc}
tracking:
  disable_tracking:
    pipelines: [etl]
    disable_autologging: false
  experiment:
    name: churn
    create_experiment_kwargs:
      artifact_location: artifacts
      tags: {team: ds}
    restore_if_deleted: false
  run:
    id: 0123456789abcdef
    name: nightly
    nested: false
  params:
    dict_params:
      flatten: true
      recursive: false
      sep: __
    long_params_strategy: tag
ui:
  port: "5001"
  host: 0.0.0.0
"""


def load(raw, project_path=Path("/proj"), files=(), environ=None):
    return load_mlflow_config(
        raw,
        project_path=project_path,
        default_experiment_name="my_package",
        source_files=files,
        environ=environ or {},
    )


def test_every_kedro_mlflow_key_is_accepted_with_its_meaning():
    config = load(yaml.safe_load(KEDRO_MLFLOW_FILE))
    assert config.server.mlflow_tracking_uri == "http://127.0.0.1:5000"
    assert config.server.mlflow_registry_uri == "sqlite:////proj/registry.db"
    assert config.server.credentials == "my_creds"
    assert config.server.request_header_provider.init_kwargs == {"token": "abc"}
    assert config.tracking.disable_tracking.pipelines == ["etl"]
    assert config.tracking.disable_tracking.disable_autologging is False
    experiment = config.tracking.experiment
    assert experiment.name == "churn"
    assert experiment.create_experiment_kwargs.artifact_location == "file:///proj/artifacts"
    assert experiment.restore_if_deleted is False
    assert (config.tracking.run.id, config.tracking.run.name) == ("0123456789abcdef", "nightly")
    dict_params = config.tracking.params.dict_params
    assert (dict_params.flatten, dict_params.recursive, dict_params.sep) == (True, False, "__")
    assert config.tracking.params.long_params_strategy == "tag"
    assert (config.ui.port, config.ui.host) == (5001, "0.0.0.0")


def test_defaults_match_kedro_mlflow_except_the_tracking_store():
    config = load({})
    assert config.tracking_uri == "sqlite:////proj/mlflow.db"
    assert config.registry_uri is None
    assert config.tracking.experiment.name == "my_package"  # the package name, as kedro-mlflow
    assert config.tracking.experiment.restore_if_deleted is True
    assert config.tracking.run.nested is True
    assert config.tracking.params.long_params_strategy == "fail"
    assert config.tracking.params.dict_params.sep == "."
    assert config.tracking.disable_tracking.disable_autologging is True
    assert (config.ui.port, config.ui.host) == (5000, "127.0.0.1")
    assert MlflowConfig().tracking_uri == DEFAULT_TRACKING_URI


def test_environment_tracking_uri_is_used_only_when_the_file_sets_none():
    env = {"MLFLOW_TRACKING_URI": "http://tracking.example:80"}
    assert load({}, environ=env).tracking_uri == "http://tracking.example:80"
    from_file = {"server": {"mlflow_tracking_uri": "sqlite:///x.db"}}
    assert load(from_file, environ=env).tracking_uri == "sqlite:////proj/x.db"


def test_offline_mode_records_locally_and_keeps_the_server_for_sync():
    server = {
        "mlflow_tracking_uri": "http://mlflow.example:80",
        "mlflow_registry_uri": "databricks-uc",
    }
    online = load({"server": server})
    assert online.server.offline.enabled is False
    assert online.server.offline.tracking_uri == "sqlite:////proj/mlflow-offline/mlflow.db"
    offline = load({"server": {**server, "offline": {"enabled": True}}})
    assert offline.tracking_uri == "sqlite:////proj/mlflow-offline/mlflow.db"
    assert offline.registry_uri == offline.tracking_uri  # models are registered offline too
    assert offline.server_uri == "http://mlflow.example:80"  # where `kedro mlflow sync` goes
    custom = load({"server": {"offline": {"enabled": True, "tracking_uri": "sqlite:///off.db"}}})
    assert custom.tracking_uri == "sqlite:////proj/off.db"


def test_the_offline_store_must_be_a_local_sqlite_file():
    for uri in ("http://elsewhere:5000", "sqlite:///:memory:"):
        with pytest.raises(MlflowConfigError) as raised:
            load({"server": {"offline": {"tracking_uri": uri}}})
        assert "server.offline.tracking_uri: Value error, the offline store is a local SQLite" in (
            str(raised.value)
        )


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("sqlite:///mlflow.db", "sqlite:////proj/mlflow.db"),
        ("sqlite:///sub/dir/m.db", "sqlite:////proj/sub/dir/m.db"),
        ("sqlite:////abs/m.db", "sqlite:////abs/m.db"),
        ("sqlite:///m.db?timeout=20", "sqlite:////proj/m.db?timeout=20"),
        ("mlruns", "file:///proj/mlruns"),
        ("../shared/mlruns", "file:///shared/mlruns"),
        ("/abs/mlruns", "file:///abs/mlruns"),
        ("file:///abs/mlruns", "file:///abs/mlruns"),
        ("databricks", "databricks"),
        ("databricks-uc", "databricks-uc"),
        ("databricks://my-profile", "databricks://my-profile"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("https://mlflow.example.com/", "https://mlflow.example.com/"),
        ("postgresql://user@db:5432/mlflow", "postgresql://user@db:5432/mlflow"),
    ],
)
def test_uris_are_resolved_against_the_project_not_the_cwd(uri, expected):
    assert resolve_uri(uri, Path("/proj")) == expected


def test_local_sqlite_path():
    assert local_sqlite_path("sqlite:////proj/mlflow.db") == Path("/proj/mlflow.db")
    assert local_sqlite_path("sqlite:///:memory:") is None
    assert local_sqlite_path("http://x") is None


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_unknown_key_names_the_file_the_key_path_and_the_likely_fix(tmp_path):
    base = write(tmp_path / "conf/base/mlflow.yml", "tracking:\n  experiment:\n    nmae: x\n")
    with pytest.raises(MlflowConfigError) as raised:
        load(yaml.safe_load(base.read_text()), tmp_path, [base])
    message = str(raised.value)
    assert "conf/base/mlflow.yml: tracking.experiment.nmae: unknown key" in message
    assert "did you mean 'name'?" in message


def test_wrong_type_names_the_file_the_key_path_and_the_value(tmp_path):
    base = write(tmp_path / "conf/base/mlflow.yml", "tracking:\n  run:\n    nested: 'yes'\n")
    with pytest.raises(MlflowConfigError) as raised:
        load(yaml.safe_load(base.read_text()), tmp_path, [base])
    assert "conf/base/mlflow.yml: tracking.run.nested: Input should be a valid boolean" in str(
        raised.value
    )
    assert "'yes'" in str(raised.value)


def test_error_names_the_overriding_environment_file(tmp_path):
    base = write(tmp_path / "conf/base/mlflow.yml", "ui:\n  port: 5000\n")
    local = write(tmp_path / "conf/local/mlflow.yml", "ui:\n  port: 99999\n")
    with pytest.raises(MlflowConfigError, match=r"conf/local/mlflow.yml: ui.port: .*65535"):
        load({"ui": {"port": 99999}}, tmp_path, [base, local])


def test_every_error_is_reported_at_once():
    with pytest.raises(MlflowConfigError) as raised:
        load({"server": {"typo": 1}, "tracking": {"params": {"long_params_strategy": "drop"}}})
    message = str(raised.value)
    assert "server.typo: unknown key" in message
    assert "tracking.params.long_params_strategy: Input should be 'fail', 'truncate' or 'tag'" in (
        message
    )


def test_unknown_top_level_section_lists_the_allowed_ones():
    with pytest.raises(MlflowConfigError, match=r"zzz: unknown key \(allowed keys: server"):
        load({"zzz": {}})


def test_config_files_follow_kedro_patterns_and_env_order(tmp_path):
    base = write(tmp_path / "base/mlflow.yml", "{}")
    nested = write(tmp_path / "base/mlflow/extra.yml", "{}")
    local = write(tmp_path / "local/mlflow.yaml", "{}")
    write(tmp_path / "base/catalog.yml", "{}")
    found = config_files(
        [tmp_path / "base", tmp_path / "local"], ["mlflow*", "mlflow*/**", "**/mlflow*"]
    )
    # within one env folder order is irrelevant (Kedro rejects duplicate keys); envs in order
    assert found == [nested, base, local]


@pytest.mark.parametrize("uri", ["sqlite:///:memory:", "sqlite://"])
def test_an_in_memory_store_is_refused(tmp_path, uri):
    base = write(tmp_path / "conf/base/mlflow.yml", f"server:\n  mlflow_tracking_uri: '{uri}'\n")
    with pytest.raises(MlflowConfigError) as raised:
        load(yaml.safe_load(base.read_text()), tmp_path, [base])
    message = str(raised.value)
    assert "conf/base/mlflow.yml: server.mlflow_tracking_uri:" in message
    assert f"'{uri}' is an in-memory SQLite store" in message
    assert "sqlite:///mlflow.db" in message


def test_an_infinite_connect_timeout_is_refused(tmp_path):
    base = write(tmp_path / "conf/base/mlflow.yml", "server:\n  connect_timeout: .inf\n")
    with pytest.raises(MlflowConfigError, match="server.connect_timeout: Input should be a finite"):
        load(yaml.safe_load(base.read_text()), tmp_path, [base])
