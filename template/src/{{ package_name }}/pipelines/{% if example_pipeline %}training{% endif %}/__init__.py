"""Training pipeline: split the data, fit a classifier, evaluate it."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
