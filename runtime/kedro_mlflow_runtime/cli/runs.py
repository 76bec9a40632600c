"""`kedro mlflow runs --stale`: runs left RUNNING by a process that is gone (kill -9, a crash of
the machine, an out-of-memory kill), found through the host:pid each run is tagged with."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

from ..tracking.tags import PROCESS_TAG

ALIVE, GONE, UNKNOWN = "running", "gone", "unknown"


@dataclass(frozen=True)
class OpenRun:
    run_id: str
    name: str
    process: str  # the PROCESS_TAG value, "" if none
    state: str  # ALIVE, GONE or UNKNOWN (another machine, no tag, or a run left open on purpose)

    def line(self) -> str:
        where = self.process or "no process recorded"
        return f"{self.run_id}  {self.name}  ({where}: {self.state})"


def open_runs(client: Any, experiment_name: str) -> list[OpenRun]:
    """The experiment's RUNNING runs, each with what is known of the process that owns it."""
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return []
    found, token = [], None
    while True:
        page = client.search_runs(
            [experiment.experiment_id],
            filter_string="attributes.status = 'RUNNING'",
            max_results=1000,
            page_token=token,
        )
        for run in page:
            process = run.data.tags.get(PROCESS_TAG, "")
            found.append(OpenRun(run.info.run_id, run.info.run_name, process, _state(process)))
        token = page.token
        if not token:
            return found


def _state(process: str) -> str:
    host, _, pid = process.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return UNKNOWN
    try:
        os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return GONE
    except PermissionError:  # exists, owned by another user
        return ALIVE
    return ALIVE


def end_stale(client: Any, runs: list[OpenRun]) -> list[OpenRun]:
    """Mark the runs whose process is gone KILLED (child runs carry the tag too)."""
    ended = [run for run in runs if run.state == GONE]
    for run in ended:
        client.set_tag(run.run_id, "error_message", f"process {run.process} was gone")
        client.set_terminated(run.run_id, "KILLED")
    return ended
