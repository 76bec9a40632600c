"""The tags that describe a Kedro run: what ran, how, from which code (no mlflow import)."""

from __future__ import annotations

import getpass
import os
import re
import socket
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kedro import __version__ as kedro_version

from .. import __version__ as runtime_version
from .redaction import DEFAULT_REDACTED, redacted

DEFAULT_PIPELINE = "__default__"
# host:pid of the process a run belongs to: `kedro mlflow runs --stale` finds runs left RUNNING
# by a process that is gone (kill -9, a lost machine).
PROCESS_TAG = "kedro_process"


def process_tag() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def pipeline_names(run_params: Mapping[str, Any]) -> list[str]:
    """The pipelines `kedro run` was asked for (`__default__` when none was named)."""
    names = run_params.get("pipeline_names") or run_params.get("pipeline_name") or []
    if isinstance(names, str):
        names = [names]
    return list(names) or [DEFAULT_PIPELINE]


def runner_name(run_params: Mapping[str, Any]) -> str:
    """Kedro passes `str(runner_instance)` (with a memory address) or 'None': keep the class name."""
    raw = str(run_params.get("runner") or "None")
    match = re.search(r"([A-Za-z_][\w]*)(?: object at 0x[0-9a-f]+)?>?$", raw)
    name = match.group(1) if match else raw
    return "SequentialRunner" if name == "None" else name


def kedro_command(run_params: Mapping[str, Any], redact: Iterable[str] = DEFAULT_REDACTED) -> str:
    """The `kedro run` command line that reproduces this run's selection (secret-looking
    `--params` values, and passwords in URLs, as ***)."""
    parts = ["kedro run"]

    def add(option: str, value: Any) -> None:
        if value:
            parts.append(
                f"{option}={','.join(map(str, value)) if isinstance(value, (list, tuple)) else value}"
            )

    names = run_params.get("pipeline_names") or []
    add("--pipelines", names)
    add("--env", run_params.get("env"))
    add(
        "--runner",
        None if runner_name(run_params) == "SequentialRunner" else runner_name(run_params),
    )
    add("--tags", run_params.get("tags"))
    add("--nodes", run_params.get("node_names"))
    add("--from-nodes", run_params.get("from_nodes"))
    add("--to-nodes", run_params.get("to_nodes"))
    add("--from-inputs", run_params.get("from_inputs"))
    add("--to-outputs", run_params.get("to_outputs"))
    add("--namespaces", run_params.get("namespaces"))
    load_versions = run_params.get("load_versions") or {}
    add("--load-versions", [f"{name}:{version}" for name, version in load_versions.items()])
    runtime_params = run_params.get("runtime_params") or {}
    add(
        "--params",
        [f"{key}={redacted(key, value, redact)}" for key, value in runtime_params.items()],
    )
    if run_params.get("only_missing_outputs"):
        parts.append("--only-missing-outputs")
    return " ".join(parts)


def run_tags(
    run_params: Mapping[str, Any], env: str, redact: Iterable[str] = DEFAULT_REDACTED
) -> dict[str, str]:
    """Tags for a Kedro run. Names follow kedro-mlflow where it has them, so searches carry over."""
    project_path = Path(run_params.get("project_path") or ".")
    command = kedro_command(run_params, redact)
    tags = {
        **kedro_mlflow_run_param_tags(run_params, redact),
        "kedro_command": command,
        "kedro_version": str(run_params.get("kedro_version") or kedro_version),
        "kedro_mlflow_runtime_version": runtime_version,
        "kedro_run_id": str(run_params.get("run_id") or ""),
        "pipeline_names": str(pipeline_names(run_params)),  # "['training']", as kedro-mlflow
        "env": env,
        "runner": runner_name(run_params),
        "project_path": str(project_path),
        "mlflow.source.type": "LOCAL",
        "mlflow.source.name": command,
        "mlflow.user": _user(),
        PROCESS_TAG: process_tag(),
        **git_tags(project_path),
    }
    return {key: value for key, value in tags.items() if value}


# Kedro's run_params that kedro-mlflow logs as tags (every truthy one, as str(value)), so that
# saved searches such as `tags.from_nodes = "['split']"` carry over. `runner` is the exception:
# kedro-mlflow's value is an object repr with a memory address; this runtime logs the class name.
KEDRO_MLFLOW_RUN_PARAMS = (
    "run_id",
    "tags",
    "from_nodes",
    "to_nodes",
    "node_names",
    "from_inputs",
    "to_outputs",
    "load_versions",
    "runtime_params",
    "namespaces",
    "only_missing_outputs",
)
MAX_TAG_LENGTH = 5000  # MLflow's limit is 8000


def kedro_mlflow_run_param_tags(
    run_params: Mapping[str, Any], redact: Iterable[str] = DEFAULT_REDACTED
) -> dict[str, str]:
    tags = {}
    for name in KEDRO_MLFLOW_RUN_PARAMS:
        value = run_params.get(name)
        if not value:
            continue
        if name == "runtime_params":  # `--params password=...` never reaches a tag
            value = {key: redacted(key, item, redact) for key, item in value.items()}
        tags[name] = str(value)[:MAX_TAG_LENGTH]
    return tags


def git_tags(project_path: Path) -> dict[str, str]:
    """Commit, branch and dirty flag of the repository holding the project (one `git` call)."""
    try:
        status = subprocess.run(
            ["git", "status", "--porcelain=v2", "--branch"],
            cwd=project_path,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    headers = {}
    dirty = False
    for line in status.splitlines():
        if line.startswith("# "):
            key, _, value = line[2:].partition(" ")
            headers[key] = value
        elif line.strip():
            dirty = True
    commit = headers.get("branch.oid", "")
    if not re.fullmatch(r"[0-9a-f]{40,64}", commit):
        return {}  # a repository without commits yet
    tags = {"mlflow.source.git.commit": commit, "git_dirty": str(dirty).lower()}
    branch = headers.get("branch.head", "")
    if branch and branch != "(detached)":
        tags["mlflow.source.git.branch"] = branch
    return tags


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return ""
