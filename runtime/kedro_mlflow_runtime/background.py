"""Creating the MLflow run in a background tracker process, so that `kedro run` does not wait
for mlflow's import (about a second of CPU, more than many pipelines take).

`kedro run` builds the hook when it reads settings.py; the hook then starts the tracker
(tracker.py), which imports mlflow on another core while Kedro loads the project. At
`before_pipeline_run` the hook checks, without mlflow, what would stop the run before any node
(preflight.py), hands the run's name, tags and params to the tracker and lets the nodes start.
The run id is a promise from then on:

- ParallelRunner's workers, and anything that asks run_context for the run, wait for it;
- node code that imports mlflow finds the run active, as in a run started in process;
- a failure the tracker reports (one preflight cannot see, e.g. a store that needs
  `mlflow db upgrade`) stops the pipeline at the next node boundary; outputs saved are kept;
- the tracker ends the run when the hook says so, or KILLED when the Kedro process dies.

Only `kedro run` processes use it, with a local SQLite store or an http(s) server, for a
pipeline that does not need mlflow in the Kedro process: none of its datasets is an Mlflow* one
and it is not a PipelineML (those import mlflow anyway; a tracker would only compete for the
CPU), and nothing imported mlflow before. `KEDRO_MLFLOW_BACKGROUND=false` turns it off.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import run_context
from .import_cost import collector_paused, started_by_kedro_cli
from .on_import import AfterImport, after_import

if TYPE_CHECKING:
    from .config import MlflowConfig

logger = logging.getLogger(__name__)

OPT_OUT_ENV = "KEDRO_MLFLOW_BACKGROUND"


def _in_worker_process() -> bool:
    """A ParallelRunner worker (spawned: it reads settings.py again, with the parent's argv)."""
    multiprocessing = sys.modules.get("multiprocessing")  # a spawned worker has imported it
    return multiprocessing is not None and multiprocessing.parent_process() is not None


class TrackingError(RuntimeError):
    """The background tracker could not create or end the run."""


class BackgroundTracker:
    """The tracker process and the replies to come from it (in the order of the requests)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self._process = process
        self._waiting: deque[Future[dict[str, Any]]] = deque()
        self._gone = False  # the tracker's output has ended: no reply will come
        self._used = False  # a run was handed to it
        self.run_ended = False  # ... and it ended it: nothing left to wait for at exit
        self._lock = threading.Lock()
        threading.Thread(target=self._read, name="mlflow-tracker", daemon=True).start()
        atexit.register(self.close, wait=True)

    @classmethod
    def prestart(cls) -> BackgroundTracker | None:
        """Start the tracker if this process is a `kedro run` that can use one."""
        wanted = os.environ.get(OPT_OUT_ENV, "true").strip().lower() not in ("0", "false", "no")
        if not (
            wanted
            and started_by_kedro_cli()
            and sys.argv[1:2] == ["run"]
            and not _in_worker_process()
            and "mlflow" not in sys.modules
        ):
            return None
        # appended to sys.path, never prepended: it may be site-packages itself
        package_root = str(Path(__file__).resolve().parents[1])
        code = (
            f"import sys; sys.path.append({package_root!r}); "
            "from kedro_mlflow_runtime.tracker import main; main()"
        )
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", code],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                start_new_session=True,  # Ctrl-C is for the Kedro process; it tells the tracker
            )
        except OSError as error:
            logger.debug("no background tracker (%s): the run is started in process", error)
            return None
        return cls(process)

    def send(self, request: Mapping[str, Any]) -> Future[dict[str, Any]]:
        future: Future[dict[str, Any]] = Future()
        with self._lock:
            if self._gone:
                future.set_exception(_tracker_gone())
                return future
            self._waiting.append(future)
            self._used = True
            try:
                self._process.stdin.write(json.dumps(request) + "\n")  # type: ignore[union-attr]
                self._process.stdin.flush()  # type: ignore[union-attr]
            except (OSError, ValueError):
                pass  # the tracker is gone: the reader fails the future
        return future

    def close(self, wait: bool = False) -> None:
        """No more requests: the tracker ends a run still open (KILLED) and exits. At exit, the
        Kedro process waits for that (briefly), so the run's status is final when it is gone.
        A tracker never handed a run is stopped at once (it may still be importing mlflow)."""
        wait = wait and self._used and not self.run_ended
        try:
            if self._used:
                self._process.stdin.close()  # type: ignore[union-attr]
            else:
                self._process.kill()
        except (OSError, ValueError):
            pass
        if wait:
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass

    def _read(self) -> None:
        for line in self._process.stdout:  # type: ignore[union-attr]
            with self._lock:
                future = self._waiting.popleft() if self._waiting else None
            if future is not None:
                future.set_result(json.loads(line))
        with self._lock:
            self._gone = True
            while self._waiting:
                self._waiting.popleft().set_exception(_tracker_gone())


def _tracker_gone() -> TrackingError:
    return TrackingError(
        "The background MLflow tracker process exited unexpectedly (its error, if any, is "
        f"printed above). Set {OPT_OUT_ENV}=false to track in the Kedro process instead."
    )


def can_track(config: MlflowConfig) -> bool:
    """Stores whose failures preflight.py can check before any node, without mlflow."""
    from .config import local_sqlite_path  # noqa: PLC0415 - not at import: the tracker starts first

    uri = config.tracking_uri
    return (
        "mlflow" not in sys.modules
        and not config.server.request_header_provider.type  # an in-process plugin of mlflow's
        and (uri.startswith(("http://", "https://")) or local_sqlite_path(uri) is not None)
    )


class BackgroundSession:
    """The Kedro run's MLflow run, created by the tracker: the same surface as TrackingSession
    for the hook (run_id, experiment_id, child_runs, client, end)."""

    def __init__(self, tracker: BackgroundTracker, config: MlflowConfig, run_name: str) -> None:
        self._tracker, self._config, self._run_name = tracker, config, run_name
        self._started: Future[dict[str, Any]] | None = None
        self._reply: dict[str, Any] | None = None
        self._lock = threading.RLock()
        self._saved_env: dict[str, str | None] = {}
        self._ledger: str | None = None
        self._pushed_threads: list[Callable[[], None]] = []
        self._ended = False
        self._import_hook: AfterImport | None = None

    @classmethod
    def start(
        cls,
        tracker: BackgroundTracker,
        config: MlflowConfig,
        *,
        project_path: Path,
        run_name: str,
        tags: Mapping[str, str],
        credentials: Mapping[str, str],
        handoff: Any,
        child_runs: tuple[list[str], Mapping[str, str]],
        params_by_run: Mapping[str | None, Mapping[str, str]],
        experiment_id: str | None = None,
    ) -> BackgroundSession:
        session = cls(tracker, config, run_name)
        session._started = tracker.send(
            {
                "op": "start",
                "config": config.model_dump(mode="json"),
                "project_path": str(project_path),
                "run_name": run_name,
                "tags": dict(tags),
                "credentials": dict(credentials),
                "experiment_id": experiment_id,  # found by the preflight: not looked up again
                "handoff": [handoff.run_id, handoff.end_run] if handoff.run_id else None,
                "namespaces": child_runs[0],  # tracking.run.nesting: namespace
                "child_tags": dict(child_runs[1]),
                "params": [
                    [namespace, dict(params)] for namespace, params in params_by_run.items()
                ],
            }
        )
        # What TrackingSession does in process, without mlflow: the store for mlflow's own
        # defaults and child processes, credentials in the environment, the not-logged ledger.
        session._saved_env = run_context.save_environment()
        os.environ.update(credentials)
        os.environ["MLFLOW_TRACKING_URI"] = config.tracking_uri
        if config.registry_uri:
            os.environ["MLFLOW_REGISTRY_URI"] = config.registry_uri
        session._ledger = run_context.start_not_logged_ledger()
        run_context.await_run(session.wait)
        # as in process, the collector pauses while mlflow is imported (import_cost.py)
        session._import_hook = after_import(
            "mlflow", session._mlflow_imported, around=collector_paused
        )
        return session

    # --- the promise ------------------------------------------------------------------------------

    def wait(self) -> dict[str, Any]:
        """The tracker's answer to `start` (blocks until it comes); raises what it reported."""
        with self._lock:
            if self._reply is None:
                assert self._started is not None
                try:
                    self._reply = self._started.result()
                except TrackingError as error:
                    self._reply = {"ok": False, "type": "TrackingError", "message": str(error)}
                if self._reply["ok"]:
                    run_context.await_run(None)
                    os.environ["MLFLOW_EXPERIMENT_ID"] = self._reply["experiment_id"]
                    run_context.publish_run(
                        self.run_id, self.experiment_id, dict(self.child_runs) or None
                    )
                    run_context.log_started(
                        self._run_name, self.run_id, self.experiment_id, self._config
                    )
        if not self._reply["ok"]:
            raise self._start_error()
        return self._reply

    def failure(self) -> BaseException | None:
        """What the tracker reported, if it already did; never waits."""
        if self._started is None or not self._started.done():
            return None
        try:
            self.wait()
        except Exception as error:  # noqa: BLE001 - returned, for the hook to raise
            return error
        return None

    def _start_error(self) -> BaseException:
        reply = self._reply or {}
        message = reply.get("message", "").replace(" No node has run.", "")
        note = (
            " The background tracker reported this after the pipeline had started: it was "
            "stopped at the next node, and outputs saved so far are kept."
        )
        known = _known_errors().get(reply.get("type", ""))
        if known is not None:
            return known(message + note)
        return TrackingError(
            f"MLflow could not start the run ({reply.get('type')}: {message}).{note}"
        )

    @property
    def run_id(self) -> str:
        return self.wait()["run_id"]

    @property
    def experiment_id(self) -> str:
        return self.wait()["experiment_id"]

    @property
    def child_runs(self) -> dict[str, str]:
        return self.wait()["child_runs"]

    @property
    def client(self) -> Any:
        """An MlflowClient in this process (imports mlflow: the pipeline model needs it)."""
        self.wait()
        return run_context.client_for(self._config.tracking_uri, self._config.registry_uri)

    # --- node code that imports mlflow --------------------------------------------------------------

    def _mlflow_imported(self) -> None:
        """Right after this process imports mlflow: make the run active in the importing thread
        and apply mlflow.yml's process-wide settings, as TrackingSession does in process."""
        import mlflow  # noqa: PLC0415 - just imported
        from mlflow.tracking.fluent import _active_run_stack  # noqa: PLC0415

        if self._config.tracking.disable_tracking.disable_autologging:
            mlflow.autolog(disable=True, silent=True)
        try:
            run_id = self.run_id
        except Exception:  # noqa: BLE001 - the hook reports it at the next node
            return
        if mlflow.active_run() is None:
            stack = _active_run_stack.get()
            stack.append(mlflow.ActiveRun(mlflow.MlflowClient().get_run(run_id)))
            self._pushed_threads.append(
                lambda: stack and stack[-1].info.run_id == run_id and stack.pop()
            )

    # --- ending -------------------------------------------------------------------------------------

    def end(self, status: str = "FINISHED", error: BaseException | None = None) -> None:
        """Have the tracker end the run; FINISHED raises what the tracker reported at start."""
        if self._ended:
            return
        self._ended = True
        try:
            self.wait()
        except Exception as start_error:
            self._clean_up()
            if status == "FINISHED":
                raise
            if str(error) != str(start_error):  # else it is the error being raised
                logger.error("%s", start_error)  # the pipeline's own error is the one raised
            return
        for pop in self._pushed_threads:
            pop()
        request: dict[str, Any] = {"op": "end", "status": status, "error": None}
        if error is not None:
            request["error"] = {"type": type(error).__name__, "message": str(error)}
        try:
            reply = self._tracker.send(request).result()
            self._tracker.run_ended = reply["ok"]
        finally:
            self._clean_up()
        if not reply["ok"]:
            raise TrackingError(
                f"MLflow run {self.run_id} could not be marked {status} ({reply['type']}: "
                f"{reply['message']})."
            )
        page = run_context.run_page(self._config.tracking_uri, self.experiment_id, self.run_id)
        logger.info("MLflow run %s ended: %s%s", self.run_id, status, page)

    def _clean_up(self) -> None:
        run_context.await_run(None)
        run_context.publish_run(None)
        run_context.restore_environment(self._saved_env)
        if self._ledger:
            Path(self._ledger).unlink(missing_ok=True)
        if self._import_hook is not None:
            self._import_hook.remove()
        self._tracker.close()


def _known_errors() -> dict[str, type[Exception]]:
    """Errors the tracker reports that keep their class here (others become TrackingError)."""
    from .config import MlflowConfigError  # noqa: PLC0415
    from .preflight import (  # noqa: PLC0415
        TrackingAuthenticationError,
        TrackingStoreUnwritableError,
        TrackingUnavailableError,
    )

    errors = (
        MlflowConfigError,
        TrackingAuthenticationError,
        TrackingStoreUnwritableError,
        TrackingUnavailableError,
    )
    return {error.__name__: error for error in errors}
