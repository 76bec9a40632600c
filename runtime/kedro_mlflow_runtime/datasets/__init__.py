"""The Mlflow* datasets: `type: kedro_mlflow_runtime.<Class>` in catalog.yml."""

from .artifact import MlflowArtifactDataset
from .metrics import MlflowMetricDataset, MlflowMetricHistoryDataset, MlflowMetricsHistoryDataset
from .models import (
    MlflowModelLocalFileSystemDataset,
    MlflowModelRegistryDataset,
    MlflowModelTrackingDataset,
)
from .tracked import TrackedDataset

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
