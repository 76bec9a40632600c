"""`kedro mlflow modelify`: log any registered pipeline as one MLflow model, in a new run.
Imported by the command only (it imports mlflow): the same run lifecycle as MlflowHook."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from ..config.project import read_mlflow_config, read_mlflow_credentials
from ..datasets.tracked import name_after_catalog_entries
from ..model.log_model import log_pipeline_model
from ..model.pipeline_ml import PipelineML, check_artifacts_are_persisted
from ..model.spec import check_node_functions
from ..tracking.run_context import RunTarget, publish
from ..tracking.session import TrackingSession


@dataclass(frozen=True)
class ModelifyResult:
    """What `kedro mlflow modelify` logged, and where."""

    model_name: str
    model_uri: str
    run_id: str
    experiment: str
    tracking_uri: str
    artifact_location: str
    registered_model_name: str | None = None
    registered_model_version: int | None = None


def modelify_pipeline(
    project_path: Path,
    pipeline_name: str,
    input_name: str | None,
    *,
    env: str | None,
    log_model_kwargs: dict[str, Any],
    copy_mode: str = "assign",
) -> ModelifyResult:
    bootstrap_project(project_path)
    with KedroSession.create(project_path=project_path, env=env) as kedro_session:
        context = kedro_session.load_context()
        if pipeline_name not in pipelines:
            raise click.BadParameter(
                f"'{pipeline_name}' is not a registered pipeline; "
                f"registered: {', '.join(sorted(pipelines))}",
                param_hint="--pipeline",
            )
        pipeline = pipelines[pipeline_name]
        if isinstance(pipeline, PipelineML):
            pipeline, input_name = pipeline.inference, input_name or pipeline.input_name
        if input_name not in pipeline.inputs():
            raise click.BadParameter(
                f"'{input_name}' is not an input of pipeline '{pipeline_name}'; its inputs are: "
                f"{', '.join(sorted(pipeline.inputs()))}",
                param_hint="--input-name",
            )
        config = read_mlflow_config(context)
        publish(RunTarget(config.tracking_uri, config.registry_uri))
        catalog = context.catalog
        name_after_catalog_entries(catalog, pipeline.datasets())
        check_artifacts_are_persisted(pipeline, input_name, catalog)
        check_node_functions(pipeline)
        session = TrackingSession.start(
            config,
            project_path=project_path,
            run_name=f"modelify-{pipeline_name}",
            tags={"kedro_command": f"kedro mlflow modelify --pipeline={pipeline_name}"},
            credentials=read_mlflow_credentials(context, config.server.credentials),
            context=context,
        )
        try:
            info = log_pipeline_model(
                pipeline,
                input_name,
                catalog,
                run_id=session.run_id,
                client=session.client,
                log_model_kwargs=log_model_kwargs,
                kpm_kwargs={"copy_mode": copy_mode},
                project_path=project_path,
            )
        except BaseException as error:
            session.end("FAILED", error)
            raise
        session.end("FINISHED")
        client = session.client
        registered = log_model_kwargs.get("registered_model_name")
        return ModelifyResult(
            model_name=info.name,
            model_uri=info.model_uri,
            run_id=session.run_id,
            experiment=client.get_experiment(session.experiment_id).name,
            tracking_uri=client.tracking_uri,
            artifact_location=client.get_logged_model(info.model_id).artifact_location,
            registered_model_name=registered,
            registered_model_version=info.registered_model_version if registered else None,
        )
