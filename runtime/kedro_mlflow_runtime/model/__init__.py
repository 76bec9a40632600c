"""The inference pipeline as one MLflow model: PipelineML and pipeline_ml_factory
(pipeline_ml.py), the spec and the model's files (spec.py), logging it (log_model.py), and its
reader, KedroPipelineModel (pipeline_model.py), which MLflow loads through
pipeline_model_code.py, or from the object logged by hand.
"""
