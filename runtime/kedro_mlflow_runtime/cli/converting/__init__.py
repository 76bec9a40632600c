"""The rewrites of `kedro mlflow convert`, one module per kind of file. Each takes a file's text
and returns the new text and its notes: what changed (or was kept, or needs a look), per entry."""

from __future__ import annotations

from dataclasses import dataclass

# kedro-mlflow class names (all versions) -> ours
RENAMED = {
    "MlflowArtifactDataSet": "MlflowArtifactDataset",
    "MlflowMetricDataSet": "MlflowMetricDataset",
    "MlflowMetricHistoryDataSet": "MlflowMetricHistoryDataset",
    "MlflowMetricsDataSet": "MlflowMetricsHistoryDataset",
    "MlflowMetricsDataset": "MlflowMetricsHistoryDataset",
    "MlflowMetricsHistoryDataSet": "MlflowMetricsHistoryDataset",
    "MlflowModelLoggerDataSet": "MlflowModelTrackingDataset",
    "MlflowModelTrackingDataSet": "MlflowModelTrackingDataset",
    "MlflowModelSaverDataSet": "MlflowModelLocalFileSystemDataset",
    "MlflowModelLocalFileSystemDataSet": "MlflowModelLocalFileSystemDataset",
    "MlflowModelRegistryDataSet": "MlflowModelRegistryDataset",
    "KedroMlflowPipelineMLError": "PipelineMLError",
}

CHANGED, KEPT, CHECK = "changed", "kept", "check"


@dataclass(frozen=True)
class Note:
    entry: str  # the catalog entry, mlflow.yml key, requirement or statement concerned
    what: str
    kind: str = CHANGED


def renamed(name: str) -> str:
    return RENAMED.get(name, name.replace("DataSet", "Dataset"))
