"""kedro-mlflow-runtime: MLflow tracking for Kedro projects made with kedro-mlflow-starter.

Names are imported lazily: `import kedro_mlflow_runtime` (done by every `kedro` command through
settings.py) costs almost nothing, and mlflow is only imported when a tracked pipeline starts.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

__version__ = (Path(__file__).parent / "VERSION").read_text(encoding="utf-8").strip()

# public name -> module that defines it
_EXPORTS = {
    "MlflowHook": ".hook",
    "MlflowArtifactDataset": ".datasets",
    "MlflowMetricDataset": ".datasets",
    "MlflowMetricHistoryDataset": ".datasets",
    "MlflowMetricsHistoryDataset": ".datasets",
    "MlflowModelTrackingDataset": ".datasets",
    "MlflowModelLocalFileSystemDataset": ".datasets",
    "MlflowModelRegistryDataset": ".datasets",
    "PipelineML": ".model.pipeline_ml",
    "pipeline_ml_factory": ".model.pipeline_ml",
    "KedroPipelineModel": ".model.pipeline_model",
    "MlflowConfig": ".config.schema",
    "KedroMlflowRuntimeError": ".errors",
    "MlflowConfigError": ".errors",
    "PipelineMLError": ".errors",
    "KedroPipelineModelError": ".errors",
}

__all__ = [
    "KedroMlflowRuntimeError",
    "MlflowArtifactDataset",
    "MlflowConfig",
    "MlflowConfigError",
    "MlflowHook",
    "MlflowMetricDataset",
    "MlflowMetricHistoryDataset",
    "MlflowMetricsHistoryDataset",
    "MlflowModelLocalFileSystemDataset",
    "MlflowModelRegistryDataset",
    "MlflowModelTrackingDataset",
    "PipelineML",
    "PipelineMLError",
    "KedroPipelineModel",
    "KedroPipelineModelError",
    "pipeline_ml_factory",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'kedro_mlflow_runtime' has no attribute '{name}'")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
