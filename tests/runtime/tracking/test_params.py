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
