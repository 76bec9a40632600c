"""Keep CPython's garbage collector from doubling what importing mlflow costs.

Importing mlflow and opening a store creates a few hundred thousand long-lived objects (pandas,
SQLAlchemy, alembic, fastapi come with it). Measured on the 200-node chain of bench/: while they
are created the collector keeps running full passes over the growing heap (about 0.4 s of a 1.4 s
import), and at interpreter exit it walks them all again (about 0.7 s). So:

- the collector is paused while mlflow is first imported and the store opened;
- in a process started by the `kedro` CLI (workers included), what exists at that point is then
  frozen (`gc.freeze`): nearly all of it (modules, classes, the session) lives until the process
  exits anyway, and neither later collections nor the exit walk it again. The price: cyclic
  garbage already made by then is never freed, a one-off, bounded amount in a process that ends
  with the run. Elsewhere (a notebook, tests, an orchestrator running sessions in its own
  process) nothing is frozen. The pause is process-wide (ThreadRunner's threads too) and lasts
  only while mlflow is imported and the store opened.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def importing_mlflow() -> Iterator[None]:
    """Wrap the first mlflow import of the process (and opening its store) in this."""
    if "mlflow" in sys.modules or not gc.isenabled():
        yield  # already paid for, or the application manages the collector itself
        return
    gc.disable()
    try:
        yield
    finally:
        if started_by_kedro_cli():
            gc.freeze()
        gc.enable()


def started_by_kedro_cli() -> bool:
    """`kedro ...` or `python -m kedro ...` (multiprocessing children inherit the parent's argv)."""
    program = sys.argv[0] if sys.argv else ""
    if program.endswith("-m kedro"):  # what kedro/__main__.py sets argv[0] to
        return True
    return bool(program) and (
        Path(program).name == "kedro" or Path(program).parts[-2:] == ("kedro", "__main__.py")
    )
