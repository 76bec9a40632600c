"""A tiny Kedro project in tmp_path, run in-process through a real KedroSession.

Each project gets its own package name: Kedro caches project modules per name, so two projects
never share code in one interpreter. Its settings.py is the template's own.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.conftest import TEMPLATE_DIR

_counter = itertools.count()
TEMPLATE_SETTINGS = TEMPLATE_DIR / "src" / "{{ package_name }}" / "settings.py"

NODES = """
import time


def scale(values, factor):
    return [v * factor for v in values]


def total(values, model):
    return sum(values) + model["offset"]


def explode(values, fail):
    if fail:
        raise ValueError("boom: the node failed on purpose")
    return values


def wait(values, seconds):
    time.sleep(seconds)
    return values


def wait_noting_pid(values, seconds, pid_file):
    import os
    from pathlib import Path

    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(seconds)
    return values


def open_a_run_and_fail(values):
    import mlflow

    mlflow.start_run(nested=True, run_name="left-open-by-a-node")
    raise ValueError("boom: failed with a nested run open")


def label(value, offset):
    return value + offset


def fit(values, factor):
    return {"factor": factor, "mean": sum(values) / len(values)}


def apply(fitted, instances, offset):
    return [x * fitted["factor"] + fitted["mean"] + offset for x in instances]
"""

REGISTRY = """
from kedro.pipeline import Node, Pipeline
from kedro_mlflow_runtime import pipeline_ml_factory

from .nodes import (
    apply, explode, fit, label, open_a_run_and_fail, scale, total, wait, wait_noting_pid,
)


def register_pipelines():
    default = Pipeline([
        Node(scale, ["raw", "params:factor"], "scaled", name="scale"),
        Node(total, ["scaled", "params:model"], "result", name="total"),
    ])
    failing = Pipeline([
        Node(scale, ["raw", "params:factor"], "scaled", name="scale"),
        Node(explode, ["scaled", "params:fail"], "exploded", name="explode"),
    ])
    everything = Pipeline([Node(total, ["raw", "parameters"], "sum_all", name="sum_all")])
    slow = Pipeline([Node(wait, ["raw", "params:seconds"], "waited", name="wait")])
    nested_failing = Pipeline([Node(open_a_run_and_fail, "raw", "nothing", name="nested")])
    # the process running the node writes its pid to params:pid_file, then waits
    noted = Pipeline([
        Node(wait_noting_pid, ["raw", "params:seconds", "params:pid_file"], "waited", name="wait")
    ])
    steps = Pipeline([
        Node(scale, ["raw", "params:factor"], "scaled", name="scale"),
        Node(total, ["scaled", "params:model"], "result", name="total"),
        Node(label, ["result", "params:offset"], "labelled", name="label"),
    ])
    ml = pipeline_ml_factory(
        training=Pipeline([Node(fit, ["raw", "params:factor"], "fitted", name="fit")]),
        inference=Pipeline(
            [Node(apply, ["fitted", "instances", "params:offset"], "applied", name="apply")]
        ),
        input_name="instances",
        log_model_kwargs={
            "name": "tiny_model",
            "signature": None,
            "registered_model_name": "tiny_registered",
        },
    )
    # the same model, its inference node a lambda (stored with cloudpickle)
    ml_lambda = pipeline_ml_factory(
        training=ml.training,
        inference=Pipeline([Node(
            lambda fitted, rows, offset: [x * fitted["factor"] + fitted["mean"] + offset for x in rows],
            ["fitted", "instances", "params:offset"], "applied", name="apply",
        )]),
        input_name="instances",
        log_model_kwargs={"name": "lambda_model", "signature": None},
    )
    # logs, then waits (the tracking server may go away meanwhile), then logs again
    fragile = Pipeline([
        Node(scale, ["raw", "params:factor"], "scaled", name="scale"),
        Node(wait, ["scaled", "params:seconds"], "waited", name="wait"),
        Node(total, ["waited", "params:model"], "result", name="total"),
        Node(explode, ["waited", "params:fail"], "copied", name="copy"),
    ])
    # two namespaced copies of the default pipeline + a shared node outside namespaces
    namespaced = (
        Pipeline(default, namespace="left", inputs={"raw"})
        + Pipeline(default, namespace="right", inputs={"raw"}, parameters={"params:factor"})
        + Pipeline([Node(scale, ["raw", "params:factor"], "shared", name="shared")])
    )
    return {
        "__default__": default,
        "failing": failing,
        "ml_lambda": ml_lambda,
        "everything": everything,
        "slow": slow,
        "noted": noted,
        "nested_failing": nested_failing,
        "ml": ml,
        "steps": steps,
        "namespaced": namespaced,
        "fragile": fragile,
    }
"""

CATALOG = """
raw:
  type: json.JSONDataset
  filepath: data/raw.json
scaled:
  type: json.JSONDataset
  filepath: data/scaled.json
result:
  type: json.JSONDataset
  filepath: data/result.json
fitted:
  type: pickle.PickleDataset
  filepath: data/fitted.pkl
"""

PARAMETERS = """
factor: 2
model:
  offset: 1
  tree:
    depth: 3
fail: true
seconds: 60
unused: 5
offset: 0
pid_file: ""
"""


class TinyProject:
    def __init__(self, path: Path, package: str):
        self.path = path
        self.package = package
        self.db = path / "mlflow.db"

    def write(self, relative: str, text: str) -> Path:
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text))
        return target

    def mlflow_yml(self, text: str, env: str = "base") -> Path:
        return self.write(f"conf/{env}/mlflow.yml", text)

    def session(self, **kwargs) -> KedroSession:
        bootstrap_project(self.path)
        return KedroSession.create(project_path=self.path, **kwargs)

    def run(self, pipeline: str | None = None, *, env: str | None = None, **session_kwargs):
        with self.session(env=env, **session_kwargs) as session:
            return session.run(pipeline_names=[pipeline] if pipeline else None)


@pytest.fixture
def project(tmp_path: Path) -> TinyProject:
    package = f"tiny_{next(_counter)}"
    tiny = TinyProject(tmp_path / "project", package)
    tiny.write(
        "pyproject.toml",
        f"""
        [tool.kedro]
        package_name = "{package}"
        project_name = "{package}"
        kedro_init_version = "1.7.0"
        source_dir = "src"
        """,
    )
    tiny.write(f"src/{package}/__init__.py", "")
    tiny.write(f"src/{package}/settings.py", TEMPLATE_SETTINGS.read_text())
    tiny.write(f"src/{package}/nodes.py", NODES)
    tiny.write(f"src/{package}/pipeline_registry.py", REGISTRY)
    tiny.write("conf/base/catalog.yml", CATALOG)
    tiny.write("conf/base/parameters.yml", PARAMETERS)
    tiny.write("conf/local/.gitkeep", "")
    tiny.write("data/raw.json", "[1, 2, 3]")
    return tiny


@pytest.fixture
def immutable(tmp_path):
    """Make files unwritable even for root (tests run as root, which ignores permissions)."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr (e2fsprogs) is not installed")
    probe = tmp_path / "chattr-probe"
    probe.touch()
    done = subprocess.run(["chattr", "+i", str(probe)], check=False, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {done.stderr.strip()}")
    frozen = [probe]

    def freeze(path: Path) -> None:
        subprocess.run(["chattr", "+i", str(path)], check=True)
        frozen.append(path)

    yield freeze
    for path in frozen:  # every one, even if one fails
        subprocess.run(["chattr", "-i", str(path)], check=False)
