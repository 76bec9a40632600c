"""The inference pipeline as one MLflow model: PipelineML and pipeline_ml_factory
(pipeline_ml.py), the spec's writer, which compiles the pipeline and logs the model
(log_model.py), and its reader, KedroPipelineModel (pipeline_model.py), which MLflow loads
through pipeline_model_code.py.
"""
