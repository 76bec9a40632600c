"""The Mlflow* datasets: `type: kedro_mlflow_runtime.<Class>` in catalog.yml."""

from .artifact import MlflowArtifactDataset
from .metrics import MlflowMetricDataset, MlflowMetricHistoryDataset, MlflowMetricsHistoryDataset
from .models import (
    MlflowModelLocalFileSystemDataset,
    MlflowModelRegistryDataset,
    MlflowModelTrackingDataset,
)
from .tracked import TrackedDataset

# Kedro (repr, `kedro catalog`, to_config) and kedro-viz name a dataset by its class's module:
# name them as catalog.yml does, `kedro_mlflow_runtime.<Class>` (an importable path, so pickling
# still finds them). kedro-viz would otherwise show the last two parts, `datasets.metrics.<Class>`.
for _public in (
    MlflowArtifactDataset,
    MlflowMetricDataset,
    MlflowMetricHistoryDataset,
    MlflowMetricsHistoryDataset,
    MlflowModelLocalFileSystemDataset,
    MlflowModelRegistryDataset,
    MlflowModelTrackingDataset,
):
    _public.__module__ = __package__.partition(".")[0]

__all__ = [
    "MlflowArtifactDataset",
    "MlflowMetricDataset",
    "MlflowMetricHistoryDataset",
    "MlflowMetricsHistoryDataset",
    "MlflowModelLocalFileSystemDataset",
    "MlflowModelRegistryDataset",
    "MlflowModelTrackingDataset",
    "TrackedDataset",
]
