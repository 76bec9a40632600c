"""Convert a kedro-mlflow project to kedro-mlflow-runtime, in place and idempotently.

`kedro mlflow convert` (or `python -m kedro_mlflow_runtime.cli.convert PROJECT`) rewrites, as text so
that comments and layout survive:
- catalog `type:`s `kedro_mlflow.io.<group>.<Class>` -> `kedro_mlflow_runtime.<Class>` (old
  `DataSet` spellings and renamed classes included), in every YAML file under conf/;
- imports from `kedro_mlflow...` in the project's Python code -> `kedro_mlflow_runtime`;
- settings.py: registers `MlflowHook()` (kedro-mlflow registered itself through an entry point;
  kedro-mlflow-runtime is registered explicitly);
- mlflow.yml: a `mlruns` file store (kedro-mlflow's default, refused by MLflow >= 3.13) becomes
  `sqlite:///mlflow.db` at the project root; every other key keeps its meaning;
- requirements: `kedro-mlflow` -> the kedro-mlflow-runtime doing the conversion, pinned where pip
  got it (a git URL and ref, a folder, or a version on the package index).
No file is read by Kedro or imported: it works while kedro-mlflow is already uninstalled.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Callable
from pathlib import Path

from ..config.pin import installed_requirement

# kedro-mlflow class names (all versions) -> ours
RENAMED = {
    "MlflowArtifactDataSet": "MlflowArtifactDataset",
    "MlflowMetricDataSet": "MlflowMetricDataset",
    "MlflowMetricHistoryDataSet": "MlflowMetricHistoryDataset",
    "MlflowMetricsDataSet": "MlflowMetricsHistoryDataset",
    "MlflowMetricsDataset": "MlflowMetricsHistoryDataset",
    "MlflowMetricsHistoryDataSet": "MlflowMetricsHistoryDataset",
    "MlflowModelLoggerDataSet": "MlflowModelTrackingDataset",
    "MlflowModelTrackingDataSet": "MlflowModelTrackingDataset",
    "MlflowModelSaverDataSet": "MlflowModelLocalFileSystemDataset",
    "MlflowModelLocalFileSystemDataSet": "MlflowModelLocalFileSystemDataset",
    "MlflowModelRegistryDataSet": "MlflowModelRegistryDataset",
    "KedroMlflowPipelineMLError": "PipelineMLError",
}
_CATALOG_TYPE = re.compile(r"\bkedro_mlflow\.io\.\w+(?:\.\w+)*\.(\w+)\b")
_IMPORT = re.compile(r"^(\s*)from\s+kedro_mlflow(?:\.[\w.]+)?\s+import\s+(.+)$", re.MULTILINE)
_MODULE_IMPORT = re.compile(r"^(\s*)import\s+kedro_mlflow\b(?!_)", re.MULTILINE)
_HOOKS = re.compile(r"^HOOKS\s*=\s*\(", re.MULTILINE)
_FILE_STORE = re.compile(
    r"^(\s*mlflow_tracking_uri:)[ \t]*(?:null|~|mlruns|\"mlruns\"|'mlruns'|\./mlruns)?[ \t]*(#.*)?$",
    re.MULTILINE,
)
_REQUIREMENT = re.compile(r"(?<![\w-])kedro[-_]mlflow(?![\w-])[^\"'\n,\]]*", re.IGNORECASE)
HOOK_IMPORT = "from kedro_mlflow_runtime import MlflowHook"


def convert_project(project: Path) -> list[str]:
    """Rewrite the project; returns what changed, one line per file (empty: nothing to do)."""
    project = Path(project)
    changes: list[str] = []

    def apply(path: Path, rewrite: Callable[[str], str], what: str) -> None:
        text = path.read_text(encoding="utf-8")
        new = rewrite(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changes.append(f"{path.relative_to(project).as_posix()}: {what}")

    conf = project / "conf"
    for path in sorted([*conf.rglob("*.yml"), *conf.rglob("*.yaml")]):
        apply(path, _catalog_types, "kedro_mlflow dataset types -> kedro_mlflow_runtime")
        if path.stem.startswith("mlflow"):
            apply(path, _tracking_store, "the mlruns file store -> sqlite:///mlflow.db")
    for path in sorted((project / "src").rglob("*.py")):
        apply(path, _imports, "imports from kedro_mlflow -> kedro_mlflow_runtime")
        if path.name == "settings.py":
            apply(path, _register_hook, "MlflowHook() registered in HOOKS")
    for name in ("requirements.txt", "pyproject.toml", "src/requirements.txt"):
        if (project / name).is_file():
            apply(project / name, _requirements, "kedro-mlflow -> kedro-mlflow-runtime")
    return changes


def _catalog_types(text: str) -> str:
    return _CATALOG_TYPE.sub(lambda m: f"kedro_mlflow_runtime.{_renamed(m.group(1))}", text)


def _renamed(name: str) -> str:
    return RENAMED.get(name, name.replace("DataSet", "Dataset"))


def _imports(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        indent, names = match.groups()
        renamed = re.sub(
            r"\b\w+\b", lambda m: _renamed(m.group(0)) if m.group(0) != "as" else "as", names
        )
        return f"{indent}from kedro_mlflow_runtime import {renamed}"

    return _MODULE_IMPORT.sub(r"\1import kedro_mlflow_runtime", _IMPORT.sub(one, text))


def _register_hook(text: str) -> str:
    if re.search(r"\bMlflowHook\s*\(", text):
        return text  # already registered
    if HOOK_IMPORT not in text:
        lines = text.splitlines(keepends=True)
        lines.insert(_import_line(text), HOOK_IMPORT + "\n")
        text = "".join(lines)
    if _HOOKS.search(text):
        return _HOOKS.sub("HOOKS = (MlflowHook(), ", text, count=1)
    return (
        text.rstrip("\n")
        + "\n\n# Tracks every `kedro run` in MLflow (conf/*/mlflow.yml).\nHOOKS = (MlflowHook(),)\n"
    )


def _import_line(text: str) -> int:
    """Where to add an import: before the module's first one (after `from __future__`), else
    after its docstring."""
    body = ast.parse(text).body
    after = 0
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        after = body[0].end_lineno or 0
    for statement in body:
        if isinstance(statement, ast.ImportFrom) and statement.module == "__future__":
            after = statement.end_lineno or after
        elif isinstance(statement, (ast.Import, ast.ImportFrom)):
            return statement.lineno - 1
    return after


def _tracking_store(text: str) -> str:
    return _FILE_STORE.sub(
        lambda m: f"{m.group(1)} sqlite:///mlflow.db{'  ' + m.group(2) if m.group(2) else ''}",
        text,
    )


def _requirements(text: str) -> str:
    # the runtime doing the conversion, pinned where pip got it: the same pin as `copier copy`
    pin = installed_requirement()
    return _REQUIREMENT.sub(lambda _: pin, text)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    project = Path(args[0] if args else ".").resolve()
    if not (project / "pyproject.toml").is_file():
        print(f"{project} is not a Kedro project (no pyproject.toml)", file=sys.stderr)  # noqa: T201
        return 2
    changes = convert_project(project)
    print(report(changes))  # noqa: T201
    return 0


def report(changes: list[str]) -> str:
    if not changes:
        return "Nothing to convert: no kedro-mlflow left in this project."
    return "\n".join(
        [
            "Converted from kedro-mlflow:",
            *(f"  {change}" for change in changes),
            "Next:",
            "  pip uninstall kedro-mlflow && pip install -e .   (kedro-mlflow-runtime: see README)",
            "  your runs in ./mlruns, into the new store (from the project root):",
            "    mlflow migrate-filestore --source mlruns --target sqlite:///mlflow.db",
            "  kedro run",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
