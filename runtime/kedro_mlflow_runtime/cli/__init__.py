"""`kedro mlflow ...` commands, available inside a project that has kedro-mlflow-runtime installed.

Loaded by every `kedro` command (entry point `kedro.project_commands`): keep imports inside the
commands so that `kedro --help` stays fast.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click


@click.group(name="kedro-mlflow-runtime")
def commands() -> None:
    """kedro-mlflow-runtime commands."""


@commands.group(name="mlflow")
def mlflow_commands() -> None:
    """Use MLflow with this Kedro project (configured in conf/base/mlflow.yml)."""


@mlflow_commands.command(name="ui")
@click.option("--env", "-e", default=None, help="Kedro environment whose mlflow.yml to read.")
@click.option(
    "--host", "-h", default=None, help="Host to serve on (default: ui.host in mlflow.yml)."
)
@click.option("--port", "-p", default=None, type=int, help="Port (default: ui.port in mlflow.yml).")
@click.pass_obj
def ui(metadata: Any, env: str | None, host: str | None, port: int | None) -> None:
    """Serve the MLflow UI on the project's tracking store (needs kedro-mlflow-runtime[ui])."""
    config = _project_config(metadata, env)
    uri = config.tracking_uri
    if uri.startswith(("http://", "https://")):
        click.echo(f"This project tracks to an MLflow server: open {uri} in a browser.")
        return
    if uri.split("://", 1)[0] in ("databricks", "databricks-uc"):
        click.echo("This project tracks to Databricks: open the experiment in your workspace.")
        return
    if not _ui_installed():  # before the store is opened: mlflow's import alone takes a second
        raise click.ClickException(UI_MISSING)
    command = [
        sys.executable, "-m", "mlflow", "ui",
        "--backend-store-uri", uri,
        "--host", host or config.ui.host,
        "--port", str(port or config.ui.port),
    ]  # fmt: skip
    from ..config.schema import LOCAL_ARTIFACTS_DIR, local_sqlite_path  # noqa: PLC0415

    db_file = local_sqlite_path(uri)
    if db_file is not None:
        from ..tracking.store_lock import open_client  # noqa: PLC0415 - imports mlflow

        # a fresh store is created here, locked, not by the server while a `kedro run` does too
        open_client(uri, config.registry_uri)
        # Experiments created from the UI keep their artifacts next to the database too.
        command += ["--default-artifact-root", (db_file.parent / LOCAL_ARTIFACTS_DIR).as_uri()]
    if config.registry_uri:
        command += ["--registry-store-uri", config.registry_uri]
    click.echo(f"MLflow UI for {uri} on http://{host or config.ui.host}:{port or config.ui.port}")
    raise SystemExit(_serve(command, metadata.project_path))


UI_MISSING = (
    "kedro mlflow ui needs the MLflow UI, which comes with the full mlflow package; "
    "kedro-mlflow-runtime installs only mlflow-skinny. Install it in this environment with: "
    'pip install "kedro-mlflow-runtime[ui]"'
)


def _ui_installed() -> bool:
    """Whether the full `mlflow` distribution is installed: its web pages and the Flask server
    behind `mlflow ui` (mlflow-skinny has the `mlflow.server` module, but not these)."""
    from importlib import metadata  # noqa: PLC0415

    try:
        metadata.distribution("mlflow")
    except metadata.PackageNotFoundError:
        return False
    return True


def _serve(command: list[str], cwd: Any) -> int:
    """Run the UI server until it exits; SIGTERM and SIGHUP sent to `kedro` reach it too, so
    that stopping `kedro mlflow ui` (a service manager, a closed terminal) frees the port."""
    import signal  # noqa: PLC0415

    server = subprocess.Popen(command, cwd=cwd)
    forwarded = [getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n)]
    previous = {signum: signal.getsignal(signum) for signum in forwarded}
    for signum in forwarded:
        signal.signal(signum, lambda signum, _frame: server.send_signal(signum))
    try:
        return server.wait()
    except KeyboardInterrupt:  # Ctrl-C reached the server too (same process group)
        return server.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@mlflow_commands.command(name="modelify")
@click.option("--pipeline", "-p", "pipeline_name", required=True, help="A registered pipeline.")
@click.option(
    "--input-name", "-i", default=None,
    help="The pipeline input the model's callers send (default: a PipelineML's input_name).",
)  # fmt: skip
@click.option("--env", "-e", default=None, help="Kedro environment to read the catalog from.")
@click.option("--model-name", default=None, help="Name of the model (default: model-<pipeline>).")
@click.option("--registered-model-name", default=None, help="Also register it under this name.")
@click.option(
    "--copy-mode", default="assign", type=click.Choice(["assign", "copy", "deepcopy"]),
    help="How artifacts are handed to the nodes on each call (assign: as they are).",
)  # fmt: skip
@click.option("--no-signature", is_flag=True, help="Do not infer the input/params signature.")
@click.option(
    "--pip-requirements", multiple=True,
    help="Requirements of the model (repeatable); default: worked out from the nodes' imports.",
)  # fmt: skip
@click.pass_obj
def modelify(
    metadata: Any,
    pipeline_name: str,
    input_name: str | None,
    env: str | None,
    model_name: str | None,
    registered_model_name: str | None,
    copy_mode: str,
    no_signature: bool,
    pip_requirements: tuple[str, ...],
) -> None:
    """Log a registered pipeline as one MLflow model, in a new run."""
    from .modelify import modelify_pipeline  # noqa: PLC0415

    log_model_kwargs: dict[str, Any] = {"name": model_name or f"model-{pipeline_name}"}
    if registered_model_name:
        log_model_kwargs["registered_model_name"] = registered_model_name
    if no_signature:
        log_model_kwargs["signature"] = None
    if pip_requirements:
        log_model_kwargs["pip_requirements"] = list(pip_requirements)
    logged = modelify_pipeline(
        Path(metadata.project_path),
        pipeline_name,
        input_name,
        env=env,
        log_model_kwargs=log_model_kwargs,
        copy_mode=copy_mode,
    )
    from ..tracking.redaction import mask_url_passwords  # noqa: PLC0415

    lines = [
        f"Logged pipeline '{pipeline_name}' as model '{logged.model_name}': {logged.model_uri}",
        f"  run:        {logged.run_id} (experiment '{logged.experiment}')",
        f"  store:      {mask_url_passwords(logged.tracking_uri)}",
        f"  artifacts:  {mask_url_passwords(logged.artifact_location)}",
    ]
    if logged.registered_model_name:
        lines.append(
            f"  registered: '{logged.registered_model_name}' version "
            f"{logged.registered_model_version}"
        )
    click.echo("\n".join(lines))


@mlflow_commands.command(name="convert")
@click.pass_obj
def convert(metadata: Any) -> None:
    """Convert this project from kedro-mlflow (catalog types, imports, hook, mlflow.yml).

    Kedro loads the project before any `kedro` command: where it refuses to (a kedro_init_version
    from Kedro 0.18 / 0.19), run `python -m kedro_mlflow_runtime.cli.convert .` instead."""
    from .convert import convert_project, report  # noqa: PLC0415

    click.echo(report(convert_project(Path(metadata.project_path))))


@mlflow_commands.command(name="sync")
@click.option("--env", "-e", default=None, help="Kedro environment whose mlflow.yml to read.")
@click.pass_obj
def sync(metadata: Any, env: str | None) -> None:
    """Copy the runs recorded offline (server.offline in mlflow.yml) to the tracking server.

    Safe to run again: runs already copied are skipped, an interrupted copy is redone."""
    from ..config.schema import local_sqlite_path  # noqa: PLC0415

    with _project_context(metadata, env) as context:
        config = _read_config(context)
        source = config.server.offline.tracking_uri
        db_file = local_sqlite_path(source)
        if db_file is None or not db_file.exists():
            click.echo(f"Nothing to sync: there is no offline store at {source}.")
            return
        from ..tracking.failures import SYNC_ADVICE  # noqa: PLC0415

        uri = config.server_uri
        _reachable_client(context, config, uri, config.server.mlflow_registry_uri, SYNC_ADVICE)
        from mlflow.exceptions import MlflowException  # noqa: PLC0415

        from ..errors import SyncError  # noqa: PLC0415
        from ..tracking.session import authentication_error  # noqa: PLC0415
        from .sync import exclusive, sync_offline_runs  # noqa: PLC0415

        try:
            with exclusive(db_file), _sync_progress_bar() as progress:
                report = sync_offline_runs(
                    source, uri, config.server.mlflow_registry_uri, progress=progress
                )
        except SyncError as error:  # the same store twice, a sync already running
            raise click.ClickException(str(error)) from None
        except MlflowException as error:
            if refused := authentication_error(error, uri, config):
                raise click.ClickException(str(refused)) from None
            raise
    click.echo(report.summary())
    if report.failed:
        raise SystemExit(1)


@contextlib.contextmanager
def _sync_progress_bar() -> Iterator[Any]:
    """A progress bar of the runs a sync handles, on a terminal only (rich draws nothing when
    the output is a file or a pipe); it clears itself at the end, where the summary follows."""
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        TextColumn("Syncing runs"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}", markup=False),  # a run name is not rich markup
    )
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("", total=None)

        def progress(done: int, total: int, current: str) -> None:
            bar.update(task, completed=done, total=total, description=current)

        yield progress


@mlflow_commands.command(name="retry")
@click.option("--env", "-e", default=None, help="Kedro environment whose mlflow.yml to read.")
@click.argument("run_ids", nargs=-1)
@click.pass_obj
def retry(metadata: Any, env: str | None, run_ids: tuple[str, ...]) -> None:
    """Log what runs could not log (kept in mlflow-not-logged/), then end those runs.

    RUN_IDS: only these runs (default: every run listed there). Safe to run again."""
    from .retry import ledgers  # noqa: PLC0415

    found = ledgers(Path(metadata.project_path), run_ids)
    if not found:
        click.echo("Nothing to retry: every run logged everything.")
        return
    with _project_context(metadata, env) as context:
        config = _read_config(context)
        uri = config.tracking_uri
        client = _reachable_client(context, config, uri, config.registry_uri, RETRY_ADVICE)
        from .retry import RetryReport, retry_ledger  # noqa: PLC0415 - imports mlflow

        report = RetryReport()
        for ledger in found:
            if not ledger.exists():
                raise click.ClickException(f"No run {ledger.stem} in {ledger.parent}.")
            retry_ledger(client, ledger, report)
    click.echo(report.summary())
    if report.failed:
        raise SystemExit(1)


@mlflow_commands.command(name="runs")
@click.option("--env", "-e", default=None, help="Kedro environment whose mlflow.yml to read.")
@click.option("--stale", is_flag=True, help="Only runs whose process is gone (e.g. kill -9).")
@click.option("--end", is_flag=True, help="With --stale: mark those runs KILLED.")
@click.pass_obj
def runs(metadata: Any, env: str | None, stale: bool, end: bool) -> None:
    """List the experiment's RUNNING runs and whether their process still runs."""
    if end and not stale:
        raise click.UsageError("--end only ends runs whose process is gone: add --stale.")
    with _project_context(metadata, env) as context:
        config = _read_config(context)
        uri = config.tracking_uri
        client = _reachable_client(context, config, uri, config.registry_uri, RETRY_ADVICE)
        from .runs import GONE, end_stale, open_runs  # noqa: PLC0415

        found = open_runs(client, config.tracking.experiment.name)
        shown = [run for run in found if run.state == GONE] if stale else found
        what = "stale (their process is gone)" if stale else "RUNNING"
        click.echo(f"{len(shown)} {what} run(s) in experiment '{config.tracking.experiment.name}'")
        for run in shown:
            click.echo(f"  {run.line()}")
        if end:
            ended = end_stale(client, shown)
            click.echo(f"{len(ended)} run(s) marked KILLED.")
        elif stale and shown:
            click.echo("End them (KILLED) with: kedro mlflow runs --stale --end")


@mlflow_commands.group(name="run")
def run_commands() -> None:
    """One MLflow run shared by separate `kedro run` processes (an orchestrator's tasks)."""


@run_commands.command(name="start")
@click.option("--env", "-e", default=None, help="Kedro environment whose mlflow.yml to read.")
@click.option(
    "--run-name", default=None,
    help="Name of the run (default: tracking.run.name in mlflow.yml, else __default__).",
)  # fmt: skip
@click.pass_obj
def run_start(metadata: Any, env: str | None, run_name: str | None) -> None:
    """Create a run for the tasks to log into, leave it RUNNING, print its id (alone on stdout).

    Hand it to each task as MLFLOW_RUN_ID (or --params mlflow_run_id=<id>)."""
    from ..errors import KedroMlflowRuntimeError  # noqa: PLC0415
    from .run import START_ADVICE, start_shared_run, stdout_for_the_run_id  # noqa: PLC0415

    with stdout_for_the_run_id(), _project_context(metadata, env) as context:
        config = _read_config(context)
        _reachable_client(context, config, config.tracking_uri, config.registry_uri, START_ADVICE)
        try:
            run_id = start_shared_run(context, config, Path(metadata.project_path), env, run_name)
        except KedroMlflowRuntimeError as error:  # e.g. a deleted experiment, a read-only store
            raise click.ClickException(str(error)) from None
    click.echo(run_id)


@run_commands.command(name="end")
@click.option("--env", "-e", default=None, help="Kedro environment whose mlflow.yml to read.")
@click.option(
    "--run-id", envvar="MLFLOW_RUN_ID", show_envvar=True, default=None,
    help="The run `kedro mlflow run start` printed.",
)  # fmt: skip
@click.option(
    "--status", default="FINISHED", show_default=True,
    type=click.Choice(["FINISHED", "FAILED", "KILLED"], case_sensitive=False),
    help="FAILED when a task of the DAG failed.",
)  # fmt: skip
@click.pass_obj
def run_end(metadata: Any, env: str | None, run_id: str | None, status: str) -> None:
    """End the run the tasks logged into. Ending it again with the same status does nothing."""
    if not run_id:
        raise click.UsageError(
            "No run to end: pass --run-id <id> or set MLFLOW_RUN_ID (the id that "
            "`kedro mlflow run start` printed)."
        )
    from .run import END_ADVICE, end_shared_run  # noqa: PLC0415

    with _project_context(metadata, env) as context:
        config = _read_config(context)
        uri = config.tracking_uri
        client = _reachable_client(context, config, uri, config.registry_uri, END_ADVICE)
        click.echo(end_shared_run(client, run_id, status.upper()))


RETRY_ADVICE = "Nothing was logged: run `kedro mlflow retry` again once it answers."


def _reachable_client(
    context: Any, config: Any, uri: str, registry_uri: str | None, advice: str
) -> Any:
    """MLflow's client for `uri` with the project's credentials and headers, once one bounded
    request showed that the server answers and takes them."""
    import os  # noqa: PLC0415

    from ..config.project import read_mlflow_credentials  # noqa: PLC0415
    from ..tracking.session import (  # noqa: PLC0415 - imports mlflow
        authentication_error,
        bounded_requests,
        not_mlflow_error,
        register_request_header_provider,
        unreachable_error,
    )
    from ..tracking.store_lock import open_client  # noqa: PLC0415

    os.environ.update(read_mlflow_credentials(context, config.server.credentials))
    register_request_header_provider(config, context)
    client = open_client(uri, registry_uri)  # a local store: opened locked (it may be new)
    timeout = config.server.connect_timeout
    try:  # MLflow's own client: its TLS and auth settings apply
        with bounded_requests(timeout, uri):
            client.search_experiments(max_results=1)
    except Exception as error:  # MLflow's, or a database driver's (SQLAlchemy)
        if refused := authentication_error(error, uri, config):
            raise click.ClickException(str(refused)) from None
        if unreachable := unreachable_error(error, uri, timeout, advice):
            raise click.ClickException(str(unreachable)) from None
        if not_mlflow := not_mlflow_error(error, uri, advice):
            raise click.ClickException(str(not_mlflow)) from None
        raise
    return client


def _project_config(metadata: Any, env: str | None) -> Any:
    with _project_context(metadata, env) as context:
        return _read_config(context)


def _read_config(context: Any) -> Any:
    from ..config.project import read_mlflow_config  # noqa: PLC0415

    return read_mlflow_config(context)


@contextlib.contextmanager
def _project_context(metadata: Any, env: str | None) -> Iterator[Any]:
    from kedro.framework.session import KedroSession  # noqa: PLC0415
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    project_path = Path(metadata.project_path)
    bootstrap_project(project_path)
    with KedroSession.create(project_path=project_path, env=env) as session:
        yield session.load_context()
