"""SIGTERM and SIGHUP end the run KILLED, then the process dies as it would have.

SIGTERM is how Airflow, Kubernetes, systemd and `kill` stop a process; SIGHUP comes from a closed
ssh session. Left to their default, the process dies at once and its run stays RUNNING forever.
While a run is open, a handler ends worker processes (ParallelRunner's: they would outlive the
run), marks the run KILLED within connect_timeout, then puts the default back and re-sends the
signal, so the exit status is the one the sender expects. Ctrl-C (SIGINT) already raises
KeyboardInterrupt, which ends the run through the exit handler. Handlers someone else installed
(an orchestrator's, `nohup`'s SIG_IGN) are left alone: they decide how the process ends.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from typing import Any

from ..errors import RunKilledError

logger = logging.getLogger(__name__)

WATCHED = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
_watching: dict[int, Any] = {}  # signal -> the session whose run it ends
_owner = os.getpid()  # forked workers inherit the handler: only this process ends the run


def end_run_on_termination(session: Any) -> None:
    """Watch SIGTERM/SIGHUP for `session` (from the main thread, where Python runs handlers)."""
    global _owner  # noqa: PLW0603 - the process that opened the run
    if threading.current_thread() is not threading.main_thread():
        return
    _owner = os.getpid()
    for signum in WATCHED:
        if signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, _on_termination)
            _watching[signum] = session


def stop_watching(session: Any) -> None:
    for signum, watched in list(_watching.items()):
        if watched is session:
            del _watching[signum]
            if threading.current_thread() is threading.main_thread():
                signal.signal(signum, signal.SIG_DFL)


def _on_termination(signum: int, frame: Any) -> None:
    session = _watching.get(signum) if os.getpid() == _owner else None
    name = signal.Signals(signum).name
    if session is not None:
        _stop_workers()
        logger.warning("%s received: ending MLflow run %s as KILLED", name, session.run_id)
        # in a thread: the main thread may be inside a request to the same store
        ender = threading.Thread(
            target=session._end_at_exit,
            args=(RunKilledError(f"Process {os.getpid()} received {name}"),),
            daemon=True,
        )
        ender.start()
        ender.join(session.connect_timeout + 5)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _stop_workers() -> None:
    """Worker processes of this process (ParallelRunner's pool) never outlive the run."""
    children = multiprocessing.active_children()
    for child in children:
        child.terminate()
    for child in children:
        child.join(5)
