"""The training pipeline: breast_cancer -> classifier, metrics, report and figure.

It is joined to the inference pipeline by `pipeline_ml_factory`: at the end of every tracked
run of `training`, the inference pipeline is logged to the run as one MLflow model (with the
fitted classifier and the `threshold` parameter), ready to load anywhere or to serve.
"""

from kedro.pipeline import Node, Pipeline
from kedro_mlflow_runtime import PipelineML, pipeline_ml_factory

from ..inference import create_pipeline as create_inference_pipeline
from .nodes import (
    evaluate_model,
    plot_training_loss,
    report_per_class,
    split_data,
    train_model,
)


def create_pipeline(**kwargs) -> PipelineML:
    training = Pipeline(
        [
            Node(
                func=split_data,
                inputs=["breast_cancer", "params:split"],
                outputs=["x_train", "x_test", "y_train", "y_test"],
                name="split_data",
            ),
            Node(
                func=train_model,
                inputs=["x_train", "y_train", "params:model"],
                outputs=["classifier", "training_loss"],
                name="train_model",
            ),
            Node(
                func=evaluate_model,
                inputs=["classifier", "x_test", "y_test"],
                outputs="metrics",
                name="evaluate_model",
            ),
            Node(
                func=report_per_class,
                inputs=["classifier", "x_test", "y_test"],
                outputs="classification_report",
                name="report_per_class",
            ),
            Node(
                func=plot_training_loss,
                inputs="training_loss",
                outputs="training_loss_plot",
                name="plot_training_loss",
            ),
        ]
    )
    return pipeline_ml_factory(
        training=training,
        inference=create_inference_pipeline(),
        # what callers of the model send: rows of features like x_test
        input_name="x_test",
        log_model_kwargs={
            "name": "inference_model",
            # also register it: "registered_model_name": "breast_cancer_classifier",
        },
    )
