"""The project's pin of kedro-mlflow-runtime (a line of requirements/template.txt).

`installed_requirement()` writes the line that installs the runtime running now again, from where
pip got it (PEP 610's direct_url.json): `kedro mlflow convert` pins that, in the same form as
`copier copy` does. `pin_mismatch()` tells a project that the runtime in its environment is not
the one it pins, and how to install that one.
"""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path

from .. import __version__

DISTRIBUTION = "kedro-mlflow-runtime"
PIN_FILE = "requirements/template.txt"
_PIN = re.compile(r"^\s*kedro[-_]mlflow[-_]runtime\b[^#\n]*", re.IGNORECASE | re.MULTILINE)
_GIT_PIN = re.compile(r"@\s*git\+\S+@(?P<ref>[^@#\s]+)")  # the ref: after the last @
_VERSION_PIN = re.compile(r"==\s*(?P<version>[^\s;,#]+)")


def _direct_url() -> dict:
    """Where pip installed the runtime from (empty: from a package index)."""
    try:
        text = metadata.distribution(DISTRIBUTION).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return {}
    return json.loads(text) if text else {}


def _pip_file_url(url: str) -> str:
    # The pip that ships with Python 3.11 refuses git+file:/// (an empty host): name localhost.
    return "file://localhost/" + url[len("file:///") :] if url.startswith("file:///") else url


def installed_requirement() -> str:
    """The requirement line that installs the running kedro-mlflow-runtime again."""
    origin = _direct_url()
    url = _pip_file_url(origin.get("url", ""))
    vcs = origin.get("vcs_info", {})
    if vcs.get("vcs") == "git":
        ref = vcs.get("requested_revision") or vcs["commit_id"]
        return f"{DISTRIBUTION} @ git+{url}@{ref}"
    if url:  # a folder or an archive on this machine
        return f"{DISTRIBUTION} @ {url}"
    return f"{DISTRIBUTION}=={__version__}"


def read_pin(project_path: Path) -> str | None:
    """The kedro-mlflow-runtime line of the project's requirements/template.txt, if any."""
    path = Path(project_path) / PIN_FILE
    if not path.is_file():
        return None
    match = _PIN.search(path.read_text(encoding="utf-8"))
    return match.group(0).strip() if match else None


def pin_mismatch(project_path: Path) -> str | None:
    """A message when the installed runtime is not the one the project pins, else None.

    An editable install (someone working on the runtime itself) is never reported."""
    pin = read_pin(project_path)
    origin = _direct_url()
    if pin is None or origin.get("dir_info", {}).get("editable"):
        return None
    if git := _GIT_PIN.search(pin):
        ref = git.group("ref")
        vcs = origin.get("vcs_info", {})
        if ref in (vcs.get("requested_revision"), vcs.get("commit_id")):
            return None
        if not vcs and ref.lstrip("v") == __version__:  # the same release, from an index
            return None
    elif version := _VERSION_PIN.search(pin):
        if version.group("version") == __version__:
            return None
    else:
        return None  # a range or a form we do not read: pip decides
    return (
        f"{PIN_FILE} pins `{pin}`, but this environment has kedro-mlflow-runtime "
        f"{__version__} ({installed_requirement()}). Install the pinned one from the project "
        'folder with: pip install -e ".[dev]"'
    )
