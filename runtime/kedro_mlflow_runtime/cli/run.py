"""`kedro mlflow run start|end`: the one MLflow run of an orchestrated DAG whose tasks are
separate `kedro run --nodes ...` processes (Airflow, Argo, Kubeflow). `start` opens it as a
`kedro run` would and leaves it RUNNING for the tasks (MLFLOW_RUN_ID); `end` ends it once they
are done. Imported by the commands only (it imports mlflow)."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException

from ..config.project import read_mlflow_credentials, run_env
from ..tracking.redaction import mask_url_passwords
from ..tracking.run_context import run_page
from ..tracking.session import TrackingSession
from ..tracking.tags import DEFAULT_PIPELINE, run_tags

START_ADVICE = "No run was started: run `kedro mlflow run start` again once it answers."
END_ADVICE = "The run was not ended: run `kedro mlflow run end` again once it answers."


def start_shared_run(
    context: Any, config: Any, project_path: Path, env: str | None, run_name: str | None
) -> str:
    """Create the run in the project's experiment, with a `kedro run`'s tags, and leave it
    RUNNING, tagged `kedro_process: left open` (never "stale"); its id."""
    command = "kedro mlflow run start" + (f" --env={env}" if env else "")
    tags = run_tags(
        {"project_path": str(project_path)}, run_env(context), config.tracking.params.redact
    )
    tags.update({"kedro_command": command, "mlflow.source.name": command})
    for what_ran in ("pipeline_names", "runner"):  # each task tags the run with its own
        tags.pop(what_ran, None)
    session = TrackingSession.start(
        config,
        project_path=project_path,
        run_name=mask_url_passwords(run_name or config.tracking.run.name or DEFAULT_PIPELINE),
        tags=tags,
        credentials=read_mlflow_credentials(context, config.server.credentials),
        context=context,
    )
    session.end_on_success = False  # the tasks log into it; `kedro mlflow run end` ends it
    session.end("FINISHED")  # this process's part only: tags the run "left open"
    return session.run_id


def end_shared_run(client: Any, run_id: str, status: str) -> str:
    """End the run with `status`; what to print. A run already ended with that status is left
    as it is (an orchestrator retrying the task); one ended otherwise is an error."""
    try:
        run = client.get_run(run_id)
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        raise click.ClickException(
            f"No MLflow run '{run_id}' in {mask_url_passwords(client.tracking_uri)} (from "
            f"--run-id or MLFLOW_RUN_ID): give the id `kedro mlflow run start` printed, with "
            f"the same --env."
        ) from None
    current = run.info.status
    if current == status:
        return f"MLflow run {run_id} was already {status}: nothing to do."
    if RunStatus.is_terminated(RunStatus.from_string(current)):
        why = run.data.tags.get("error_message")
        raise click.ClickException(
            f"MLflow run {run_id} already ended {current}"
            + (f" ({why.splitlines()[0][:200]})" if why else "")
            + f": left {current}, not changed to {status}."
        )
    client.set_terminated(run_id, status)
    page = run_page(client.tracking_uri, run.info.experiment_id, run_id)
    return f"MLflow run {run_id} ended: {status}{page}"


@contextlib.contextmanager
def stdout_for_the_run_id() -> Iterator[None]:
    """Send what the command's work prints or logs to stderr, so that stdout carries the run id
    alone (`RUN=$(...)`, an Airflow XCom). Kedro's rich log handler writes to whatever
    sys.stdout is; plain stream handlers hold the stream they were given."""
    moved = [
        handler
        for handler in logging.getLogger().handlers
        if isinstance(handler, logging.StreamHandler)
        and handler.stream in (sys.stdout, sys.__stdout__)
    ]
    streams = [handler.setStream(sys.stderr) for handler in moved]
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        for handler, stream in zip(moved, streams, strict=True):
            handler.setStream(stream)
