"""Fresh virtualenvs, made as a user makes them: from the Python this suite runs on (its base
interpreter, not this suite's venv), with the pip that ships with it or the newest pip.

Install tests run a generated README's commands verbatim through bash: `readme_block` reads them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import QUIET_ENV

BASE_PYTHON = Path(sys._base_executable)  # the interpreter this suite's venv was made from
PIP_UPGRADE = "python -m pip install --quiet --upgrade pip"
INSTALL_TIMEOUT = 1200  # a cold pip cache downloads kedro, mlflow and scikit-learn


def user_env(**extra: str) -> dict[str, str]:
    """A shell as a user's: `python` is the base interpreter, no venv active, no MLFLOW_*."""
    own_bin = str(Path(sys.executable).parent)
    path = [str(BASE_PYTHON.parent)] + [
        entry for entry in os.environ.get("PATH", "").split(os.pathsep) if entry != own_bin
    ]
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("MLFLOW_") and name not in ("VIRTUAL_ENV", "PYTHONPATH")
    }
    return {**env, **QUIET_ENV, "PATH": os.pathsep.join(path), **extra}


def readme_block(readme: Path, heading: str) -> list[str]:
    """The command lines of the first ```bash block under `## heading` of a README."""
    text = readme.read_text(encoding="utf-8")
    section = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert section, f"{readme} has no '## {heading}' section"
    block = re.search(r"^```bash\n(.*?)^```", section.group(1), re.M | re.S)
    assert block, f"the '## {heading}' section of {readme} has no bash block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def bash(
    script: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run lines as one `bash -e` script; its whole output (stdout and stderr) goes to `log` and
    to the result's stdout."""
    with log.open("w") as out:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", "\n".join(script)],
            cwd=cwd, env=env or user_env(), stdout=out, stderr=subprocess.STDOUT, text=True,
            timeout=INSTALL_TIMEOUT, check=False,
        )  # fmt: skip
    done.stdout = log.read_text(errors="replace")
    return done


def install_as_readme_says(
    project: Path, pip: str = "bundled", **env: str
) -> subprocess.CompletedProcess:
    """The project README's "Installing" commands, then the first command of "Running"
    (`kedro run`); with pip="newest", pip is upgraded right after the venv is activated."""
    install = readme_block(project / "README.md", "Installing")
    if pip == "newest":
        [activate] = [i for i, line in enumerate(install) if "activate" in line]
        install.insert(activate + 1, PIP_UPGRADE)
    run = readme_block(project / "README.md", "Running")[0]
    assert run.startswith("kedro run"), run
    log = project.parent / f"{project.name}-install.log"
    return bash([*install, run], project, log, env=user_env(**env))


def make_venv(path: Path, pip: str = "bundled") -> Path:
    """A bare venv at `path` (only pip, bundled or upgraded to the newest); returns its python."""
    script = [f"{BASE_PYTHON} -m venv {path}"]
    if pip == "newest":
        script.append(f"{path}/bin/{PIP_UPGRADE}")
    done = bash(script, path.parent, path.parent / f"{path.name}.log")
    assert done.returncode == 0, done.stdout
    return path / "bin" / "python"


def pip_version(python: Path) -> tuple[int, ...]:
    """The version of the pip in `python`'s environment."""
    out = subprocess.run(
        [str(python), "-m", "pip", "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    return tuple(int(part) for part in re.findall(r"\d+", out)[:3])


def bundled_pip_version() -> tuple[int, ...]:
    out = subprocess.run(
        [str(BASE_PYTHON), "-c", "import ensurepip; print(ensurepip.version())"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return tuple(int(part) for part in re.findall(r"\d+", out)[:3])


def resolve(python: Path, requirement: str, dest: Path) -> subprocess.CompletedProcess[str]:
    """`pip download --no-deps REQUIREMENT`: this pip accepts the line and fetches (and, for a
    git URL, clones and builds) the distribution it names."""
    return subprocess.run(
        [str(python), "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(dest),
         requirement],
        env=user_env(), capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False,
    )  # fmt: skip
