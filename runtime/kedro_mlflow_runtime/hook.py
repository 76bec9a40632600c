"""MlflowHook: Kedro's lifecycle mapped onto the tracking session, and nothing else.

after_context_created   read + validate mlflow.yml (no mlflow import, no network)
before_pipeline_run     open the run, log every parameter the nodes read and the run's tags
after_pipeline_run      log the inference model of a PipelineML, end the run FINISHED
on_pipeline_error       tag the error, end the run FAILED (Ctrl-C, SIGTERM, SIGHUP: KILLED)
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl

from .config.pin import pin_mismatch
from .datasets.tracked import name_after_catalog_entries
from .errors import NotLoggedError
from .model.pipeline_ml import PipelineML, check_artifacts_are_persisted
from .model.spec import check_node_functions
from .tracking import not_logged, run_context
from .tracking.import_cost import importing_mlflow
from .tracking.params import parameter_inputs, parameters_by_namespace, to_mlflow_params
from .tracking.redaction import mask_url_passwords
from .tracking.run_context import RunHandoff, RunTarget, publish
from .tracking.tags import pipeline_names, run_tags

if TYPE_CHECKING:
    from .config.schema import MlflowConfig
    from .tracking.session import TrackingSession

logger = logging.getLogger(__name__)

KEDRO_MLFLOW_LEFT = (
    "kedro-mlflow is still installed: its hook registers itself (entry point `kedro.hooks`), so two "
    "hooks would own this run. Remove it: pip uninstall kedro-mlflow"
)


def _kedro_mlflow_installed() -> bool:
    """Found without importing it (importing kedro_mlflow imports mlflow)."""
    try:
        return importlib.util.find_spec("kedro_mlflow") is not None
    except (ImportError, ValueError):  # a half-removed install
        return False


class MlflowHook:
    """Tracks every `kedro run` of the project in one MLflow run. Register it in settings.py:
    `HOOKS = (MlflowHook(),)`."""

    def __init__(self) -> None:
        self.config: MlflowConfig | None = None
        self.session: TrackingSession | None = None
        self._context: Any = None
        self._env = "local"
        self._credentials: dict[str, str] = {}

    @property
    def run_id(self) -> str | None:
        """The MLflow run of the Kedro run in progress (None when not tracked)."""
        return self.session.run_id if self.session else None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        # pydantic: only once a context is made (every `kedro` command imports this module)
        from .config.exported import point_mlflow_at_project  # noqa: PLC0415
        from .config.project import (  # noqa: PLC0415
            read_mlflow_config,
            read_mlflow_credentials,
            run_env,
        )

        if mismatch := pin_mismatch(context.project_path):
            logger.warning(mismatch, extra={"markup": False})  # Kedro's rich log: keep ".[dev]"
        if _kedro_mlflow_installed():
            logger.warning(KEDRO_MLFLOW_LEFT)
        self.config = read_mlflow_config(context)
        self._credentials = read_mlflow_credentials(context, self.config.server.credentials)
        self._context = context
        self._env = run_env(context)
        context.mlflow = self.config  # as kedro-mlflow: notebooks reach the config from the context
        # Mlflow* datasets read (e.g. `run_id:` entries in a notebook) from the project's store,
        # and so does MLflow's own fluent API (`mlflow.start_run()` in a notebook)
        publish(RunTarget(self.config.tracking_uri, self.config.registry_uri))
        point_mlflow_at_project(self.config, self._credentials)

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        # Metric keys and model names default to the entry name: in a notebook too, where no
        # pipeline run names them. Only this runtime's entries are materialised.
        keys = getattr(catalog, "keys", None)
        get_type = getattr(catalog, "get_type", None)
        if keys is None or get_type is None:
            return
        ours = [name for name in keys() if (get_type(name) or "").startswith(__package__ + ".")]
        name_after_catalog_entries(catalog, ours)

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        self.session = None
        config = self.config
        if config is None:
            raise RuntimeError(
                "MlflowHook did not see the Kedro context being created; register it in "
                "settings.py as HOOKS = (MlflowHook(),) and run through a KedroSession."
            )
        name_after_catalog_entries(catalog, pipeline.datasets())
        names = pipeline_names(run_params)
        disabled = config.tracking.disable_tracking.pipelines
        untracked = all(name in disabled for name in names)
        run_context.publish_disabled(untracked)
        if untracked:
            logger.info(
                "MLflow tracking is disabled for pipeline(s) %s (tracking.disable_tracking."
                "pipelines in mlflow.yml): nothing is logged.",
                ", ".join(names),
            )
            return

        # Work out everything that can fail on bad input before anything is created on the server.
        nested = config.tracking.run.nesting == "namespace"
        groups = (
            parameters_by_namespace(pipeline.nodes)
            if nested
            else {None: parameter_inputs(pipeline.nodes)}
        )
        params_by_run, long_param_tags = {}, {}
        for namespace, inputs in groups.items():
            values = {name: catalog[name].load() for name in inputs}
            params_by_run[namespace], long_tags = to_mlflow_params(values, config.tracking.params)
            long_param_tags.update(long_tags)
        tags = run_tags(run_params, self._env, config.tracking.params.redact)
        if isinstance(pipeline, PipelineML):
            check_artifacts_are_persisted(pipeline.inference, pipeline.input_name, catalog)
            check_node_functions(pipeline.inference)
        namespaces = (
            sorted({node.namespace.split(".")[0] for node in pipeline.nodes if node.namespace})
            if nested
            else []
        )
        start = {
            "project_path": Path(run_params.get("project_path") or "."),
            "run_name": mask_url_passwords(config.tracking.run.name or "+".join(names)),
            "tags": {**tags, **long_param_tags},
            "credentials": self._credentials,
        }
        handoff = RunHandoff.from_run(run_params.get("runtime_params"))

        with importing_mlflow():
            from .tracking.session import TrackingSession  # noqa: PLC0415 - imports mlflow

            self.session = TrackingSession.start(
                config, **start, context=self._context, handoff=handoff
            )
        try:
            if namespaces:
                self.session.open_child_runs(namespaces, tags)
            for namespace, params in params_by_run.items():
                self.session.log_params(params, namespace)
        except BaseException as error:
            self.session.end("KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED", error)
            raise

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        session = self.session
        run_context.publish_disabled(False)
        if session is None:
            return
        if isinstance(pipeline, PipelineML):
            try:
                _log_pipeline_model(pipeline, catalog, session, run_params)
            except Exception as error:
                logger.error(
                    "The pipeline ran and saved its outputs, but its inference model was not "
                    "logged to MLflow run %s: %s. Log it again with `kedro mlflow modelify`.",
                    session.run_id,
                    error,
                )
                _end_quietly(session, "FAILED", error)
                raise
        ledger = not_logged.path()  # read now: the run's end puts the environment back
        if missed := not_logged.read(ledger):
            # the pipeline succeeded: `kedro mlflow retry` ends it FINISHED
            not_logged.record_success(session.run_id, ledger, list(session.child_runs.values()))
            error = NotLoggedError.from_ledger(session.run_id, missed, ledger)
            _end_quietly(session, "FAILED", error)
            raise error
        try:
            session.end("FINISHED")
        except Exception as error:
            not_logged.record_success(session.run_id, ledger, list(session.child_runs.values()))
            raise NotLoggedError.from_ledger(
                session.run_id, not_logged.read(ledger), ledger
            ) from error

    @hook_impl
    def on_pipeline_error(
        self, error: Exception, run_params: dict[str, Any], pipeline: Any, catalog: Any
    ) -> None:
        run_context.publish_disabled(False)
        if self.session is not None:
            ledger = not_logged.path()
            _end_quietly(self.session, "FAILED", error)  # the pipeline's error is the one raised
            if missed := not_logged.read(ledger):
                logger.error(
                    "%d item(s) of MLflow run %s were not logged (listed in %s): log them with "
                    "`kedro mlflow retry` once the tracking store is back.",
                    len(missed),
                    self.session.run_id,
                    ledger,
                )


def _end_quietly(session: TrackingSession, status: str, error: BaseException) -> None:
    """End the run after a tracking failure; if the store is gone too, say so and move on."""
    try:
        session.end(status, error)
    except Exception as end_error:  # noqa: BLE001 - the original error is the one to raise
        logger.error(
            "MLflow run %s could not be marked %s (%s): it stays RUNNING until "
            "`kedro mlflow retry` ends it, once the tracking store is back.",
            session.run_id,
            status,
            end_error,
        )


def _log_pipeline_model(
    pipeline: PipelineML,
    catalog: Any,
    session: TrackingSession,
    run_params: dict[str, Any],
) -> None:
    from .model.log_model import log_pipeline_model  # noqa: PLC0415 - imports mlflow

    log_pipeline_model(
        pipeline.inference,
        pipeline.input_name,
        catalog,
        run_id=session.run_id,
        client=session.client,
        log_model_kwargs=pipeline.log_model_kwargs,
        kpm_kwargs=pipeline.kpm_kwargs,
        project_path=Path(run_params.get("project_path") or "."),
    )
