"""Parameters as MLflow params: which ones, their names, flattening and length limits."""

import pytest
from kedro.pipeline import Node

from kedro_mlflow_runtime.config.schema import ParamsOptions
from kedro_mlflow_runtime.errors import LongParamError
from kedro_mlflow_runtime.tracking.params import (
    MAX_PARAM_VALUE_LENGTH,
    parameter_inputs,
    to_mlflow_params,
)


def identity(*args):
    return args[0]


def test_parameter_inputs_are_the_params_the_nodes_read_once_each():
    nodes = [
        Node(identity, ["data", "params:model", "params:split.ratio"], "a", name="n1"),
        Node(identity, ["a", "params:model", "parameters"], "b", name="n2"),
    ]
    assert parameter_inputs(nodes) == ["parameters", "params:model", "params:split.ratio"]


def options(**kwargs) -> ParamsOptions:
    return ParamsOptions.model_validate(kwargs)


def test_dicts_are_one_param_by_default():
    params, tags = to_mlflow_params({"params:model": {"alpha": 0.5, "l1": 2}}, options())
    assert params == {"model": "{'alpha': 0.5, 'l1': 2}"}
    assert tags == {}


def test_flatten_recursive_and_separator():
    values = {"params:model": {"alpha": 0.5, "tree": {"depth": 3}}, "params:n": 7}
    flat = options(dict_params={"flatten": True, "sep": "__"})
    assert to_mlflow_params(values, flat)[0] == {
        "model__alpha": "0.5",
        "model__tree__depth": "3",
        "n": "7",
    }
    one_level = options(dict_params={"flatten": True, "recursive": False})
    assert to_mlflow_params(values, one_level)[0] == {
        "model.alpha": "0.5",
        "model.tree": "{'depth': 3}",
        "n": "7",
    }


def test_the_whole_parameters_dict_keeps_its_name():
    params, _ = to_mlflow_params({"parameters": {"a": 1}}, options())
    assert params == {"parameters": "{'a': 1}"}


def test_invalid_characters_in_names_are_replaced():
    params, _ = to_mlflow_params({"params:weird$name[0]": 1}, options())
    assert params == {"weird_name_0_": "1"}


LONG = "x" * (MAX_PARAM_VALUE_LENGTH + 1)


def test_long_param_fail_names_the_param_and_the_setting():
    with pytest.raises(LongParamError, match=r"'long'.*long_params_strategy"):
        to_mlflow_params({"params:long": LONG}, options())


def test_long_param_truncate():
    params, tags = to_mlflow_params({"params:long": LONG}, options(long_params_strategy="truncate"))
    assert params == {"long": LONG[:MAX_PARAM_VALUE_LENGTH]}
    assert tags == {}


def test_long_param_tag():
    params, tags = to_mlflow_params({"params:long": LONG}, options(long_params_strategy="tag"))
    assert params == {}
    assert tags == {"long": LONG}


def test_limit_is_mlflows():
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

    assert MAX_PARAM_VALUE_LENGTH == MAX_PARAM_VAL_LENGTH


def test_secrets_are_redacted_by_name_at_any_depth():
    values = {
        "params:db": {"user": "me", "password": "hunter2", "options": {"api_key": "k-123"}},
        "params:github_token": "ghp_abc",
        "params:alpha": 0.1,
    }
    params, _ = to_mlflow_params(values, options())
    assert params["github_token"] == "***"
    assert params["alpha"] == "0.1"
    assert "hunter2" not in params["db"] and "k-123" not in params["db"]
    assert params["db"] == "{'user': 'me', 'password': '***', 'options': {'api_key': '***'}}"
    flat, _ = to_mlflow_params(values, options(dict_params={"flatten": True}))
    assert flat["db.password"] == "***" and flat["db.user"] == "me"


def test_redaction_patterns_are_configurable():
    values = {"params:internal_host": "10.0.0.1", "params:password": "x"}
    params, _ = to_mlflow_params(values, options(redact=["*host*"]))
    assert params == {"internal_host": "***", "password": "x"}


# the secret-looking values a hostile review planted (issue #14): all 14 must be masked
PLANTED = {
    "password": "s01",
    "apiKey": "s02",
    "apikey": "s03",
    "api-key": "s04",
    "passwd": "s05",
    "db_pwd": "s06",
    "pass": "s07",
    "private_key": "s08",
    "aws_access_key_id": "s09",
    "auth": "s10",
    "github_token": "s11",
    "client_secret": "s12",
    "nested": [{"password": "s13"}, {"user": "me"}],
    "db_url": "postgresql://user:s14@db.example.com:5432/app",
}


def test_every_common_spelling_of_a_secret_is_redacted_lists_and_urls_included():
    values = {f"params:{name}": value for name, value in PLANTED.items()}
    params, _ = to_mlflow_params(values, options())
    logged = " ".join(params.values())
    for secret in (f"s{i:02d}" for i in range(1, 15)):
        assert secret not in logged, secret
    assert params["nested"] == "[{'password': '***'}, {'user': 'me'}]"
    assert params["db_url"] == "postgresql://user:***@db.example.com:5432/app"
    # names that only look alike are kept
    kept, _ = to_mlflow_params(
        {"params:author": "ann", "params:passes": 3, "params:compass": "n"}, options()
    )
    assert kept == {"author": "ann", "passes": "3", "compass": "n"}


def test_a_url_password_is_masked_even_under_a_plain_name_and_when_flattened():
    values = {"params:store": {"uri": "https://bob:pw-123@mlflow.example.com", "port": 1}}
    flat, _ = to_mlflow_params(values, options(dict_params={"flatten": True}))
    assert flat == {"store.uri": "https://bob:***@mlflow.example.com", "store.port": "1"}


def test_names_that_become_the_same_mlflow_name_fail_with_both_names():
    from kedro_mlflow_runtime.errors import ParamNameError

    with pytest.raises(ParamNameError) as raised:
        to_mlflow_params({"params:lr@x": 0.1, "params:lr#x": 0.2}, options())
    assert "Parameters 'lr@x' and 'lr#x' would both be logged as MLflow param 'lr_x'" in str(
        raised.value
    )
