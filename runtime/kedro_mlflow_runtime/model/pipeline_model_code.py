"""MLflow "models from code" entry point of every logged Kedro pipeline model.

MLflow stores this file in the model and runs it when the model is loaded: the model is an
empty KedroPipelineModel that builds itself from the model's kedro_pipeline.yml (the pipeline spec)
and artifacts in `load_context`. Nothing is unpickled but the artifacts.
"""

from mlflow.models import set_model

from kedro_mlflow_runtime.model.pipeline_model import KedroPipelineModel

set_model(KedroPipelineModel())
