"""A generated project installs as its README says, from every kind of template source.

Each test gets the template the way a user does (a git URL with release tags, a relative path to
an untagged clone, a package index), runs `copier copy`, then the generated README's own
"Installing" commands and its first "Running" command verbatim in a fresh venv, and reads the
FINISHED run back through MLflow. The pip that ships with Python and the newest pip both take
every pin: one of them installs everything, the other resolves the pin (`pip download`).

A `local` project's dev install has the full mlflow (`kedro mlflow ui`); a `server` project's
install has MLflow's client only (mlflow-skinny), which tracks to a server and to the embedded
SQLite store, and logs a pipeline model that it also serves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import (
    REPO_ROOT,
    VERSION,
    free_port,
    git_repo,
    recorded_runs,
    snapshot_checkout,
    stop,
    wait_for_http,
)
from tests.servers import scoring_server_predictions
from tests.venvs import (
    bash,
    bundled_pip_version,
    install_as_readme_says,
    make_venv,
    pip_version,
    resolve,
    user_env,
)

pytestmark = [pytest.mark.e2e, pytest.mark.install]


def copier_copy(src: str, dst: str, cwd: Path, *args: str) -> Path:
    """`copier copy --defaults SRC DST` as typed in a shell (relative paths against cwd)."""
    done = subprocess.run(
        [sys.executable, "-m", "copier", "copy", "--defaults", "--quiet", *args, src, dst],
        cwd=cwd, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return cwd / dst


def runtime_pin(project: Path) -> str:
    lines = (project / "requirements/template.txt").read_text().splitlines()
    [pin] = [line for line in lines if line.startswith("kedro-mlflow-runtime")]
    return pin


def assert_one_finished_run(project: Path, done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 0, done.stdout[-5000:]
    [run] = recorded_runs(project / "mlflow.db")
    assert run.info.status == "FINISHED"
    assert run.data.tags["kedro_mlflow_runtime_version"] == VERSION
    assert run.data.metrics["metrics.accuracy"] > 0.85


def in_project_venv(project: Path, *lines: str) -> subprocess.CompletedProcess:
    """Commands in the project's .venv (the one the README made); wide output: no wrapped lines."""
    return bash(
        ["source .venv/bin/activate", *lines],
        project,
        project.parent / "project-venv.log",
        env=user_env(COLUMNS="1000"),
    )


INSTALLED = """
import json, sys
from importlib import metadata
def has(name):
    try:
        return bool(metadata.distribution(name))
    except metadata.PackageNotFoundError:
        return False
print(json.dumps({name: has(name) for name in sys.argv[1:]}))
"""


def installed(project: Path, *names: str) -> set[str]:
    """Those of these distributions that the project's .venv has."""
    done = subprocess.run(
        [str(project / ".venv/bin/python"), "-c", INSTALLED, *names],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return {name for name, found in json.loads(done.stdout).items() if found}


def set_pin(project: Path, pin: str) -> None:
    path = project / "requirements/template.txt"
    path.write_text(path.read_text().replace(runtime_pin(project), pin))


@pytest.fixture(scope="module")
def newest_pip(tmp_path_factory) -> Path:
    """A bare venv with the newest pip: the python that resolves pins with it."""
    return make_venv(tmp_path_factory.mktemp("pip") / "newest-pip", pip="newest")


@pytest.fixture
def tagged_template(tmp_path: Path) -> Path:
    """The template repository as users get it from a git server: bare, with a release tag."""
    repo = git_repo(snapshot_checkout(tmp_path / "starter"), tag=f"v{VERSION}")
    bare = tmp_path / "starter.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True)
    return bare


def test_a_git_url_with_release_tags(tmp_path, tagged_template, newest_pip):
    project = copier_copy(f"file://{tagged_template}", "my-project", tmp_path)
    pin = runtime_pin(project)
    assert pin == f"kedro-mlflow-runtime @ git+file://localhost{tagged_template}@v{VERSION}"

    assert_one_finished_run(project, install_as_readme_says(project, pip="bundled"))
    assert pip_version(project / ".venv/bin/python") == bundled_pip_version()
    # a local project's dev requirements add the UI (the [ui] extra of the pinned runtime)
    assert installed(project, "mlflow", "mlflow-skinny") == {"mlflow", "mlflow-skinny"}
    done = resolve(newest_pip, pin, tmp_path / "downloads")
    assert done.returncode == 0, done.stderr

    # A source pip cannot reach, a version that does not exist: pip says which, and exits 1.
    nowhere = f"kedro-mlflow-runtime @ git+file://localhost{tmp_path}/moved.git@v{VERSION}"
    set_pin(project, nowhere)
    done = in_project_venv(project, 'pip install -e ".[dev]"')
    assert done.returncode != 0
    assert f"{tmp_path}/moved.git" in done.stdout
    set_pin(project, "kedro-mlflow-runtime==99.0.0")
    done = in_project_venv(project, 'pip install -e ".[dev]"')
    assert done.returncode != 0
    assert "No matching distribution found for kedro-mlflow-runtime==99.0.0" in done.stdout

    # kedro run names the runtime the project pins and how to install it
    done = in_project_venv(project, "kedro run")
    assert done.returncode == 0, done.stdout[-5000:]
    assert (
        "requirements/template.txt pins `kedro-mlflow-runtime==99.0.0`, but this environment "
        f"has kedro-mlflow-runtime {VERSION}"
    ) in done.stdout
    assert 'pip install -e ".[dev]"' in done.stdout
    done = in_project_venv(project, "pip uninstall --quiet --yes kedro-mlflow-runtime", "kedro run")
    assert done.returncode != 0
    assert (
        "kedro-mlflow-runtime is not installed in this environment; "
        f"{project}/requirements/template.txt pins `kedro-mlflow-runtime==99.0.0`"
    ) in done.stdout


def test_a_relative_path_to_a_clone_without_release_tags(tmp_path):
    clone = git_repo(snapshot_checkout(tmp_path / "starter"))  # no tag: copier renders HEAD
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True, check=True
    ).stdout.strip()
    project = copier_copy("./starter", "my-project", tmp_path)
    # resolved: pip and `copier update` run from the project, where ./starter means nothing
    assert runtime_pin(project) == f"kedro-mlflow-runtime @ git+file://localhost{clone}@{head}"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_src_path"] == str(clone)

    assert_one_finished_run(project, install_as_readme_says(project, pip="newest"))
    assert pip_version(project / ".venv/bin/python") > bundled_pip_version()
    assert installed(project, "mlflow", "mlflow-skinny") == {"mlflow", "mlflow-skinny"}
    bundled = make_venv(tmp_path / "bundled-pip", pip="bundled")
    done = resolve(bundled, runtime_pin(project), tmp_path / "downloads")
    assert done.returncode == 0, done.stderr

    # `copier update` finds the template again, and moves the pin to the new commit
    git_repo(project)
    (clone / "template/conf/README.md").write_text("# conf\n\nUpdated.\n")
    subprocess.run(["git", "commit", "-qam", "next"], cwd=clone, check=True)
    done = subprocess.run(
        [sys.executable, "-m", "copier", "update", "--defaults", "--quiet"],
        cwd=project, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    new_head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert runtime_pin(project) == f"kedro-mlflow-runtime @ git+file://localhost{clone}@{new_head}"
    assert (project / "conf/README.md").read_text() == "# conf\n\nUpdated.\n"


def test_a_package_index_serving_the_released_wheel(tmp_path, newest_pip):
    source = snapshot_checkout(tmp_path / "starter")
    dist = tmp_path / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(source)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    artefacts = sorted(path.name for path in dist.iterdir())
    assert artefacts == [
        f"kedro_mlflow_runtime-{VERSION}-py3-none-any.whl",
        f"kedro_mlflow_runtime-{VERSION}.tar.gz",
    ]
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr

    project = copier_copy(str(REPO_ROOT), "my-project", tmp_path, "--vcs-ref", "HEAD",
                          "--data", "runtime_from=index")  # fmt: skip
    assert runtime_pin(project) == f"kedro-mlflow-runtime=={VERSION}"
    # a folder of wheels is a package index to pip (PIP_FIND_LINKS), beside the machine's own
    links = " ".join(filter(None, [user_env().get("PIP_FIND_LINKS", ""), str(dist)]))
    done = install_as_readme_says(project, pip="bundled", PIP_FIND_LINKS=links)
    assert_one_finished_run(project, done)
    installed = (project / ".venv/lib").glob("python*/site-packages/kedro_mlflow_runtime-*")
    [dist_info] = [path for path in installed if path.suffix == ".dist-info"]
    assert not (dist_info / "direct_url.json").exists()  # from the index, not a URL

    done = subprocess.run(
        [str(newest_pip), "-m", "pip", "download", "--quiet", "--no-deps", "--dest",
         str(tmp_path / "downloads"), f"kedro-mlflow-runtime=={VERSION}"],
        env=user_env(PIP_FIND_LINKS=links), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_a_server_project_installs_mlflow_skinny_and_tracks_without_the_full_mlflow(
    tmp_path, mlflow_server
):
    git_repo(snapshot_checkout(tmp_path / "starter"))
    project = copier_copy("./starter", "my-project", tmp_path, "--data", "tracking_backend=server",
                          "--data", f"tracking_uri={mlflow_server.uri}",
                          "--data", "experiment_name=skinny-install")  # fmt: skip
    done = install_as_readme_says(project, pip="bundled")  # its dev tools included
    assert done.returncode == 0, done.stdout[-5000:]
    # MLflow's client and the SQLite store: no UI, no tracking server (Flask, gunicorn)
    assert installed(project, "mlflow-skinny", "mlflow", "flask", "gunicorn", "sqlalchemy") == {
        "mlflow-skinny", "sqlalchemy",
    }  # fmt: skip
    [run] = recorded_runs(mlflow_server.uri, "skinny-install")
    assert run.info.status == "FINISHED"
    assert run.data.metrics["metrics.accuracy"] > 0.85

    # the embedded SQLite store works without the full mlflow
    (project / "conf/local/mlflow.yml").write_text(
        "server:\n  mlflow_tracking_uri: sqlite:///mlflow.db\n"
    )
    assert_one_finished_run(project, in_project_venv(project, "kedro run"))
    done = in_project_venv(project, "pytest -q -p no:cacheprovider")  # the project's own tests
    assert done.returncode == 0, done.stdout[-5000:]

    # the pipeline model asks for MLflow's client only, and is served with it
    from mlflow import MlflowClient  # noqa: PLC0415

    [run] = recorded_runs(project / "mlflow.db")
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    [model] = client.search_logged_models(
        [run.info.experiment_id], filter_string="name = 'inference_model'"
    )
    root = Path(model.artifact_location.removeprefix("file://"))
    names = {line.split("==")[0] for line in (root / "requirements.txt").read_text().split()}
    assert "mlflow-skinny" in names and "mlflow" not in names
    assert_serves(project, f"models:/{model.model_id}")

    # `kedro mlflow ui` says what to install; that command keeps the pinned runtime
    done = in_project_venv(project, "kedro mlflow ui || echo exit=$?")
    assert "exit=1" in done.stdout
    assert 'pip install "kedro-mlflow-runtime[ui]"' in done.stdout
    done = in_project_venv(project, 'pip install --quiet "kedro-mlflow-runtime[ui]"', "kedro run")
    assert done.returncode == 0, done.stdout[-5000:]
    assert installed(project, "mlflow", "flask") == {"mlflow", "flask"}
    # still the pinned runtime, or `kedro run` would say so
    assert "but this environment has kedro-mlflow-runtime" not in done.stdout


def assert_serves(project: Path, uri: str) -> None:
    """`mlflow models serve` from the project's .venv answers a prediction for 3 rows."""
    port = free_port()
    venv_bin = project / ".venv/bin"  # as activated: the scoring server is its `uvicorn`
    env = user_env(MLFLOW_TRACKING_URI="sqlite:///mlflow.db")
    server = subprocess.Popen(
        [str(venv_bin / "mlflow"), "models", "serve", "-m", uri, "--env-manager", "local",
         "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
        cwd=project, env={**env, "PATH": f"{venv_bin}{os.pathsep}{env['PATH']}"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", server)
        rows = pd.read_csv(project / "data/01_raw/breast_cancer.csv").drop(columns=["malignant"])
        split = json.loads(rows.head(3).to_json(orient="split"))
        del split["index"]
        payload = {"dataframe_split": split}
        predictions = scoring_server_predictions(port, payload)
        assert len(predictions) == 3
        assert all(0 <= p["malignant_probability"] <= 1 for p in predictions)
    finally:
        stop(server)
