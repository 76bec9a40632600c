"""The training pipeline: breast_cancer -> classifier, metrics, report and figure."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    evaluate_model,
    plot_training_loss,
    report_per_class,
    split_data,
    train_model,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
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
