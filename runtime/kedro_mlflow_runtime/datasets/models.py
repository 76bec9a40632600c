"""Models declared in catalog.yml: logged to the run, saved to disk, or loaded from the registry.

`flavor` is an MLflow flavor module (`mlflow.sklearn`, `mlflow.pyfunc`, ...) or any module with
`save_model`/`log_model`/`load_model`. It is checked when the catalog is built, without importing
mlflow, and imported on first save or load.
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractVersionedDataset, DatasetError, Version

from ..model.names import logged_model_name
from ..tracking import run_context
from .tracked import TrackedDataset

PYFUNC_WORKFLOWS = ("python_model", "loader_module")


def _check_flavor(flavor: str, pyfunc_workflow: str | None) -> None:
    if not isinstance(flavor, str) or not _module_exists(flavor):
        raise DatasetError(
            f"flavor: '{flavor}' is not an importable module. Use an MLflow flavor such as "
            f"mlflow.sklearn, mlflow.pyfunc, mlflow.xgboost (see "
            f"https://mlflow.org/docs/latest/python_api/index.html), or a module of your own "
            f"with save_model/log_model/load_model."
        )
    if flavor == "mlflow.pyfunc" and pyfunc_workflow not in PYFUNC_WORKFLOWS:
        raise DatasetError(
            f"pyfunc_workflow: flavor 'mlflow.pyfunc' needs pyfunc_workflow set to "
            f"'python_model' or 'loader_module', got {pyfunc_workflow!r}"
        )


def _module_exists(dotted: str) -> bool:
    """Whether `a.b.c` can be imported, found on disk without importing `a` (mlflow is slow)."""
    top, *rest = dotted.split(".")
    spec = importlib.util.find_spec(top)
    if spec is None:
        return False
    locations = list(spec.submodule_search_locations or [])
    for part in rest:
        found = []
        for location in locations:
            package, module = Path(location, part), Path(location, f"{part}.py")
            if (package / "__init__.py").exists():
                found = [str(package)]
                break
            if module.exists() and part == rest[-1]:
                return True
        if not found:
            return False
        locations = found
    return True


class _FlavorMixin:
    flavor: str
    pyfunc_workflow: str | None

    @property
    def _flavor_module(self) -> Any:
        return importlib.import_module(self.flavor)

    def _flavor_args(self, model: Any, args: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
        """pyfunc takes the model as `python_model=`/`loader_module=`; other flavors positionally."""
        if self.flavor == "mlflow.pyfunc":
            return (), {**args, self.pyfunc_workflow: model}
        return (model,), args


class MlflowModelTrackingDataset(_FlavorMixin, TrackedDataset):
    """Log a model to the Kedro run as an MLflow LoggedModel; load it back.

    save_args go to `<flavor>.log_model` (`name` defaults to the catalog entry name;
    `registered_model_name` also registers it, `pip_requirements` skips slow inference...).
    Loads `load_args.model_uri` (`runs:/<run>/<name>`, `models:/<model_id>`,
    `models:/<name>@<alias>`, `models:/<name>/<version>`), else the model of this name saved
    last: in this run, else in its experiment (e.g. from a notebook or `kedro mlflow modelify`).
    """

    _NAMED_BY = "name"
    _WITHOUT_RUN = "no run"

    def __init__(
        self,
        flavor: str,
        run_id: str | None = None,
        pyfunc_workflow: str | None = None,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        _check_flavor(flavor, pyfunc_workflow)
        super().__init__(run_id=run_id, metadata=metadata)
        self.flavor, self.pyfunc_workflow = flavor, pyfunc_workflow
        self._load_args = dict(load_args or {})
        self._model_uri = self._load_args.pop("model_uri", None)
        self._save_args = dict(save_args or {})
        self.name = self._save_args.pop("name", None)
        self._last_saved_uri: str | None = None

    def save(self, model: Any) -> None:
        if self._model_uri:
            raise DatasetError(
                f"{self}: cannot save while load_args.model_uri is set ({self._model_uri}): "
                f"MLflow models are immutable. Remove model_uri to log a new model."
            )
        run_id = self._run_for_saving()
        if run_id is None and self._tracking_disabled():
            return
        name = logged_model_name(self.name)
        args, kwargs = self._flavor_args(model, {"name": name, **self._save_args})
        # log_model logs into the thread's active run of MLflow's global store: make them ours
        run_context.point_mlflow_at_project(self._tracking()[0])
        if run_id is None:  # as MLflow (and kedro-mlflow): a model outside any run
            info = self._flavor_module.log_model(*args, **kwargs)
        else:
            with run_context.active_in_this_thread(self._client(), run_id):
                info = self._flavor_module.log_model(*args, **kwargs)
        self._last_saved_uri = info.model_uri

    def load(self) -> Any:
        uri = self._uri_to_load()
        run_context.point_mlflow_at_project(self._tracking()[0])
        return self._flavor_module.load_model(uri, **self._load_args)

    def _uri_to_load(self) -> str:
        if self._model_uri:
            return self._model_uri
        if self._last_saved_uri:
            return self._last_saved_uri
        # Saved in another process (ParallelRunner), or in an earlier run (a notebook,
        # `kedro mlflow modelify`): the latest model of this name, in this run first.
        name = logged_model_name(self.name)
        client = self._client()
        run_id = self.run_id
        target, _ = self._tracking()
        if run_id is not None:
            experiment_ids = [client.get_run(run_id).info.experiment_id]
        elif target is not None and target.experiment_id:
            experiment_ids = [target.experiment_id]
        else:
            experiment_ids = [e.experiment_id for e in client.search_experiments()]
        for where in ([f"source_run_id = '{run_id}' AND "] if run_id else []) + [""]:
            models = client.search_logged_models(
                experiment_ids=experiment_ids,
                filter_string=f"{where}name = '{name}'",
                order_by=[{"field_name": "creation_timestamp", "ascending": False}],
                max_results=1,
            )
            if models:
                return f"models:/{models[0].model_id}"
        raise DatasetError(
            f"{self}: no model named '{name}' was logged (in run {run_id} or its experiment); "
            f"save one first, or set load_args.model_uri."
        )

    def _exists(self) -> bool:
        try:
            return bool(self._uri_to_load())
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {
            "flavor": self.flavor,
            "name": self.name,
            "run_id": self._run_id,
            "model_uri": self._model_uri or self._last_saved_uri,
        }


class MlflowModelLocalFileSystemDataset(_FlavorMixin, AbstractVersionedDataset):
    """Save a model with `<flavor>.save_model` to `filepath` (Kedro versioning works); load it.

    Logs nothing: wrap it in MlflowArtifactDataset to also log the model folder to the run.
    """

    def __init__(
        self,
        filepath: str,
        flavor: str,
        pyfunc_workflow: str | None = None,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        _check_flavor(flavor, pyfunc_workflow)
        super().__init__(filepath=PurePosixPath(filepath), version=version, exists_function=_exists)
        self.flavor, self.pyfunc_workflow = flavor, pyfunc_workflow
        self._load_args = dict(load_args or {})
        self._save_args = dict(save_args or {})
        self.metadata = metadata

    def save(self, model: Any) -> None:
        path = Path(str(self._get_save_path()))
        if path.exists():
            shutil.rmtree(path)  # save_model refuses an existing folder
        args, kwargs = self._flavor_args(model, {"path": str(path), **self._save_args})
        self._flavor_module.save_model(*args, **kwargs)

    def load(self) -> Any:
        uri = Path(str(self._get_load_path())).resolve().as_uri()
        return self._flavor_module.load_model(uri, **self._load_args)

    def _exists(self) -> bool:
        try:
            return Path(str(self._get_load_path())).exists()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "flavor": self.flavor, "version": self._version}


def _exists(path: str) -> bool:
    return Path(path).exists()


class MlflowModelRegistryDataset(_FlavorMixin, TrackedDataset):
    """Load a registered model by `alias` (`models:/<name>@<alias>`) or version
    (`models:/<name>/<version>`; default: the latest version). Load only."""

    def __init__(
        self,
        model_name: str,
        stage_or_version: str | int | None = None,
        alias: str | None = None,
        flavor: str = "mlflow.pyfunc",
        pyfunc_workflow: str | None = "python_model",
        load_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        if alias is not None and stage_or_version is not None:
            raise DatasetError(
                f"alias / stage_or_version: give one, not both (alias={alias!r}, "
                f"stage_or_version={stage_or_version!r})"
            )
        _check_flavor(flavor, pyfunc_workflow)
        super().__init__(metadata=metadata)
        self.model_name = model_name
        self.alias = alias
        self.stage_or_version = None if alias else (stage_or_version or "latest")
        self.flavor, self.pyfunc_workflow = flavor, pyfunc_workflow
        self._load_args = dict(load_args or {})

    @property
    def model_uri(self) -> str:
        if self.alias:
            return f"models:/{self.model_name}@{self.alias}"
        return f"models:/{self.model_name}/{self.stage_or_version}"

    def load(self) -> Any:
        run_context.point_mlflow_at_project(self._tracking()[0])
        return self._flavor_module.load_model(self.model_uri, **self._load_args)

    def save(self, data: Any) -> None:
        raise DatasetError(
            f"{self}: the registry is read-only here. To register a model, log it with "
            f"MlflowModelTrackingDataset and save_args: {{registered_model_name: "
            f"{self.model_name}}} (then give it an alias in the MLflow UI or with "
            f"MlflowClient().set_registered_model_alias)."
        )

    def _describe(self) -> dict[str, Any]:
        return {"model_uri": self.model_uri, "flavor": self.flavor}
