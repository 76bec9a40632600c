"""What a run could not log, kept on disk until `kedro mlflow retry` logs it.

Any process of the run (threads, ParallelRunner workers) appends one JSON line per item it could
not log to `mlflow-not-logged/<run id>.jsonl` in the project; the path travels in an environment
variable, and with the datasets to processes that never saw it (Dask workers). The file only
exists once something failed, so a run that is killed leaves nothing behind. Each line holds what `kedro mlflow retry` needs to log the item again (the metric values
themselves, the artifact's file) and the store it belongs to. No mlflow import.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ENV_VAR = "KEDRO_MLFLOW_RUNTIME_NOT_LOGGED"
FOLDER = "mlflow-not-logged"


def ledger_path(project_path: Path, run_id: str) -> Path:
    return Path(project_path).resolve() / FOLDER / f"{run_id}.jsonl"


def start(project_path: Path, run_id: str) -> None:
    """Where this run's processes note what they could not log (the file is made on the first)."""
    os.environ[ENV_VAR] = str(ledger_path(project_path, run_id))


def path() -> Path | None:
    value = os.environ.get(ENV_VAR)
    return Path(value) if value else None


def record(
    what: str,
    retry: str,
    error: BaseException,
    replay: dict[str, Any] | None = None,
    ledger: Path | None = None,
) -> None:
    """Note an item this run could not log (in `ledger`, default: this process's); `replay` is
    what `kedro mlflow retry` logs."""
    ledger = ledger or path()
    if ledger is None:
        return
    line = {
        "what": what,
        "retry": retry,
        "error": f"{type(error).__name__}: {error}",
        "unreachable": is_connection_failure(error),
        "replay": replay,
    }
    _append(ledger, line)


def record_success(run_id: str, ledger: Path | None, child_runs: list[str]) -> None:
    """The pipeline itself succeeded: once every item is logged, the run is FINISHED."""
    if ledger is not None:
        _append(ledger, {"succeeded": run_id, "child_runs": child_runs})


def _append(ledger: Path, line: dict[str, Any]) -> None:
    ledger.parent.mkdir(parents=True, exist_ok=True)
    with open(ledger, "a", encoding="utf-8") as file:  # one short append per line
        file.write(json.dumps(line) + "\n")


def lines(ledger: Path | None) -> list[dict[str, Any]]:
    if ledger is None or not ledger.exists():
        return []
    with open(ledger, encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]


def read(ledger: Path | None = None) -> list[dict[str, Any]]:
    """The items not logged (not the success marker)."""
    return [line for line in lines(ledger or path()) if "what" in line]


def server_unreachable(ledger: Path | None = None) -> bool:
    """Whether a request of this run already failed to reach the server: the rest of the run
    notes its items without trying (each try would wait for MLflow's retries again)."""
    return any(item.get("unreachable") for item in read(ledger))


def is_connection_failure(error: BaseException | None) -> bool:
    """The server could not be reached at all (refused, timed out, name not resolved), as
    opposed to a request it answered with an error. MLflow wraps requests' errors: walk the chain."""
    seen = 0
    while error is not None and seen < 10:
        names = {klass.__name__ for klass in type(error).__mro__}
        module = type(error).__module__
        if module.startswith(("requests", "urllib3")) and names & {
            "ConnectionError",
            "Timeout",
            "MaxRetryError",
            "NewConnectionError",
        }:
            # retries used up on error answers: a gateway with nothing behind it (502-504) is
            # "unreachable"; a server answering 500 (e.g. its artifact store refused) is not,
            # and the run's other items are still tried
            return not _answered_500(getattr(error, "reason", None))
        error = error.__cause__ or error.__context__
        seen += 1
    return False


def _answered_500(reason: object) -> bool:
    # urllib3's ResponseError text is its only record of the status: "too many 500 error responses"
    return type(reason).__name__ == "ResponseError" and "too many 500 " in str(reason)
