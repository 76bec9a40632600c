"""Inference pipeline: score new rows with the trained classifier (served as an MLflow model)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
