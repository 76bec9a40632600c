"""The background tracker: a helper process of `kedro run` that imports mlflow and opens the run
while the Kedro process builds its catalog and runs the first nodes (see background.py).

It speaks JSON lines: one request per line on stdin, one reply per request on stdout. Requests:
`start` (the TrackingSession arguments, the child runs and the params) and `end` (status, error).
End of input means the Kedro process is gone or done: a run still open is ended KILLED.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO


def main() -> None:
    replies = _take_stdout()
    if hasattr(os, "nice"):
        # the lowest priority: on a busy machine the pipeline comes first. Nothing in it waits
        # for the run (pipelines with Mlflow* datasets are tracked in process), and what is
        # left to do when it ends is quick once the CPU is free.
        os.nice(19)
    gc.disable()  # a short-lived process: the collector would only walk mlflow's import
    from . import tracking  # noqa: F401, PLC0415 - imports mlflow now, before the first request

    session: Any = None
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if request["op"] == "start" and session is None:
                session = _start(request)
                reply: dict[str, Any] = {
                    "run_id": session.run_id,
                    "experiment_id": session.experiment_id,
                    "child_runs": session.child_runs,
                }
            elif request["op"] == "end" and session is not None:
                error = request.get("error")
                session.end(request["status"], _as_error(error) if error else None)
                reply = {}
            else:
                raise RuntimeError(f"unexpected request {request['op']!r}")
            replies.write(json.dumps({"ok": True, **reply}) + "\n")
        except BaseException as error:  # noqa: BLE001 - every failure goes back to the Kedro process
            replies.write(
                json.dumps({"ok": False, "type": type(error).__name__, "message": str(error)})
                + "\n"
            )
    if session is not None and not session._ended:
        try:
            session.end("KILLED")  # the Kedro process stopped without ending the run
        finally:
            os._exit(0)
    os._exit(0)  # skip the interpreter's teardown: nothing is left to flush


def _take_stdout() -> TextIO:
    """Keep stdout for replies only: whatever mlflow prints goes to stderr (the terminal)."""
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return replies


def _start(request: dict[str, Any]) -> Any:
    from .config import MlflowConfig  # noqa: PLC0415
    from .run_tags import git_tags  # noqa: PLC0415
    from .tracking import RunHandoff, TrackingSession  # noqa: PLC0415

    handoff = request.get("handoff")
    git = git_tags(Path(request["project_path"]))  # `git status` can take a while: done here
    request["tags"].update(git)
    request["child_tags"].update(git)
    session = TrackingSession.start(
        MlflowConfig.model_validate(request["config"]),
        project_path=Path(request["project_path"]),
        run_name=request["run_name"],
        tags=request["tags"],
        credentials=request["credentials"],
        handoff=RunHandoff(*handoff) if handoff else None,
        experiment_id=request["experiment_id"],
    )
    try:
        if request["namespaces"]:
            session.open_child_runs(request["namespaces"], request["child_tags"])
        for namespace, params in request["params"]:
            session.log_params(params, namespace)
    except BaseException as error:
        session.end("FAILED", error)
        raise
    return session


def _as_error(error: dict[str, str]) -> BaseException:
    """The Kedro process's error, under its own class name (for the run's error_type tag)."""
    return type(error["type"], (Exception,), {})(error["message"])


if __name__ == "__main__":
    main()
