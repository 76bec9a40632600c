"""What tracking adds to a `kedro run`, in one run of this script:

- wall time of the chain project (each node reads its own parameter) tracked in a SQLite store vs
  the same project with no hook registered, at 200 and 1000 nodes, alternating, REPEATS times
  each: the medians, their ratio, the added seconds;
- the fixed cost (added seconds, the 200- and 1000-node figures extrapolated to 0 nodes) and the
  marginal cost per node (the slope between them);
- MLflow's own import cost: `import mlflow` and opening the store in a fresh interpreter that
  already imported Kedro, with the collector paused as the hook does.
Targets (issue #13): fixed cost <= MLflow's import + 0.15 s; marginal <= 0.1 ms per node.
kedro-mlflow 2.0.3 on the 200-node chain: 2.6x.
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

REPEATS = int(os.environ.get("BENCH_REPEATS", "7"))
SIZES = (200, 1000)
ENV = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1",
       "MLFLOW_DISABLE_TELEMETRY": "true"}  # fmt: skip
FIXED_COSTS = """
import sys, time
sys.argv[0] = "python -m kedro"  # as under the CLI
import kedro.framework.cli.cli, kedro.framework.session, kedro.runner, pydantic, yaml  # as in kedro run
from contextlib import nullcontext
from kedro_mlflow_runtime.tracking.import_cost import importing_mlflow
start = time.perf_counter()
with importing_mlflow() if {paused} else nullcontext():
    import mlflow
    mlflow.MlflowClient("sqlite:///{db}").search_experiments(max_results=1)
print(f"{{time.perf_counter() - start:.3f}}")
"""


def seconds(project: Path, **env: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "kedro", "run"], cwd=project, env={**ENV, **env}, check=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tracked = make_chain_project(Path(tmp, "tracked"), max_nodes=max(SIZES))
        untracked = make_chain_project(Path(tmp, "untracked"), max_nodes=max(SIZES))
        settings = untracked / "src" / "chain" / "settings.py"
        settings.write_text(settings.read_text().replace("HOOKS = (MlflowHook(),)", "HOOKS = ()"))
        added = {}
        for nodes in SIZES:
            variants = {
                "untracked": lambda n=nodes: seconds(untracked, CHAIN_NODES=str(n)),
                "tracked": lambda n=nodes: seconds(tracked, CHAIN_NODES=str(n)),
            }
            for run in variants.values():  # warm up: file cache, the store's first creation
                run()
            times: dict[str, list[float]] = {name: [] for name in variants}
            for _ in range(REPEATS):
                for name, run in variants.items():
                    times[name].append(run())
            base, median = (statistics.median(times[name]) for name in variants)
            # each round runs the two back to back: its difference cancels the machine's drift
            added[nodes] = statistics.median(
                t - u for t, u in zip(times["tracked"], times["untracked"], strict=True)
            )
            print(
                f"{nodes}-node chain, median of {REPEATS}: untracked {base:.2f} s, tracked "
                f"{median:.2f} s | ratio {median / base:.2f}x | added {added[nodes]:+.2f} s"
            )
        small, large = SIZES
        marginal = (added[large] - added[small]) / (large - small)
        fixed = added[small] - marginal * small
        code = FIXED_COSTS.format(db=tracked / "mlflow.db", paused=True)
        imports = [
            float(
                subprocess.run(
                    [sys.executable, "-c", code],
                    env=ENV,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.split()[-1]
            )  # fmt: skip
            for _ in range(3)
        ]
        mlflow_import = statistics.median(imports)
        print(
            f"  fixed cost {fixed:+.2f} s | marginal {marginal * 1000:+.3f} ms per node | "
            f"import mlflow + open the store (fresh interpreter with Kedro imported, collector "
            f"paused): {mlflow_import:.2f} s | fixed - import {fixed - mlflow_import:+.2f} s "
            f"(target <= +0.15 s; marginal target <= 0.1 ms)"
        )


if __name__ == "__main__":
    main()
