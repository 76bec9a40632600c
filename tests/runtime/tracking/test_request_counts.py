"""Round trips to a real tracking server do not grow with the number of nodes.

A chain of N nodes, each reading its own parameter, tracked against `mlflow server` on
127.0.0.1: a run costs at most 3 + ceil(params / 100) requests (get the experiment, create the
run, end it, and the params in batches of 100), counted in the server's access log.
"""

from __future__ import annotations

import math

import pytest

from tests.conftest import kedro

pytestmark = pytest.mark.e2e

CHAIN_REGISTRY = """
import os

from kedro.pipeline import Node, Pipeline


def step(value, param):
    return value + param


def register_pipelines():
    n = int(os.environ["CHAIN_NODES"])
    nodes = [
        Node(step, [f"d{i}", f"params:p{i}"], f"d{i + 1}", name=f"n{i}") for i in range(n)
    ]
    return {"__default__": Pipeline(nodes)}
"""


@pytest.mark.parametrize("nodes", [20, 200])
def test_requests_per_run_do_not_grow_with_nodes(project, mlflow_server, nodes):
    server = mlflow_server
    project.write(f"src/{project.package}/pipeline_registry.py", CHAIN_REGISTRY)
    project.write("conf/base/parameters.yml", "\n".join(f"p{i}: {i}" for i in range(nodes)))
    project.write("conf/base/catalog.yml", "d0:\n  type: kedro.io.MemoryDataset\n  data: 0\n")
    project.mlflow_yml(
        f"server:\n  mlflow_tracking_uri: {server.uri}\n"
        f"tracking:\n  experiment:\n    name: chain-{nodes}\n"
    )
    first = kedro(project.path, "run", CHAIN_NODES=str(nodes))  # creates the experiment
    assert first.returncode == 0, first.stderr

    mark = server.mark()
    result = kedro(project.path, "run", CHAIN_NODES=str(nodes))
    assert result.returncode == 0, result.stderr
    requests = server.requests_since(mark)

    assert len(requests) <= 3 + math.ceil(nodes / 100), requests
    assert requests.count("POST /api/2.0/mlflow/runs/log-batch") == math.ceil(nodes / 100)
    assert "POST /api/2.0/mlflow/runs/create" in requests
    assert "POST /api/2.0/mlflow/runs/update" in requests


def test_batch_sizes_are_mlflows_limits():
    """batches.py writes MLflow's limits as numbers (so that it imports no mlflow): the largest
    batches MLflow accepts, hence the fewest requests."""
    from mlflow.utils import validation

    from kedro_mlflow_runtime.tracking import batches

    assert batches.MAX_PARAMS_TAGS_PER_BATCH == validation.MAX_PARAMS_TAGS_PER_BATCH
    assert batches.MAX_METRICS_PER_BATCH == validation.MAX_METRICS_PER_BATCH
