"""What installing kedro-mlflow-runtime costs, with and without the full mlflow, in one run:

builds the runtime's wheel from this checkout and installs it into two fresh venvs (the Python
this runs on, pip from the package index as configured, so a warm cache makes it quick):
  full     kedro-mlflow-runtime[ui]: the full mlflow (UI, server), what the runtime installed
           before issue #18 and what a `local` project's dev install (`.[dev]`) has
  skinny   kedro-mlflow-runtime: mlflow-skinny + the SQLite store, a `server` or `databricks`
           project's runtime install (and a `local` one's outside its dev tools)
For each: the venv's size (du), its package count (pip list), `import mlflow` (median of fresh
interpreters), the same as a tracked run pays it (import mlflow and open the SQLite store, Kedro
imported, the collector paused: bench/tracking_overhead.py's measure), and tracking's fixed cost
per `kedro run` (a 10-node chain project tracked in a SQLite store minus the same project
untracked, median of alternating pairs); then skinny's figures against full's.
Targets (issue #18): skinny <= 400 MB; its fixed cost lower than full's by at least the
`import mlflow` difference.
"""

from __future__ import annotations

import json
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
from bench.tracking_overhead import FIXED_COSTS  # noqa: E402

REPEATS = int(os.environ.get("BENCH_REPEATS", "7"))
NODES = 10
BASE_PYTHON = Path(sys._base_executable)  # a user's Python, not this venv's
INSTALLS = {"full": "[ui]", "skinny": ""}
ENV = {
    **{k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")},
    "KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1", "MLFLOW_DISABLE_TELEMETRY": "true",
}  # fmt: skip
IMPORT = "import time; t = time.perf_counter(); import mlflow; print(time.perf_counter() - t)"
# what the store adds to skinny: the distributions mlflow-skinny leaves out for it
STORE = ("sqlalchemy", "alembic", "mako", "greenlet")
STORE_SIZE = """
import sys
from importlib import metadata
total = 0
for name in sys.argv[1:]:
    try:
        total += sum(f.locate().stat().st_size for f in metadata.files(name) or [])
    except metadata.PackageNotFoundError:
        pass
print(total)
"""


def run(*command: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=ENV, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    if done.returncode:
        raise SystemExit(f"{' '.join(map(str, command))} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def build_wheel(dest: Path) -> Path:
    run(sys.executable, "-m", "build", "--wheel", "--outdir", dest, REPO_ROOT)
    [wheel] = dest.glob("kedro_mlflow_runtime-*.whl")
    return wheel


def install(venv: Path, wheel: Path, extra: str) -> tuple[Path, float]:
    """A fresh venv with the runtime (and `extra`); returns its python and the install's time."""
    run(BASE_PYTHON, "-m", "venv", venv)
    python = venv / "bin" / "python"
    start = time.perf_counter()
    run(
        python, "-m", "pip", "install", "--quiet", f"kedro-mlflow-runtime{extra} @ {wheel.as_uri()}"
    )
    return python, time.perf_counter() - start


def size_mb(venv: Path) -> float:
    return int(run("du", "-sk", venv).split()[0]) / 1024


def packages(python: Path) -> int:
    return len(json.loads(run(python, "-m", "pip", "list", "--format=json")))


def kedro_run(python: Path, project: Path) -> float:
    start = time.perf_counter()
    run(python, "-m", "kedro", "run", cwd=project)
    return time.perf_counter() - start


def chain_projects(root: Path) -> tuple[Path, Path]:
    """The chain project tracked in a SQLite store (the template's settings.py), and untracked."""
    tracked = make_chain_project(root / "tracked", max_nodes=NODES)
    untracked = make_chain_project(root / "untracked", max_nodes=NODES)
    settings = untracked / "src" / "chain" / "settings.py"
    settings.write_text(settings.read_text().replace("HOOKS = (MlflowHook(),)", "HOOKS = ()"))
    return tracked, untracked


def main() -> None:
    ENV["CHAIN_NODES"] = str(NODES)
    with tempfile.TemporaryDirectory(prefix="bench-install-") as tmp:
        root = Path(tmp)
        wheel = build_wheel(root / "dist")
        pythons, figures = {}, {}
        for name, extra in INSTALLS.items():
            pythons[name], took = install(root / name, wheel, extra)
            figures[name] = {
                "size": size_mb(root / name),
                "packages": packages(pythons[name]),
                "install": took,
                "imports": [],
                "in_run": [],
                "added": [],
            }
        store = int(run(pythons["skinny"], "-c", STORE_SIZE, *STORE)) / 2**20
        tracked, untracked = chain_projects(root / "chain")
        for python in pythons.values():  # warm up: file cache, the store's first creation
            kedro_run(python, tracked)
            kedro_run(python, untracked)
        for repeat in range(REPEATS):
            # alternate which install goes first: the machine's drift falls on both alike
            for name in list(pythons)[:: 1 if repeat % 2 else -1]:
                python = pythons[name]
                figures[name]["imports"].append(float(run(python, "-c", IMPORT)))
                in_run = FIXED_COSTS.format(db=tracked / "mlflow.db", paused=True)
                figures[name]["in_run"].append(float(run(python, "-c", in_run).split()[-1]))
                # each pair runs back to back: its difference cancels the drift
                figures[name]["added"].append(
                    kedro_run(python, tracked) - kedro_run(python, untracked)
                )

        for name, fig in figures.items():
            fig["import"] = statistics.median(fig["imports"])
            fig["in_run"] = statistics.median(fig["in_run"])
            fig["fixed"] = statistics.median(fig["added"])
            print(
                f"{name:>6} ({'kedro-mlflow-runtime' + INSTALLS[name]}): {fig['size']:.0f} MB, "
                f"{fig['packages']} packages, installed in {fig['install']:.0f} s | import mlflow "
                f"{fig['import']:.2f} s, as a tracked run pays it (+ open the store) "
                f"{fig['in_run']:.2f} s | tracking's fixed cost per run {fig['fixed']:+.2f} s "
                f"(medians of {REPEATS})"
            )
        full, skinny = figures["full"], figures["skinny"]
        saved_import = full["import"] - skinny["import"]
        saved_in_run = full["in_run"] - skinny["in_run"]
        saved_fixed = full["fixed"] - skinny["fixed"]
        print(
            f"  skinny / full: size {skinny['size'] / full['size']:.2f}x "
            f"({skinny['size'] - full['size']:+.0f} MB; the SQLite store is {store:.0f} MB of "
            f"skinny), packages {skinny['packages'] - full['packages']:+d}, import mlflow "
            f"{skinny['import'] / full['import']:.2f}x ({-saved_import:+.2f} s; in a run "
            f"{-saved_in_run:+.2f} s), fixed cost {-saved_fixed:+.2f} s"
        )
        print(
            f"  targets: skinny <= 400 MB: {skinny['size']:.0f} MB; fixed cost saved >= import "
            f"saved: {saved_fixed:.2f} s vs {saved_import:.2f} s (as a run pays it: "
            f"{saved_in_run:.2f} s)"
        )


if __name__ == "__main__":
    main()
