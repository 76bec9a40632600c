"""A real SQLite tracking store with one open run, published the way MlflowHook publishes it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from kedro.io import AbstractDataset, DatasetError
from mlflow import MlflowClient

from kedro_mlflow_runtime.tracking import run_context


@dataclass
class Store:
    uri: str
    client: MlflowClient
    experiment_id: str
    run_id: str

    def new_run(self, publish: bool = True) -> str:
        run_id = self.client.create_run(self.experiment_id).info.run_id
        if publish:
            run_context.publish_run(run_id, self.experiment_id)
        return run_id

    def artifacts(self, run_id: str, path: str | None = None) -> list[str]:
        found = []
        for item in self.client.list_artifacts(run_id, path):
            found.extend(self.artifacts(run_id, item.path) if item.is_dir else [item.path])
        return sorted(found)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment_id = client.create_experiment(
        "datasets", artifact_location=(tmp_path / "mlruns").as_uri()
    )
    run_id = client.create_run(experiment_id).info.run_id
    run_context.publish(run_context.RunTarget(uri, None, run_id, experiment_id))
    return Store(uri, client, experiment_id, run_id)


@pytest.fixture
def no_run(store: Store) -> Store:
    """The project's store is known but no pipeline is being tracked."""
    run_context.publish_run(None)
    return store


def from_catalog(name: str, **config) -> str:
    """Build a dataset the way the catalog does and return the error message it raises."""
    with pytest.raises(DatasetError) as raised:
        AbstractDataset.from_config(name, config)
    return str(raised.value)
