"""The project loads: settings, pipelines and configuration (mlflow.yml included) are valid.

Nothing here contacts MLflow: the tracking store is only opened when a pipeline runs.
"""

from pathlib import Path

import pytest
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

PROJECT_PATH = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def context():
    bootstrap_project(PROJECT_PATH)
    with KedroSession.create(project_path=PROJECT_PATH) as session:
        yield session.load_context()


def test_mlflow_config_is_valid(context):
    # MlflowHook validated conf/*/mlflow.yml when the context was created.
    config = context.mlflow
    assert config.tracking.experiment.name
    assert config.tracking_uri


def test_pipelines_are_registered(context):
    assert "__default__" in pipelines


def test_every_dataset_in_the_catalog_can_be_created(context):
    catalog = context.catalog
    for name in catalog.keys():
        assert catalog[name] is not None
