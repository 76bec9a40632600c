"""The project's pipelines, one folder each (found by pipeline_registry.py)."""
