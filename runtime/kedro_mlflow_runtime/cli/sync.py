"""`kedro mlflow sync`: copy the runs of the offline store to the tracking server, once each.

Each copy is tagged with the id of the offline run it comes from, and the tag that marks it
complete is set last. So a second sync skips what the first one copied, and a sync that was
interrupted mid-run is redone: its partial copy is deleted first. A copy keeps the run's name,
times, status, tags, params, every metric point, dataset inputs, artifacts, logged models (their
MLmodel now naming the server's run and model) and registered versions of those models.
"""

from __future__ import annotations

import itertools
import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow.artifacts
from mlflow import MlflowClient
from mlflow.entities import LoggedModelOutput, Metric, Param, ViewType
from mlflow.exceptions import MlflowException
from mlflow.models import Model

from ..errors import SyncError
from ..tracking.batches import log_in_batches
from ..tracking.session import default_artifact_location
from ..tracking.store_lock import file_lock, open_client

logger = logging.getLogger(__name__)

OFFLINE_RUN_TAG = "kedro_mlflow.offline_run_id"  # on the server's copy: the run it copies
COMPLETE_TAG = "kedro_mlflow.sync_complete"  # on the server's copy, set once all is copied
SYNCED_TO_TAG = "kedro_mlflow.synced_to"  # on the offline run: its copy on the server
_PARENT_TAG = "mlflow.parentRunId"
_UNFINISHED = ("RUNNING", "SCHEDULED")


@dataclass
class SyncReport:
    source: str
    destination: str
    copied: list[tuple[str, str]] = field(default_factory=list)  # (offline run, server run)
    already_synced: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    redone: list[str] = field(default_factory=list)  # partial copies deleted and made again
    failed: list[tuple[str, str]] = field(default_factory=list)  # (offline run, error)

    def summary(self) -> str:
        lines = [
            f"Synced {len(self.copied)} run(s) from {self.source} to {self.destination}; "
            f"{len(self.already_synced)} already there."
        ]
        lines += [f"  {offline} -> {copy}" for offline, copy in self.copied]
        if self.redone:
            lines.append(f"Redone after an interrupted sync: {', '.join(self.redone)}")
        if self.unfinished:
            lines.append(
                f"Not synced, still running (or killed without ending): "
                f"{', '.join(self.unfinished)}. They are synced once they end; a run whose "
                f"process died can be ended with `mlflow runs` tools or the MLflow UI (its "
                f"child runs wait for it)."
            )
        for offline, error in self.failed:
            lines.append(f"Failed to copy {offline}: {error}")
        if self.failed:
            lines.append("Run `kedro mlflow sync` again: failed copies are redone.")
        return "\n".join(lines)


# told (runs handled so far, runs in all, the run handled next or "" at the end) as a sync goes
SyncProgress = Callable[[int, int, str], None]


def sync_offline_runs(
    source_uri: str,
    destination_uri: str,
    destination_registry_uri: str | None = None,
    progress: SyncProgress | None = None,
) -> SyncReport:
    """Copy every finished run of `source_uri` that `destination_uri` does not hold yet;
    `progress` is told before each run and once at the end (e.g. to draw a progress bar)."""
    if source_uri == destination_uri:
        raise SyncError(
            f"mlflow.yml: server.offline.tracking_uri and server.mlflow_tracking_uri are both "
            f"{source_uri}: point mlflow_tracking_uri at the server to sync to"
        )
    source = open_client(source_uri)  # locked: a first offline run may be creating it
    # explicit: MLflow would otherwise fall back to the process's registry (the offline store's)
    destination = open_client(destination_uri, destination_registry_uri or destination_uri)
    report = SyncReport(source_uri, destination_uri)
    plan = []  # listed first: the number of runs is known before the first copy
    for experiment in _pages(lambda token: source.search_experiments(page_token=token)):
        runs = list(_pages(lambda token, e=experiment: source.search_runs(
            [e.experiment_id], run_view_type=ViewType.ACTIVE_ONLY, page_token=token
        )))  # fmt: skip
        if runs:
            plan.append((experiment, runs))
    total = sum(len(runs) for _, runs in plan)
    handled = itertools.count()

    def next_run(run: Any) -> None:
        if progress is not None:
            progress(next(handled), total, run.info.run_name or run.info.run_id)

    for experiment, runs in plan:
        _sync_experiment(source, destination, experiment, runs, report, next_run)
    if progress is not None:
        progress(total, total, "")
    return report


@contextmanager
def exclusive(source_db: Path) -> Iterator[None]:
    """One sync of an offline store at a time: two would both copy the runs neither found."""
    with file_lock(source_db.with_name(source_db.name + ".sync-lock"), wait=False) as held:
        if not held:
            raise SyncError(
                f"Another `kedro mlflow sync` of {source_db} is running: wait for it to finish."
            )
        yield


def _sync_experiment(
    source: MlflowClient,
    destination: MlflowClient,
    experiment: Any,
    runs: list[Any],
    report: SyncReport,
    next_run: Callable[[Any], None],
) -> None:
    target = _experiment_on(destination, experiment)
    copies = _copies_on(destination, target)
    copy_of = {
        offline: complete[0].info.run_id
        for offline, found in copies.items()
        if (complete := [run for run in found if _complete(run)])
    }
    active = {run.info.run_id for run in runs}
    # parents first, so that children can point to their parent's copy
    for run in sorted(runs, key=lambda r: (_PARENT_TAG in r.data.tags, r.info.start_time)):
        next_run(run)
        offline_id = run.info.run_id
        parent = run.data.tags.get(_PARENT_TAG)
        if offline_id in copy_of:
            report.already_synced.append(offline_id)
            continue
        # a child waits for its parent (still running, or failed to copy) to keep its link
        if run.info.status in _UNFINISHED or (parent in active and parent not in copy_of):
            report.unfinished.append(offline_id)
            continue
        try:
            if offline_id in copies:  # copies a sync did not finish
                for partial in copies[offline_id]:
                    _delete_partial_copy(destination, target, partial.info.run_id)
                report.redone.append(offline_id)
            copy_id = _copy_run(source, destination, run, target, copy_of)
        except (MlflowException, OSError) as error:  # the others may still go through
            report.failed.append((offline_id, f"{type(error).__name__}: {error}"))
            continue
        copy_of[offline_id] = copy_id
        report.copied.append((offline_id, copy_id))
        source.set_tag(offline_id, SYNCED_TO_TAG, _run_address(destination, target, copy_id))


def _copy_run(
    source: MlflowClient,
    destination: MlflowClient,
    run: Any,
    experiment_id: str,
    copy_of: dict[str, str],
) -> str:
    offline_id = run.info.run_id
    tags = {k: v for k, v in run.data.tags.items() if k not in ("mlflow.runName", SYNCED_TO_TAG)}
    parent = tags.pop(_PARENT_TAG, None)
    if parent in copy_of:
        tags[_PARENT_TAG] = copy_of[parent]
    tags[OFFLINE_RUN_TAG] = offline_id
    copy_id = destination.create_run(
        experiment_id, start_time=run.info.start_time, tags=tags, run_name=run.info.run_name
    ).info.run_id

    points = [
        Metric(key, point.value, point.timestamp, point.step)
        for key in run.data.metrics
        for point in source.get_metric_history(offline_id, key)
    ]
    log_in_batches(
        destination,
        copy_id,
        params=[Param(key, value) for key, value in run.data.params.items()],
        metrics=points,
    )
    if run.inputs and run.inputs.dataset_inputs:  # datasets a node declared with mlflow.log_input
        destination.log_inputs(copy_id, datasets=run.inputs.dataset_inputs)
    if source.list_artifacts(offline_id):
        with tempfile.TemporaryDirectory() as tmp:
            local = mlflow.artifacts.download_artifacts(
                run_id=offline_id, dst_path=tmp, tracking_uri=source.tracking_uri
            )
            destination.log_artifacts(copy_id, local)

    model_copies = _copy_models(source, destination, run, experiment_id, copy_id)
    outputs = [
        LoggedModelOutput(model_copies[output.model_id], output.step)
        for output in (run.outputs.model_outputs if run.outputs else [])
        if output.model_id in model_copies
    ]
    if outputs:
        destination.log_outputs(copy_id, outputs)
    _copy_registered_versions(source, destination, offline_id, copy_id, model_copies)

    destination.set_terminated(copy_id, run.info.status, run.info.end_time)
    destination.set_tag(copy_id, COMPLETE_TAG, "true")
    return copy_id


def _copy_models(
    source: MlflowClient, destination: MlflowClient, run: Any, experiment_id: str, copy_id: str
) -> dict[str, str]:
    """The run's logged models (MLflow 3 keeps them beside the run, not in its artifacts)."""
    offline_id = run.info.run_id
    models = _pages(lambda token: source.search_logged_models(
        [run.info.experiment_id], filter_string=f"source_run_id = '{offline_id}'",
        page_token=token,
    ))  # fmt: skip
    copies = {}
    for model in models:
        if model.status != "READY":
            continue  # a model whose upload failed offline: nothing to copy
        copy = destination.create_logged_model(
            experiment_id,
            name=model.name,
            source_run_id=copy_id,
            # mlflow.modelVersions lists the offline registry's versions: the server keeps its own
            tags={k: v for k, v in model.tags.items() if k != "mlflow.modelVersions"},
            params=model.params,
            model_type=model.model_type,
        )
        with tempfile.TemporaryDirectory() as tmp:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=model.artifact_location, dst_path=tmp
            )
            _point_mlmodel_at(Path(local), copy.model_id, copy_id)
            destination.log_model_artifacts(copy.model_id, local)
        destination.finalize_logged_model(copy.model_id, "READY")
        copies[model.model_id] = copy.model_id
    return copies


def _point_mlmodel_at(model_dir: Path, model_id: str, run_id: str) -> None:
    """The MLmodel file names the run and model it was logged with: name the server's copies."""
    mlmodel = model_dir / "MLmodel"
    if not mlmodel.exists():
        return
    model = Model.load(str(mlmodel))
    model.run_id = run_id
    model.model_id = model_id
    model.model_uuid = model_id  # MLflow 3 sets both to the model id
    model.artifact_path = None  # where it lay in the offline store
    model.save(str(mlmodel))


def _copy_registered_versions(
    source: MlflowClient,
    destination: MlflowClient,
    offline_id: str,
    copy_id: str,
    model_copies: dict[str, str],
) -> None:
    versions = source.search_model_versions(f"run_id = '{offline_id}'")
    for version in sorted(versions, key=lambda v: int(v.version)):
        model_id = model_copies.get(_registered_model_id(version))
        if model_id is None:
            continue  # not one of the run's logged models (e.g. registered from a path)
        try:
            destination.get_registered_model(version.name)
        except MlflowException:
            destination.create_registered_model(version.name)
        destination.create_model_version(
            version.name,
            source=f"models:/{model_id}",
            run_id=copy_id,
            tags=version.tags,
            description=version.description,
            model_id=model_id,
        )


def _registered_model_id(version: Any) -> str:
    """The logged model a registered version was made from (searches leave model_id empty;
    the source is then `models:/<model id>`)."""
    if getattr(version, "model_id", None):
        return version.model_id
    source = version.source or ""
    return source.removeprefix("models:/") if source.startswith("models:/m-") else ""


def _delete_partial_copy(destination: MlflowClient, experiment_id: str, copy_id: str) -> None:
    """What an interrupted sync made for one run: its registered versions, models and the run."""
    try:
        versions = destination.search_model_versions(f"run_id = '{copy_id}'")
    except MlflowException:  # a registry that cannot search by run: nothing to clean there
        versions = []
    for version in versions:
        destination.delete_model_version(version.name, version.version)
    models = _pages(lambda token: destination.search_logged_models(
        [experiment_id], filter_string=f"source_run_id = '{copy_id}'", page_token=token
    ))  # fmt: skip
    for model in list(models):
        destination.delete_logged_model(model.model_id)
    destination.delete_run(copy_id)
    logger.info("Deleted %s, a partial copy left by an interrupted sync", copy_id)


def _experiment_on(destination: MlflowClient, experiment: Any) -> str:
    """The server's experiment of the same name: created (or restored) when needed."""
    existing = destination.get_experiment_by_name(experiment.name)
    if existing is None:
        tags = {k: v for k, v in experiment.tags.items() if not k.startswith("mlflow.")}
        return destination.create_experiment(
            experiment.name,
            # a local SQLite destination keeps artifacts next to its database, as a run would
            artifact_location=default_artifact_location(destination.tracking_uri, experiment.name),
            tags=tags or None,
        )
    if existing.lifecycle_stage == "deleted":
        destination.restore_experiment(existing.experiment_id)
    return existing.experiment_id


def _copies_on(destination: MlflowClient, experiment_id: str) -> dict[str, list[Any]]:
    """Runs of the server's experiment that copy an offline run, by offline run id."""
    found = _pages(lambda token: destination.search_runs(
        [experiment_id], filter_string=f"tags.`{OFFLINE_RUN_TAG}` LIKE '%'",
        run_view_type=ViewType.ACTIVE_ONLY, page_token=token,
    ))  # fmt: skip
    copies: dict[str, list[Any]] = {}
    for run in found:
        copies.setdefault(run.data.tags[OFFLINE_RUN_TAG], []).append(run)
    return copies


def _complete(run: Any) -> bool:
    return run.data.tags.get(COMPLETE_TAG) == "true"


def _run_address(destination: MlflowClient, experiment_id: str, run_id: str) -> str:
    uri = destination.tracking_uri
    if uri.startswith(("http://", "https://")):
        return f"{uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
    return f"{uri} run {run_id}"


def _pages(fetch: Callable[[str | None], Any]) -> Iterator[Any]:
    token = None
    while True:
        page = fetch(token)
        yield from page
        token = page.token
        if not token:
            return
