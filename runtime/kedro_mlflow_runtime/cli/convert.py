"""Convert a kedro-mlflow project to kedro-mlflow-runtime, in place and idempotently.

`kedro mlflow convert` (or `python -m kedro_mlflow_runtime.cli.convert PROJECT`, which works where
Kedro refuses to load the project: an old kedro_init_version, an import settings.py cannot make)
rewrites, as text so that comments and layout survive:
- catalog entries under conf/: `kedro_mlflow.io.<group>.<Class>` -> `kedro_mlflow_runtime.<Class>`
  (old `DataSet` spellings and renamed classes included), `data_set:` -> `dataset:` in
  MlflowArtifactDataset entries, a model's `artifact_path:` -> `save_args: {name: ...}`;
- the project's Python code: imports from `kedro_mlflow...` (and the old class names they bring),
  `artifact_path` -> `name` in pipeline_ml_factory's log_model_kwargs;
- settings.py: `MlflowHook()` appended to HOOKS (kedro-mlflow registered itself through an entry
  point; kedro-mlflow-runtime is registered explicitly);
- mlflow.yml: a literal `mlruns` file store -> `sqlite:///mlflow.db`; `null` stays null;
- requirements: `kedro-mlflow` -> the kedro-mlflow-runtime doing the conversion, pinned where pip
  got it; pins of mlflow / kedro that exclude the versions the runtime needs are reported.
No file is read by Kedro or imported: it works while kedro-mlflow is already uninstalled.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config.pin import installed_requirement
from .converting import CHANGED, CHECK, KEPT, Note, python, requirements, yaml_files


@dataclass(frozen=True)
class Change:
    path: str  # relative to the project, POSIX
    note: Note

    def __str__(self) -> str:
        return f"{self.path}: {self.note.entry}: {self.note.what}"


Rewrite = Callable[[str], "tuple[str, list[Note]]"]


def convert_project(project: Path) -> list[Change]:
    """Rewrite the project; returns each change (and what was kept or needs a look)."""
    project = Path(project)
    changes: list[Change] = []
    for path, rewrite in _rewrites(project):
        text = path.read_text(encoding="utf-8")
        new, notes = rewrite(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
        changes += [Change(path.relative_to(project).as_posix(), note) for note in notes]
    return changes


def _rewrites(project: Path) -> list[tuple[Path, Rewrite]]:
    from .. import __all__ as public  # noqa: PLC0415 - the names an import may keep

    conf = project / "conf"
    pin = installed_requirement()  # the same pin as `copier copy` writes
    found: list[tuple[Path, Rewrite]] = []
    for path in sorted([*conf.rglob("*.yml"), *conf.rglob("*.yaml")]):
        found.append((path, yaml_files.catalog))
        if path.stem.startswith("mlflow"):
            found.append((path, yaml_files.tracking_uri))
    for path in sorted((project / "src").rglob("*.py")):
        found.append((path, lambda text: python.imports(text, set(public))))
        found.append((path, python.log_model_kwargs))
        if path.name == "settings.py":
            found.append((path, python.register_hook))
    for name in ("requirements.txt", "src/requirements.txt", "requirements-dev.txt"):
        if (project / name).is_file():
            found.append((project / name, lambda text: requirements.requirements_txt(text, pin)))
    if (project / "pyproject.toml").is_file():
        found.append((project / "pyproject.toml", lambda text: requirements.pyproject(text, pin)))
    return found


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    project = Path(args[0] if args else ".").resolve()
    if not (project / "pyproject.toml").is_file():
        print(  # noqa: T201
            f"{project} is not a Kedro project (no pyproject.toml): "
            "python -m kedro_mlflow_runtime.cli.convert PROJECT_FOLDER",
            file=sys.stderr,
        )
        return 2
    print(report(convert_project(project)))  # noqa: T201
    return 0


def report(changes: list[Change]) -> str:
    def section(title: str, kind: str) -> list[str]:
        chosen = [f"  {c}" for c in changes if c.note.kind == kind]
        return [title, *chosen] if chosen else []

    checks = section("Check by hand:", CHECK)
    if not any(c.note.kind == CHANGED for c in changes):
        return "\n".join(["Nothing to convert: no kedro-mlflow left in this project.", *checks])
    return "\n".join(
        [
            *section("Converted from kedro-mlflow:", CHANGED),
            *section("Kept:", KEPT),
            *checks,
            "Next:",
            "  pip uninstall kedro-mlflow && pip install -e .   (kedro-mlflow-runtime: see README)",
            "  your runs in ./mlruns, into the new store (from the project root):",
            "    mlflow migrate-filestore --source mlruns --target sqlite:///mlflow.db",
            "  kedro run",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
