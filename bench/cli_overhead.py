"""What kedro-mlflow-runtime adds to Kedro commands that run no pipeline.

Generates the default project twice from this checkout: as generated (settings.py registers
MlflowHook) and a baseline whose settings.py has no runtime import and no hook. Times
`kedro --help` and `kedro registry list` in both, alternating, and prints medians, the
difference and the ratio. kedro-mlflow 2.0.3 adds 1.45 s to `kedro --help` (measured, see the
issue tracker); the target here is <= 0.1 s.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import copier

REPO_ROOT = Path(__file__).resolve().parents[1]
REPEATS = int(os.environ.get("BENCH_REPEATS", "7"))
COMMANDS = (["--help"], ["registry", "list"])
BASELINE_SETTINGS = '''"""Baseline: the same project without kedro-mlflow-runtime."""
from kedro.config import OmegaConfigLoader

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {"base_env": "base", "default_run_env": "local"}
'''


def generate(dst: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copier.run_copy(str(REPO_ROOT), dst, defaults=True, vcs_ref="HEAD", quiet=True)
    return dst


def seconds(project: Path, args: list[str]) -> float:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "kedro", *args], cwd=project, env=env, check=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tracked = generate(Path(tmp) / "tracked")
        baseline = generate(Path(tmp) / "baseline")
        package = next((baseline / "src").iterdir()).name
        (baseline / "src" / package / "settings.py").write_text(BASELINE_SETTINGS)
        for args in COMMANDS:
            seconds(tracked, args), seconds(baseline, args)  # warm the file cache
            with_runtime, without = [], []
            for _ in range(REPEATS):
                with_runtime.append(seconds(tracked, args))
                without.append(seconds(baseline, args))
            a, b = statistics.median(with_runtime), statistics.median(without)
            print(
                f"kedro {' '.join(args):<14} with runtime {a:6.3f} s | baseline {b:6.3f} s | "
                f"added {a - b:+.3f} s | ratio {a / b:.3f}  (median of {REPEATS})"
            )


if __name__ == "__main__":
    main()
