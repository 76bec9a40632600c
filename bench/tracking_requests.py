"""Requests to the tracking server per `kedro run`, for chains of 20, 200 and 1000 nodes.

Starts a real `mlflow server` on 127.0.0.1 (SQLite backend), runs each chain twice (the first
run creates the experiment) and counts the second run's API requests in the server's access
log. Bound: 3 + ceil(params / 100). kedro-mlflow 2.0.3 on the 200-node chain: 814 requests.
"""

from __future__ import annotations

import collections
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.chain_project import make_chain_project  # noqa: E402
from tests.servers import MlflowServer  # noqa: E402

ENV = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1",
       "MLFLOW_DISABLE_TELEMETRY": "true"}  # fmt: skip


def kedro_run(project: Path, nodes: int) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "kedro", "run"], cwd=project, env={**ENV, "CHAIN_NODES": str(nodes)},
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, MlflowServer(Path(tmp, "server")) as server:
        project = make_chain_project(Path(tmp, "chain"), tracking_uri=server.uri)
        for nodes in (20, 200, 1000):
            kedro_run(project, nodes)
            mark = server.mark()
            seconds = kedro_run(project, nodes)
            requests = server.requests_since(mark)
            bound = 3 + math.ceil(nodes / 100)
            detail = ", ".join(f"{n} {r}" for r, n in collections.Counter(requests).items())
            print(
                f"{nodes:>5} nodes: {len(requests):>3} requests (bound {bound}), "
                f"{seconds:5.2f} s  [{detail}]"
            )


if __name__ == "__main__":
    main()
