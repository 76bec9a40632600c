"""`kedro mlflow retry`: log what runs could not log, from `mlflow-not-logged/<run id>.jsonl`,
and end those runs as they would have ended. Safe to run again: what fails stays listed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric, RunTag

from ..tracking import not_logged
from ..tracking.batches import log_in_batches

ERROR_TAGS = ("error_type", "error_message")


@dataclass
class RetryReport:
    logged: int = 0
    ended: list[str] = field(default_factory=list)  # "<run id>: <status>"
    failed: list[str] = field(default_factory=list)  # "<what>: <error>"

    def summary(self) -> str:
        lines = [f"{self.logged} item(s) logged; runs ended: {', '.join(self.ended) or 'none'}."]
        if self.failed:
            lines.append(f"{len(self.failed)} item(s) still not logged (run the command again):")
            lines += [f"  - {failure}" for failure in self.failed]
        return "\n".join(lines)


def ledgers(project_path: Path, run_ids: tuple[str, ...] = ()) -> list[Path]:
    folder = Path(project_path).resolve() / not_logged.FOLDER
    if run_ids:
        return [not_logged.ledger_path(project_path, run_id) for run_id in run_ids]
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def retry_ledger(client: MlflowClient, ledger: Path, report: RetryReport) -> None:
    """Log each item again; once all are in, end the run (FINISHED if its pipeline succeeded)
    and delete the ledger. Items that fail again are kept in it, the run left as it is."""
    entries = not_logged.lines(ledger)
    succeeded = [line for line in entries if "succeeded" in line]
    endings = [line for line in entries if "end" in (line.get("replay") or {})]
    left = []
    for entry in entries:
        if entry in succeeded or entry in endings:
            continue
        try:
            _log_again(client, entry.get("replay") or {}, entry)
            report.logged += 1
        except Exception as error:  # noqa: BLE001 - MLflow and file errors: keep it listed
            report.failed.append(f"{entry['what']}: {type(error).__name__}: {error}")
            left.append({**entry, "error": f"{type(error).__name__}: {error}"})
    if left:
        _rewrite(ledger, left + endings + succeeded)
        return
    ending = endings[-1]["replay"] if endings else None
    run_id = ledger.stem
    if succeeded:  # the pipeline succeeded: everything is in now
        for tag in ERROR_TAGS:
            if tag in client.get_run(run_id).data.tags:
                client.delete_tag(run_id, tag)
        _end(client, run_id, "FINISHED", succeeded[-1].get("child_runs", []))
        report.ended.append(f"{run_id}: FINISHED")
    elif ending is not None:
        tags = ending.get("tags") or {}
        log_in_batches(client, run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        status = ending.get("end")
        if status:
            _end(client, run_id, status, ending.get("child_runs", []))
            report.ended.append(f"{run_id}: {status}")
    ledger.unlink()


def _log_again(client: MlflowClient, replay: dict[str, Any], entry: dict[str, Any]) -> None:
    if "artifact" in replay:
        client.log_artifact(replay["run_id"], replay["artifact"], replay.get("artifact_path"))
    elif "metrics" in replay:
        metrics = [Metric(key, value, ts, step) for key, value, ts, step in replay["metrics"]]
        log_in_batches(client, replay["run_id"], metrics=metrics)
    else:
        raise ValueError(f"nothing kept to log it again; {entry.get('retry', 're-run the node')}")


def _end(client: MlflowClient, run_id: str, status: str, child_runs: list[str]) -> None:
    for child in child_runs:
        client.set_terminated(child, status)
    client.set_terminated(run_id, status)


def _rewrite(ledger: Path, entries: list[dict[str, Any]]) -> None:
    text = "".join(json.dumps(entry) + "\n" for entry in entries)
    temporary = ledger.with_suffix(".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(ledger)
