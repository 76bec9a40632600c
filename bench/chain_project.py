"""A throwaway Kedro project whose pipeline is a chain of N nodes, each reading its own
parameter (the shape kedro-mlflow 2.0.3 was measured on), with the template's settings.py."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SETTINGS = REPO_ROOT / "template" / "src" / "{{ package_name }}" / "settings.py"

REGISTRY = """
import os

from kedro.pipeline import Node, Pipeline


def step(value, param):
    return value + param


def register_pipelines():
    n = int(os.environ.get("CHAIN_NODES", "200"))
    nodes = [Node(step, [f"d{i}", f"params:p{i}"], f"d{i + 1}", name=f"n{i}") for i in range(n)]
    return {"__default__": Pipeline(nodes)}
"""


def make_chain_project(root: Path, max_nodes: int = 1000, tracking_uri: str | None = None) -> Path:
    """Write the project under `root`; the pipeline length comes from $CHAIN_NODES at run time."""
    shutil.rmtree(root, ignore_errors=True)
    package = root / "src" / "chain"
    package.mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[tool.kedro]\npackage_name = "chain"\nproject_name = "chain"\n'
        'kedro_init_version = "1.7.0"\nsource_dir = "src"\n'
    )
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(SETTINGS.read_text())
    (package / "pipeline_registry.py").write_text(REGISTRY)
    conf = root / "conf" / "base"
    conf.mkdir(parents=True)
    (root / "conf" / "local").mkdir()
    (conf / "parameters.yml").write_text("\n".join(f"p{i}: {i}" for i in range(max_nodes)))
    (conf / "catalog.yml").write_text("d0:\n  type: kedro.io.MemoryDataset\n  data: 0\n")
    if tracking_uri:
        (conf / "mlflow.yml").write_text(f"server:\n  mlflow_tracking_uri: {tracking_uri}\n")
    return root
