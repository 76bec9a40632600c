"""The inference pipeline: classifier + rows -> predictions."""

from kedro.pipeline import Node, Pipeline

from .nodes import predict


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=predict,
                inputs=["classifier", "x_test", "params:threshold"],
                outputs="predictions",
                name="predict",
            ),
        ]
    )
