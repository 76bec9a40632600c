"""`kedro mlflow ...` commands, available inside a project that has kedro-mlflow-runtime installed.

Loaded by every `kedro` command (entry point `kedro.project_commands`): keep imports inside the
commands so that `kedro --help` stays fast.
"""

from __future__ import annotations

import subprocess
import sys
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
    """Serve the MLflow UI on the project's tracking store."""
    config = _project_config(metadata, env)
    uri = config.tracking_uri
    if uri.startswith(("http://", "https://")):
        click.echo(f"This project tracks to an MLflow server: open {uri} in a browser.")
        return
    if uri.split("://", 1)[0] in ("databricks", "databricks-uc"):
        click.echo("This project tracks to Databricks: open the experiment in your workspace.")
        return
    command = [
        sys.executable, "-m", "mlflow", "ui",
        "--backend-store-uri", uri,
        "--host", host or config.ui.host,
        "--port", str(port or config.ui.port),
    ]  # fmt: skip
    from .config import LOCAL_ARTIFACTS_DIR, local_sqlite_path  # noqa: PLC0415

    db_file = local_sqlite_path(uri)
    if db_file is not None:
        # Experiments created from the UI keep their artifacts next to the database too.
        command += ["--default-artifact-root", (db_file.parent / LOCAL_ARTIFACTS_DIR).as_uri()]
    if config.registry_uri:
        command += ["--registry-store-uri", config.registry_uri]
    click.echo(f"MLflow UI for {uri} on http://{host or config.ui.host}:{port or config.ui.port}")
    raise SystemExit(subprocess.call(command, cwd=metadata.project_path))


def _project_config(metadata: Any, env: str | None) -> Any:
    from kedro.framework.session import KedroSession  # noqa: PLC0415
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    from .project_config import read_mlflow_config  # noqa: PLC0415

    project_path = Path(metadata.project_path)
    bootstrap_project(project_path)
    with KedroSession.create(project_path=project_path, env=env) as session:
        return read_mlflow_config(session.load_context())
