"""Wall time of a tracked `kedro run` over an untracked one: the 200-node chain (each node reads
its own parameter), tracked in a SQLite store vs the same project with no hook registered, in
the same virtualenv, alternating, REPEATS times each; prints the medians and their ratio.
Tracked twice: as `kedro run` does by default (the run made by the background tracker,
kedro_mlflow_runtime/background.py) and in process (KEDRO_MLFLOW_BACKGROUND=false, as in a
notebook). Then the fixed cost the background tracker takes off the critical path: importing
mlflow and opening its store, with CPython's collector running as usual and paused as the hook
does in process (kedro_mlflow_runtime/import_cost.py).
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

REPEATS = int(os.environ.get("BENCH_REPEATS", "9"))
NODES = 200
ENV = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1",
       "MLFLOW_DISABLE_TELEMETRY": "true", "CHAIN_NODES": str(NODES)}  # fmt: skip
FIXED_COSTS = """
import sys, time
sys.argv[0] = "python -m kedro"  # as under the CLI
import kedro.framework.cli.cli, kedro.framework.session, kedro.runner, pydantic, yaml  # as in kedro run
from contextlib import nullcontext
from kedro_mlflow_runtime.import_cost import importing_mlflow
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
        tracked = make_chain_project(Path(tmp, "tracked"), max_nodes=NODES)
        untracked = make_chain_project(Path(tmp, "untracked"), max_nodes=NODES)
        settings = untracked / "src" / "chain" / "settings.py"
        settings.write_text(settings.read_text().replace("HOOKS = (MlflowHook(),)", "HOOKS = ()"))
        variants = {
            "untracked": lambda: seconds(untracked),
            "tracked": lambda: seconds(tracked),
            "in process": lambda: seconds(tracked, KEDRO_MLFLOW_BACKGROUND="false"),
        }
        for run in variants.values():  # warm up: file cache, the store's first creation
            run()
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(REPEATS):
            for name, run in variants.items():
                times[name].append(run())
        base = statistics.median(times["untracked"])
        print(f"{NODES}-node chain, median of {REPEATS}: untracked {base:.2f} s")
        for name in ("tracked", "in process"):
            median = statistics.median(times[name])
            label = "tracked (kedro run)" if name == "tracked" else "tracked in process"
            # each round runs the variants back to back: its ratio cancels the machine's drift
            paired = statistics.median(
                t / u for t, u in zip(times[name], times["untracked"], strict=True)
            )
            print(
                f"  {label:<20} {median:.2f} s | ratio {median / base:.2f}x | "
                f"added {median - base:+.2f} s | median ratio within a round {paired:.2f}x"
            )
        fixed = {}
        for paused in (False, True):
            code = FIXED_COSTS.format(db=tracked / "mlflow.db", paused=paused)
            out = subprocess.run(
                [sys.executable, "-c", code], env=ENV, capture_output=True, text=True, check=True
            )
            fixed[paused] = out.stdout.split()[-1]
        print(
            f"  import mlflow + open the SQLite store, in a fresh interpreter that imported Kedro: "
            f"{fixed[False]} s with the collector running, {fixed[True]} s paused (as the hook "
            f"does in process); the background tracker pays it on another core"
        )


if __name__ == "__main__":
    main()
