"""Wall time of a tracked `kedro run` over an untracked one: the 200-node chain (each node reads
its own parameter), tracked in a SQLite store vs the same project with no hook registered, in
the same virtualenv, alternating, REPEATS times each; prints the medians and their ratio, and
where the difference goes (the fixed costs: importing mlflow and opening its store).
Target: <= 1.10x. kedro-mlflow 2.0.3 on this chain: 2.6x.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.chain_project import make_chain_project  # noqa: E402

REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
NODES = 200
ENV = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1",
       "MLFLOW_DISABLE_TELEMETRY": "true", "CHAIN_NODES": str(NODES)}  # fmt: skip
FIXED_COSTS = """
import time
start = time.perf_counter()
import mlflow
imported = time.perf_counter()
mlflow.MlflowClient("sqlite:///{db}").search_experiments(max_results=1)
opened = time.perf_counter()
print(f"{{imported - start:.3f}} {{opened - imported:.3f}}")
"""


def seconds(project: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "kedro", "run"], cwd=project, env=ENV, check=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tracked = make_chain_project(Path(tmp, "tracked"), max_nodes=NODES)
        untracked = make_chain_project(Path(tmp, "untracked"), max_nodes=NODES)
        settings = untracked / "src" / "chain" / "settings.py"
        settings.write_text(settings.read_text().replace("HOOKS = (MlflowHook(),)", "HOOKS = ()"))
        seconds(tracked), seconds(untracked)  # warm up: file cache, the store's first creation
        times: dict[str, list[float]] = {"tracked": [], "untracked": []}
        for _ in range(REPEATS):
            times["tracked"].append(seconds(tracked))
            times["untracked"].append(seconds(untracked))
        a, b = statistics.median(times["tracked"]), statistics.median(times["untracked"])
        print(
            f"{NODES}-node chain: tracked {a:.2f} s | untracked {b:.2f} s | "
            f"ratio {a / b:.2f}x | added {a - b:+.2f} s  (median of {REPEATS})"
        )
        code = FIXED_COSTS.format(db=tracked / "mlflow.db")
        out = subprocess.run(
            [sys.executable, "-c", code], env=ENV, capture_output=True, text=True, check=True
        )
        imported, opened = out.stdout.split()
        print(f"  of which fixed: import mlflow {imported} s, open the SQLite store {opened} s")


if __name__ == "__main__":
    main()
