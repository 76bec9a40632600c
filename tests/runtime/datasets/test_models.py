"""Model datasets against a real SQLite store and registry (sklearn models, explicit
pip_requirements so that MLflow skips its slow requirements inference)."""

import mlflow
import numpy as np
import pytest
from kedro.io import DatasetError
from sklearn.linear_model import LogisticRegression

from kedro_mlflow_runtime import (
    MlflowModelLocalFileSystemDataset,
    MlflowModelRegistryDataset,
    MlflowModelTrackingDataset,
)
from tests.runtime.datasets.conftest import from_catalog

X = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]])
Y = np.array([0, 1, 0, 1])
REQUIREMENTS = {"pip_requirements": ["scikit-learn"]}


@pytest.fixture(scope="module")
def model():
    return LogisticRegression().fit(X, Y)


def tracking(**save_args):
    return MlflowModelTrackingDataset(
        flavor="mlflow.sklearn", save_args={**REQUIREMENTS, **save_args}
    )


def test_a_logged_model_is_linked_to_the_run_and_loads_back(store, model):
    dataset = tracking(name="classifier")
    dataset.save(model)
    [logged] = store.client.search_logged_models(experiment_ids=[store.experiment_id])
    assert logged.name == "classifier"
    assert logged.source_run_id == store.run_id
    assert (dataset.load().predict(X) == model.predict(X)).all()
    # a fresh instance (another process, a later session) finds it in the run
    assert (tracking(name="classifier").load().predict(X) == Y).all()


def test_the_name_defaults_to_the_catalog_entry(store, model):
    dataset = tracking()
    dataset._name_after_catalog_entry("my_model")
    dataset.save(model)
    [logged] = store.client.search_logged_models(experiment_ids=[store.experiment_id])
    assert logged.name == "my_model"


@pytest.mark.parametrize(
    ("name", "logged_as"),
    [
        ("price_predictor.base.regressor", "price_predictor_base_regressor"),  # a namespace
        ("{ns}/{v}/regressor", "{ns}_{v}_regressor"),  # kedro-mlflow's artifact_path, converted
        ("model:v1 'final'", "model_v1 _final"),
    ],
)
def test_names_mlflow_3_refuses_become_valid_ones_and_are_said(
    store, model, name, logged_as, runtime_logs
):
    dataset = tracking()
    dataset._name_after_catalog_entry(name)
    dataset.save(model)
    [logged] = store.client.search_logged_models(experiment_ids=[store.experiment_id])
    assert logged.name == logged_as
    assert (tracking(name=name).load().predict(X) == Y).all()  # found by the same name
    said = [r.getMessage() for r in runtime_logs if r.levelname == "WARNING"]
    assert any(name in m and f"logged as '{logged_as}'" in m for m in said)


def test_registering_and_every_model_uri_form(store, model):
    tracking(name="clf", registered_model_name="churn").save(model)
    store.client.set_registered_model_alias("churn", "champion", "1")
    [logged] = store.client.search_logged_models(experiment_ids=[store.experiment_id])
    for uri in (
        f"runs:/{store.run_id}/clf",
        f"models:/{logged.model_id}",
        "models:/churn@champion",
        "models:/churn/1",
    ):
        loaded = MlflowModelTrackingDataset(
            flavor="mlflow.sklearn", load_args={"model_uri": uri}
        ).load()
        assert (loaded.predict(X) == Y).all(), uri


def test_saving_with_a_model_uri_is_refused(store, model):
    dataset = MlflowModelTrackingDataset(
        flavor="mlflow.sklearn", load_args={"model_uri": "models:/x/1"}
    )
    with pytest.raises(DatasetError, match="cannot save while load_args.model_uri is set"):
        dataset.save(model)


def test_with_no_run_the_model_is_logged_outside_any_run_as_mlflow_does(no_run, model, monkeypatch):
    mlflow.set_tracking_uri(no_run.uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", no_run.experiment_id)  # MLflow's current one
    dataset = tracking(name="x")
    dataset.save(model)
    [logged] = no_run.client.search_logged_models(experiment_ids=[no_run.experiment_id])
    assert (logged.name, logged.source_run_id) == ("x", None)
    assert len(no_run.client.search_runs([no_run.experiment_id])) == 1  # no run created
    assert (dataset.load().predict(X) == Y).all()


def test_a_model_logs_into_mlflows_active_run(no_run, model):
    mlflow.set_tracking_uri(no_run.uri)
    with mlflow.start_run(experiment_id=no_run.experiment_id) as active:
        tracking(name="clf").save(model)
    [logged] = no_run.client.search_logged_models(experiment_ids=[no_run.experiment_id])
    assert logged.source_run_id == active.info.run_id


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"flavor": "mlflow.whoops"}, "flavor: 'mlflow.whoops' is not an importable module"),
        ({"flavor": "no_such_package.flavor"}, "'no_such_package.flavor' is not an importable"),
        ({"flavor": "mlflow.pyfunc"}, "pyfunc_workflow: flavor 'mlflow.pyfunc' needs"),
        (
            {"flavor": "mlflow.pyfunc", "pyfunc_workflow": "magic"},
            "set to 'python_model' or 'loader_module', got 'magic'",
        ),
    ],
)
def test_bad_flavor_arguments_name_the_entry_and_the_argument(config, expected):
    message = from_catalog(
        "my_model", type="kedro_mlflow_runtime.MlflowModelTrackingDataset", **config
    )
    assert "dataset 'my_model'" in message
    assert expected in message


def test_checking_a_flavor_does_not_import_mlflow():
    import subprocess
    import sys

    code = (
        "import sys; from kedro_mlflow_runtime import MlflowModelTrackingDataset as D;"
        "D(flavor='mlflow.sklearn'); print('mlflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_local_filesystem_model_with_versioning(tmp_path, model):
    from kedro.io import Version

    config = {"filepath": str(tmp_path / "clf"), "flavor": "mlflow.sklearn"}
    plain = MlflowModelLocalFileSystemDataset(**config, save_args=REQUIREMENTS)
    plain.save(model)
    plain.save(model)  # overwrites (save_model refuses an existing folder otherwise)
    assert (plain.load().predict(X) == Y).all()
    versioned = MlflowModelLocalFileSystemDataset(
        **config, save_args=REQUIREMENTS, version=Version(None, None)
    )
    versioned.save(model)
    assert (tmp_path / "clf" / "MLmodel").exists()
    assert len([p for p in (tmp_path / "clf").iterdir() if p.is_dir()]) == 1
    assert (versioned.load().predict(X) == Y).all()


def test_registry_loads_by_alias_version_and_latest(store, model):
    tracking(name="v1", registered_model_name="fraud").save(model)
    flipped = LogisticRegression().fit(X, 1 - Y)
    tracking(name="v2", registered_model_name="fraud").save(flipped)
    store.client.set_registered_model_alias("fraud", "champion", "1")

    def predictions(**kwargs):
        dataset = MlflowModelRegistryDataset(model_name="fraud", flavor="mlflow.sklearn", **kwargs)
        return dataset.load().predict(X).tolist()

    assert predictions(alias="champion") == Y.tolist()
    assert predictions(stage_or_version=1) == Y.tolist()
    assert predictions(stage_or_version="2") == (1 - Y).tolist()
    assert predictions() == (1 - Y).tolist()  # latest


def test_registry_is_load_only_and_takes_alias_or_version(store, model):
    message = from_catalog(
        "champion",
        type="kedro_mlflow_runtime.MlflowModelRegistryDataset",
        model_name="fraud",
        alias="champion",
        stage_or_version=2,
    )
    assert "dataset 'champion'" in message
    assert "alias / stage_or_version: give one, not both" in message
    dataset = MlflowModelRegistryDataset(model_name="fraud", alias="champion")
    with pytest.raises(DatasetError, match="registered_model_name: fraud"):
        dataset.save(model)
