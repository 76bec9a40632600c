"""MlflowArtifactDataset: any Kedro dataset whose saved file(s) are also logged to the run.

A plain class that wraps the dataset (composition, not a class made on the fly), so it pickles
for ParallelRunner and `isinstance` works.
"""

from __future__ import annotations

import copy
import os
import posixpath
import shlex
import shutil
import tempfile
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from .tracked import TrackedDataset

_LOCAL_PROTOCOLS = (None, "", "file", "local")


class MlflowArtifactDataset(TrackedDataset):
    """Save through the wrapped dataset, then log what this save wrote under `artifact_path`.

    Args:
        dataset: the wrapped dataset, as in catalog.yml: `{type: pandas.CSVDataset, filepath: ...}`
            (or just the type). Versioned datasets and PartitionedDataset work.
        run_id: log into / load from this run instead of the current Kedro run.
        artifact_path: folder of the run's artifacts to log into (default: the root).
        credentials: passed to the wrapped dataset when its own config has none.
        metadata: free-form, for kedro-viz and plugins.
    """

    def __init__(
        self,
        dataset: str | dict[str, Any],
        run_id: str | None = None,
        artifact_path: str | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        super().__init__(run_id=run_id, metadata=metadata)
        config = {"type": dataset} if isinstance(dataset, (str, type)) else dict(dataset or {})
        if "type" not in config:
            raise DatasetError(
                "dataset: the wrapped dataset needs a 'type', e.g. "
                "dataset: {type: pandas.CSVDataset, filepath: data/08_reporting/report.csv}"
            )
        if credentials is not None:
            config.setdefault("credentials", credentials)
        self._config = config
        self.artifact_path = _checked_artifact_path(artifact_path)
        self._dataset = AbstractDataset.from_config("wrapped", copy.deepcopy(config))
        self._local_path()  # a dataset with no local file can never be logged: say so now

    @property
    def preview(self) -> Any:
        """kedro-viz's preview: the wrapped dataset's, of the local file `load()` reads. Absent
        (kedro-viz asks `hasattr(dataset, "preview")`) with `run_id`, as that run's copy is not
        downloaded to be previewed, and when the wrapped dataset has none. kedro-viz shows the
        wrapped preview's kind (table, image, ...) from its signature."""
        preview = getattr(self._dataset, "preview", None)
        if preview is None or self._run_id:
            raise AttributeError("preview")
        return preview

    @property
    def wrapped(self) -> AbstractDataset:
        return self._dataset

    def save(self, data: Any) -> None:
        run_id = self._run_for_saving()
        if run_id is None:
            self._dataset.save(data)
            return
        target = self._stageable()
        if target is None or not self._save_staged(data, target, run_id):
            self._dataset.save(data)
            self._log(run_id, self._written_files(data))

    def _save_staged(self, data: Any, target: Path, run_id: str) -> bool:
        """Save into a private folder beside `target`, log that, then move it into place.

        Runs at once (a sweep) sharing one non-versioned path would otherwise log each other's
        file: another run may overwrite it between this save and its logging. os.replace is
        atomic on one filesystem, hence the folder beside the target, not in the temp dir.
        False, with nothing left behind, if the copy could not save: the caller saves as usual
        (and the wrapped dataset's own error names its own path)."""
        try:
            target.parent.mkdir(parents=True, exist_ok=True)  # as the wrapped dataset would
            staging = tempfile.mkdtemp(prefix=f".{target.name}.kedro-mlflow-", dir=target.parent)
        except OSError:  # a read-only folder: the wrapped dataset's save says so
            return False
        staged = Path(staging) / target.name
        try:
            try:
                self._staged_dataset(staged).save(data)
            except Exception:  # noqa: BLE001 - the wrapped dataset's save says why, below
                return False
            # notes what it could not log, never raises; the note names the file once in place
            self._log(run_id, _files_of(staged, self.artifact_path), (staged, target))
            try:
                os.replace(staged, target)
            except OSError:  # a folder onto a folder, a file in use (Windows): as before
                self._dataset.save(data)
            return True
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _log(
        self,
        run_id: str,
        files: list[tuple[Path, str | None]],
        moved: tuple[Path, Path] | None = None,
    ) -> None:
        """Log each (file, artifact folder); `moved`: (staged, target), the files' final place."""
        client = self._client()
        for local, folder in files:
            final = (moved[1] / local.relative_to(moved[0]) if moved else local).resolve()
            self._log_or_note(
                f"artifact {final}",
                f"{self._store_hint(client)}mlflow artifacts log-artifact --local-file "
                f"{shlex.quote(str(final))} --run-id {run_id}"
                + (f" --artifact-path {shlex.quote(folder)}" if folder else ""),
                lambda local=local, folder=folder: client.log_artifact(run_id, str(local), folder),
                replay={"artifact": str(final), "artifact_path": folder, "run_id": run_id},
            )

    def load(self) -> Any:
        if not self._run_id:
            return self._dataset.load()
        return self._load_from_run(self._run_id)

    def _exists(self) -> bool:
        return self._dataset.exists()

    def _release(self) -> None:
        self._dataset.release()

    def _describe(self) -> dict[str, Any]:
        return {
            "dataset": self._config.get("type"),
            "filepath": str(self._local_path()),
            "artifact_path": self.artifact_path,
            "run_id": self._run_id,
        }

    # --- files ------------------------------------------------------------------------------------

    def _local_path(self) -> PurePosixPath:
        dataset = self._dataset
        if getattr(dataset, "_protocol", None) not in _LOCAL_PROTOCOLS:
            raise DatasetError(
                f"MlflowArtifactDataset logs local files; the wrapped dataset writes to "
                f"{dataset._protocol}://...: save it locally and let MLflow's artifact store "
                f"hold the remote copy."
            )
        for attribute in ("_filepath", "_path"):
            value = getattr(dataset, attribute, None)
            if value:
                return PurePosixPath(str(value))
        raise DatasetError(f"{type(dataset).__name__} has no local file to log (no filepath/path)")

    def _stageable(self) -> Path | None:
        """Where this dataset saves, if a copy of it can save elsewhere first: a local, plain
        (not versioned, not partitioned) dataset whose config names its path. Else None.
        Versioned datasets are safe as they are: each run writes its own version."""
        dataset = self._dataset
        if (
            getattr(dataset, "_version", None) is not None
            or hasattr(dataset, "_partition_to_path")
            or getattr(dataset, "_protocol", None) not in _LOCAL_PROTOCOLS
            or not any(key in self._config for key in ("filepath", "path"))
        ):
            return None
        try:
            return Path(str(self._local_path())).absolute()
        except DatasetError:
            return None

    def _staged_dataset(self, path: Path) -> AbstractDataset:
        config = copy.deepcopy(self._config)
        config.pop("versioned", None)
        config["path" if "path" in config else "filepath"] = str(path)
        return AbstractDataset.from_config("wrapped_staged", config)

    def _written_files(self, data: Any) -> list[tuple[Path, str | None]]:
        """(local file, artifact folder) for what the last save wrote, and only that."""
        dataset = self._dataset
        base = self.artifact_path
        if hasattr(dataset, "_partition_to_path") and isinstance(data, dict):
            root = Path(str(self._local_path()))
            files = [Path(dataset._partition_to_path(partition)) for partition in data]
            return [
                (path, _join(base, root.name, *path.relative_to(root).parent.parts))
                for path in files
            ]
        if getattr(dataset, "_version", None) is not None:
            # the version this save used (cached by Kedro; _get_save_path would refuse it now)
            local = Path(str(dataset._get_versioned_path(dataset.resolve_save_version())))
        else:
            local = Path(str(self._local_path()))
        return _files_of(local, base)

    def _load_from_run(self, run_id: str) -> Any:
        """Download this dataset's artifact from the run and load it with a copy of the wrapped
        dataset pointed at the download (the local file is left as it is)."""
        local = self._local_path()
        remote = _join(self.artifact_path, local.name)
        destination = tempfile.mkdtemp(prefix="kedro-mlflow-artifact-")
        try:
            downloaded = self._client().download_artifacts(run_id, remote, destination)
        except Exception as error:  # noqa: BLE001 - MLflow raises several types here
            raise DatasetError(
                f"{self}: cannot download artifact '{remote}' of run {run_id}: {error}"
            ) from error
        config = copy.deepcopy(self._config)
        config.pop("versioned", None)
        key = "path" if "path" in config else "filepath"
        config[key] = downloaded
        return AbstractDataset.from_config("wrapped_from_run", config).load()


def _checked_artifact_path(path: Any) -> str | None:
    """MLflow's local and proxied (mlflow-artifacts) stores refuse these paths only when the node
    saves (mlflow.utils.uri.validate_path_is_safe, artifact_repo.verify_artifact_path); here they
    fail when the catalog is built. A trailing '/' is dropped, as it is between joined folders."""
    if path is None or path == "":
        return None
    if not isinstance(path, str):
        raise DatasetError(
            f"artifact_path: a folder of the run's artifacts is a string, got {path!r}"
        )
    folder = path.rstrip("/")
    problem = _artifact_path_problem(folder or path)
    if problem is None:
        return folder
    raise DatasetError(
        f"artifact_path: {path!r}: {problem}. Write a relative folder such as 'reports' or "
        f"'reports/2024' (null: the root of the run's artifacts)."
    )


def _artifact_path_problem(path: str) -> str | None:
    if "\\" in path:
        return "use '/' between folders, not '\\'"
    if "#" in path:
        return "MLflow's artifact stores refuse '#' in a path"
    if ".." in path.split("/"):
        return "'..' would leave the run's artifacts"
    if PurePosixPath(path).is_absolute() or PureWindowsPath(path).is_absolute():
        return "it is a folder inside the run's artifacts, not an absolute path"
    if posixpath.normpath(path) != path:
        return f"MLflow takes it only in its simplest form, '{posixpath.normpath(path)}'"
    return None


def _files_of(local: Path, base: str | None) -> list[tuple[Path, str | None]]:
    """(file, artifact folder) for a saved file, or for each file of a saved folder."""
    if local.is_dir():
        return [
            (path, _join(base, local.name, *path.relative_to(local).parent.parts))
            for path in sorted(local.rglob("*"))
            if path.is_file()
        ]
    return [(local, base)]


def _join(*parts: str | None) -> str | None:
    joined = "/".join(part.strip("/") for part in parts if part and part.strip("/"))
    return joined or None
