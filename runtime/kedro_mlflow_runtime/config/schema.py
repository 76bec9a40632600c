"""The `mlflow.yml` schema and how a project's file becomes a validated, resolved config.

Every key of kedro-mlflow 2.x's file is accepted with the same meaning. Validation is strict (an
unknown key or a wrong type is an error naming the file and the key path) and happens when the Kedro
context is created, so a broken file stops `kedro run` before any node. Nothing here imports mlflow
or touches the network.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from ..errors import MlflowConfigError
from ..tracking.redaction import DEFAULT_REDACTED
from .files import find_value

logger = logging.getLogger(__name__)
_IN_MEMORY_SQLITE = re.compile(r"^sqlite:(//)?(/(:memory:)?)?(\?.*)?$")
_DOTTED_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")

CONFIG_NAME = "mlflow"
# Same patterns as kedro-mlflow, so an existing conf/ tree is found where it was.
DEFAULT_CONFIG_PATTERNS = ["mlflow*", "mlflow*/**", "**/mlflow*"]
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
# Where runs go while `server.offline.enabled` (its own folder: its artifacts go in mlruns/ beside it).
DEFAULT_OFFLINE_URI = "sqlite:///mlflow-offline/mlflow.db"
# Where a local SQLite store keeps run artifacts and models, next to the database file.
LOCAL_ARTIFACTS_DIR = "mlruns"
# URIs that name a service, never a path (kedro-mlflow keeps them as they are too).
RESERVED_URIS = ("databricks", "databricks-uc")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class RequestHeaderProviderOptions(_Section):
    type: str | None = None
    pass_context: StrictBool = False
    init_kwargs: dict[str, Any] = Field(default_factory=dict)

    @field_validator("type")
    @classmethod
    def _dotted_path(cls, path: str | None) -> str | None:
        # only the form here: importing it would import mlflow (its base class) with the context
        if path is not None and not _DOTTED_PATH.match(path):
            raise ValueError(
                "expected the import path of a RequestHeaderProvider subclass, "
                "e.g. my_package.auth.TokenHeaderProvider"
            )
        return path


class OfflineOptions(_Section):
    enabled: StrictBool = False
    tracking_uri: str = DEFAULT_OFFLINE_URI

    @field_validator("tracking_uri")
    @classmethod
    def _local_sqlite(cls, uri: str) -> str:
        uri = uri.strip()
        if not uri.startswith("sqlite:///") or local_sqlite_path(uri) is None:
            raise ValueError(
                "the offline store is a local SQLite file, e.g. sqlite:///mlflow-offline/mlflow.db"
            )
        return uri


class ServerOptions(_Section):
    mlflow_tracking_uri: str | None = None
    mlflow_registry_uri: str | None = None
    credentials: str | None = None
    request_header_provider: RequestHeaderProviderOptions = Field(
        default_factory=RequestHeaderProviderOptions
    )
    # Addition: how long a tracking server may take to answer before `kedro run` stops, unstarted.
    connect_timeout: float = Field(default=15.0, gt=0, allow_inf_nan=False)
    # Addition: runs go to a local store; `kedro mlflow sync` copies them to the server later.
    offline: OfflineOptions = Field(default_factory=OfflineOptions)

    @field_validator("mlflow_tracking_uri", "mlflow_registry_uri")
    @classmethod
    def _not_in_memory(cls, uri: str | None) -> str | None:
        if uri is not None and _IN_MEMORY_SQLITE.match(uri.strip()):
            raise ValueError(
                f"'{uri}' is an in-memory SQLite store: everything the run logs is gone when it "
                "ends. Use a file, e.g. sqlite:///mlflow.db"
            )
        if uri is not None and uri.strip().startswith("sqlite:") and local_sqlite_path(uri) is None:
            raise ValueError(  # SQLAlchemy would refuse it only when the run starts
                "a SQLite store is sqlite:///relative/path.db (three slashes, relative to the "
                "project) or sqlite:////absolute/path.db"
            )
        return uri


class DisableTrackingOptions(_Section):
    pipelines: list[str] = Field(default_factory=list)
    disable_autologging: StrictBool = True


class CreateExperimentOptions(_Section):
    artifact_location: str | None = None
    tags: dict[str, Any] | None = None


class ExperimentOptions(_Section):
    name: str = "Default"
    create_experiment_kwargs: CreateExperimentOptions = Field(
        default_factory=CreateExperimentOptions
    )
    restore_if_deleted: StrictBool = True

    @field_validator("name")
    @classmethod
    def _not_blank(cls, name: str) -> str:
        # MLflow refuses "" only once the run starts, and takes "  " as a name nobody can find
        if not name.strip():
            raise ValueError(
                "an experiment name cannot be empty or blank; write one, or remove the key to "
                "use the package name"
            )
        return name


class RunOptions(_Section):
    id: str | None = None
    name: str | None = None
    nested: StrictBool = True
    # Addition: one child run per top-level namespace of the pipeline (kedro-mlflow#120/#448).
    nesting: Literal["none", "namespace"] = "none"


class DictParamsOptions(_Section):
    flatten: StrictBool = False
    recursive: StrictBool = True
    sep: str = "."


class ParamsOptions(_Section):
    dict_params: DictParamsOptions = Field(default_factory=DictParamsOptions)
    long_params_strategy: Literal["fail", "truncate", "tag"] = "fail"
    # Addition: parameters (or keys of dict parameters) whose name matches are logged as ***.
    redact: list[str] = Field(default_factory=lambda: list(DEFAULT_REDACTED))


class TrackingOptions(_Section):
    disable_tracking: DisableTrackingOptions = Field(default_factory=DisableTrackingOptions)
    experiment: ExperimentOptions = Field(default_factory=ExperimentOptions)
    run: RunOptions = Field(default_factory=RunOptions)
    params: ParamsOptions = Field(default_factory=ParamsOptions)


class UiOptions(_Section):
    # kedro-mlflow wants a quoted string here; an unquoted 5000 is what people write, so take both.
    port: int = 5000
    host: str = "127.0.0.1"

    @field_validator("port")
    @classmethod
    def _port_in_range(cls, port: int) -> int:
        if not 0 < port < 65536:  # noqa: PLR2004
            raise ValueError(f"a TCP port is between 1 and 65535, got {port}")
        return port


class MlflowConfig(_Section):
    """The whole `mlflow.yml`. After `load_mlflow_config` the URIs are absolute/resolved."""

    server: ServerOptions = Field(default_factory=ServerOptions)
    tracking: TrackingOptions = Field(default_factory=TrackingOptions)
    ui: UiOptions = Field(default_factory=UiOptions)

    @property
    def tracking_uri(self) -> str:
        """Where runs are recorded: the offline store while offline mode is on."""
        if self.server.offline.enabled:
            return self.server.offline.tracking_uri
        return self.server_uri

    @property
    def registry_uri(self) -> str | None:
        """Offline, models are registered in the offline store (never $MLFLOW_REGISTRY_URI's)."""
        if self.server.offline.enabled:
            return self.server.offline.tracking_uri
        return self.server.mlflow_registry_uri

    @property
    def server_uri(self) -> str:
        """The configured tracking store, offline mode or not (where `kedro mlflow sync` copies)."""
        return self.server.mlflow_tracking_uri or DEFAULT_TRACKING_URI


def load_mlflow_config(
    raw: Mapping[str, Any] | None,
    *,
    project_path: Path,
    default_experiment_name: str,
    source_files: Iterable[Path] = (),
    environ: Mapping[str, str] | None = None,
) -> MlflowConfig:
    """Validate the merged `mlflow.yml` content and resolve its URIs against the project root.

    `source_files` are the files the content was merged from (lowest priority first); they only
    serve to name the right file in error messages.
    """
    environ = os.environ if environ is None else environ
    source_files = list(source_files)
    raw = dict(raw or {})
    try:
        config = MlflowConfig.model_validate(raw)
    except ValidationError as error:
        raise MlflowConfigError(_explain(error, raw, source_files, project_path)) from None
    if "name" not in ((raw.get("tracking") or {}).get("experiment") or {}):
        config.tracking.experiment.name = default_experiment_name

    server = config.server
    server.mlflow_tracking_uri = resolve_uri(
        server.mlflow_tracking_uri or environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI,
        project_path,
    )
    _report_overridden_environment(config, raw, environ, project_path)
    if server.mlflow_registry_uri:
        server.mlflow_registry_uri = resolve_uri(server.mlflow_registry_uri, project_path)
    server.offline.tracking_uri = resolve_uri(server.offline.tracking_uri, project_path)
    _check_local_stores(config, source_files, project_path)
    create_kwargs = config.tracking.experiment.create_experiment_kwargs
    if create_kwargs.artifact_location:
        create_kwargs.artifact_location = resolve_uri(create_kwargs.artifact_location, project_path)
    return config


def _check_local_stores(config: MlflowConfig, files: list[Path], project_path: Path) -> None:
    """A SQLite store must be a file that can exist: found now rather than when the run starts."""
    server = config.server
    stores = {
        "server.mlflow_tracking_uri": server.mlflow_tracking_uri,
        "server.mlflow_registry_uri": server.mlflow_registry_uri,
    }
    if server.offline.enabled:
        stores["server.offline.tracking_uri"] = server.offline.tracking_uri
    for key, uri in stores.items():
        problem = sqlite_file_problem(uri) if uri else None
        if problem:
            where = _file_defining(key.split("."), files, project_path)
            source = f"{where}: {key}" if where else f"mlflow.yml: {key} (or MLFLOW_TRACKING_URI)"
            raise MlflowConfigError(
                f"{source}: '{uri}': {problem}. Point it at a database file in a folder, "
                f"e.g. sqlite:///mlflow.db (created on the first run)."
            )


def sqlite_file_problem(uri: str) -> str | None:
    """Why the database file of a resolved `sqlite:///` URI cannot be opened or created."""
    path = local_sqlite_path(uri)
    if path is None:
        return None
    if path.is_dir():
        return f"{path} is a folder, not a database file"
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                return f"{parent} is a file, so it cannot hold the folder of {path.name}"
            break
    return None


def _report_overridden_environment(
    config: MlflowConfig, raw: Mapping[str, Any], environ: Mapping[str, str], project_path: Path
) -> None:
    """MLFLOW_* variables that mlflow.yml overrides are ignored: say so rather than surprise."""
    in_file = {
        "MLFLOW_TRACKING_URI": (
            (raw.get("server") or {}).get("mlflow_tracking_uri"),
            config.server_uri,
        ),
        "MLFLOW_REGISTRY_URI": (
            (raw.get("server") or {}).get("mlflow_registry_uri"),
            config.server.mlflow_registry_uri,
        ),
        "MLFLOW_EXPERIMENT_NAME": (
            ((raw.get("tracking") or {}).get("experiment") or {}).get("name"),
            config.tracking.experiment.name,
        ),
    }
    for variable, (set_in_file, used) in in_file.items():
        value = environ.get(variable)
        if not value or not set_in_file:
            continue
        if variable.endswith("_URI"):
            value = resolve_uri(value, project_path)
        if value != used:
            logger.warning(
                "%s=%s is set in the environment but mlflow.yml says %s: using mlflow.yml's.",
                variable,
                environ[variable],
                used,
            )


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


def resolve_uri(uri: str, project_path: Path) -> str:
    """Make a tracking/registry/artifact URI independent of the working directory.

    - `databricks`, `databricks-uc` (optionally with `://profile`) and URLs are kept as they are;
    - `sqlite:///relative.db` becomes `sqlite:////<project>/relative.db`;
    - a bare path (`mlruns`, `/abs/mlruns`) becomes a `file://` URI, relative ones under the project.
    """
    uri = uri.strip()
    if uri.split("://", 1)[0] in RESERVED_URIS:
        return uri
    if uri.startswith("sqlite:///"):
        path, sep, query = uri[len("sqlite:///") :].partition("?")
        if path and path != ":memory:" and not PurePath(path).is_absolute():
            path = (Path(project_path) / path).resolve().as_posix()
        return f"sqlite:///{path}{sep}{query}"
    if PurePath(uri).is_absolute():
        return Path(uri).as_uri()
    if not _SCHEME.match(uri):
        return (Path(project_path) / uri).resolve().as_uri()
    return uri


def local_sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI (already resolved), else None."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///") :].partition("?")[0]
    return None if path in ("", ":memory:") else Path(path)


def config_files(conf_dirs: Iterable[Path], patterns: Iterable[str]) -> list[Path]:
    """The `mlflow*` files Kedro's config loader merges, lowest priority first (to check them and
    to name the right one in messages). Hidden ones are skipped, as the loader does."""
    found: list[Path] = []
    for conf_dir in conf_dirs:
        matches: set[Path] = set()
        for pattern in patterns:
            for path in Path(conf_dir).glob(pattern):
                # `mlflow*/**` yields folders on Python < 3.13: take the files inside them
                matches.update(path.rglob("*") if path.is_dir() else [path])
        found.extend(
            sorted(
                p
                for p in matches
                if p.suffix in (".yml", ".yaml", ".json")
                and not any(part.startswith(".") for part in p.relative_to(conf_dir).parts)
            )
        )
    return found


# --- error messages -------------------------------------------------------------------------------


def _explain(
    error: ValidationError, raw: Mapping[str, Any], files: list[Path], project_path: Path
) -> str:
    lines = []
    for item in error.errors():
        loc = [str(part) for part in item["loc"]]
        key_path = ".".join(loc) or "<top level>"
        where = _file_defining(loc, files, project_path) or "mlflow.yml"
        lines.append(f"{where}: {key_path}: {_describe(item, loc)}")
    return "Invalid MLflow configuration:\n  " + "\n  ".join(lines)


def _describe(item: Mapping[str, Any], loc: list[str]) -> str:
    if item["type"] == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        close = difflib.get_close_matches(loc[-1], allowed, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
        return f"unknown key ({hint})"
    return f"{item['msg'].rstrip('.')}, got {item['input']!r}"


def _allowed_keys(parent: list[str]) -> list[str]:
    model: Any = MlflowConfig
    for part in parent:
        field = model.model_fields.get(part)
        if field is None or not isinstance(field.annotation, type):
            return []
        model = field.annotation
    return list(getattr(model, "model_fields", {}))


def _file_defining(loc: list[str], files: list[Path], project_path: Path) -> str | None:
    """The highest-priority file that sets this key path (the one whose value was used)."""
    found = find_value(loc, files, project_path)
    return found[0] if found else None
