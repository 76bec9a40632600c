"""requirements.txt and pyproject.toml: the kedro-mlflow requirement becomes the runtime's pin; pins
of mlflow / kedro that exclude what the runtime runs with are reported (the user decides)."""

from __future__ import annotations

import re
from importlib import metadata

from . import CHECK, Note

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: every quoted requirement of pyproject.toml is looked at
    tomllib = None  # type: ignore[assignment]

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

_CHECKED = ("mlflow", "mlflow-skinny", "kedro")
# The runtime depends on mlflow-skinny; the full mlflow (its `ui` extra) is the same release plus
# the UI and server, so a pin of either is checked against mlflow-skinny's version and range.
_DISTRIBUTION = {"mlflow": "mlflow-skinny"}


def requirements_txt(text: str, pin: str) -> tuple[str, list[Note]]:
    lines = text.splitlines(keepends=True)
    notes: list[Note] = []
    for index, line in enumerate(lines):
        written = line.split(" #", 1)[0].strip()
        if written and not written.startswith(("#", "-")):
            lines[index], note = _one(line, written, pin)
            notes += note
    return "".join(lines), notes


def pyproject(text: str, pin: str) -> tuple[str, list[Note]]:
    listed = _dependencies(text)
    notes: list[Note] = []

    def one(match: re.Match[str]) -> str:
        written = match.group(2)
        if listed is not None and written not in listed:
            return match.group(0)
        new, note = _one(match.group(0), written, pin, quoted=True)
        notes.extend(note)
        return new

    text = re.sub(r"""(["'])([A-Za-z][^"'\n]*)\1""", one, text)
    for poetry in re.finditer(r"^\s*kedro[-_]mlflow\s*=.*$", text, re.MULTILINE):
        notes.append(Note(poetry.group(0).strip(), f"replace it with {pin}", CHECK))
    return text, notes + _init_version(text)


def _one(line: str, written: str, pin: str, quoted: bool = False) -> tuple[str, list[Note]]:
    try:
        requirement = Requirement(written)
    except InvalidRequirement:
        return line, []
    name = canonicalize_name(requirement.name)
    if name == "kedro-mlflow":
        new = pin + (f"; {requirement.marker}" if requirement.marker else "")
        return line.replace(written, new, 1), [Note(written, f"replaced by {new}")]
    if name in _CHECKED and (version := _installed(name)):
        if requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
            what = (
                f"excludes the {name} {version} kedro-mlflow-runtime runs with "
                f"(it needs {_needed(name)}): drop or raise this pin"
            )
            return line, [Note(written, what, CHECK)]
    return line, []


def _installed(name: str) -> str | None:
    try:
        return metadata.version(_DISTRIBUTION.get(name, name))
    except metadata.PackageNotFoundError:
        return None


def _needed(name: str) -> str:
    for line in metadata.requires("kedro-mlflow-runtime") or []:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(requirement.name) == _DISTRIBUTION.get(name, name) and not (
            requirement.marker
        ):
            return f"{name}{requirement.specifier}"
    return name


def _dependencies(text: str) -> set[str] | None:
    """The requirement strings pyproject.toml lists (so that keywords etc. are left alone)."""
    if tomllib is None:
        return None
    try:
        project = tomllib.loads(text).get("project", {})
    except tomllib.TOMLDecodeError:
        return None
    extras = project.get("optional-dependencies", {}).values()
    return {*project.get("dependencies", []), *(r for group in extras for r in group)}


def _init_version(text: str) -> list[Note]:
    found = re.search(r"""^\s*kedro_init_version\s*=\s*["']([\d.]+)""", text, re.MULTILINE)
    kedro = _installed("kedro")
    if not found or not kedro or found.group(1).split(".")[0] == kedro.split(".")[0]:
        return []
    what = (
        f"{found.group(1)}: Kedro {kedro} refuses to load the project until it is migrated to "
        "Kedro 1 (see Kedro's RELEASE.md), then kedro_init_version says so; meanwhile "
        "`python -m kedro_mlflow_runtime.cli.convert` works where `kedro mlflow convert` cannot"
    )
    return [Note("kedro_init_version", what, CHECK)]
