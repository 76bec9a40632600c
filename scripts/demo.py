"""`make demo`: scaffold a project from this checkout with default answers, run it, show the run.

The project lands in build/demo-project (made anew each time) and is tracked in its own
mlflow.db, an embedded SQLite store: nothing to start, nothing leaves the machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PROJECT = REPO_ROOT / "build" / "demo-project"
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "kedro-mlflow-starter demo",
    "GIT_AUTHOR_EMAIL": "demo@example.com",
    "GIT_COMMITTER_NAME": "kedro-mlflow-starter demo",
    "GIT_COMMITTER_EMAIL": "demo@example.com",
}


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def run(*command: str, cwd: Path) -> None:
    subprocess.run(command, cwd=cwd, check=True, env={**os.environ, **GIT_IDENTITY})


def scaffold() -> None:
    import copier  # noqa: PLC0415

    step(f"copier copy {REPO_ROOT} {PROJECT.relative_to(REPO_ROOT)} --defaults")
    shutil.rmtree(PROJECT, ignore_errors=True)
    in_git = (REPO_ROOT / ".git").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # copying uncommitted changes warns; that is the point here
        # vcs_ref HEAD: this checkout as it is (latest tag otherwise)
        copier.run_copy(
            str(REPO_ROOT), PROJECT, defaults=True, vcs_ref="HEAD" if in_git else None, quiet=True
        )
    run("git", "init", "-q", "-b", "main", cwd=PROJECT)
    run("git", "add", "-A", cwd=PROJECT)
    run("git", "commit", "-q", "-m", "Initial commit from kedro-mlflow-starter", cwd=PROJECT)


def score_with_the_logged_model(client, run) -> None:
    """Load the inference pipeline the run logged, as any MLflow user would, and score rows."""
    import mlflow  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    [model] = client.search_logged_models(
        [run.info.experiment_id],
        filter_string=f"source_run_id = '{run.info.run_id}' AND name = 'inference_model'",
    )
    uri = f"models:/{model.model_id}"
    step(f"Scoring 5 rows with the logged inference pipeline ({uri})")
    mlflow.set_tracking_uri(client.tracking_uri)
    rows = pd.read_csv(PROJECT / "data/01_raw/breast_cancer.csv").drop(columns=["malignant"])
    predictions = mlflow.pyfunc.load_model(uri).predict(rows.head(5), params={"threshold": 0.5})
    print(pd.concat([rows.head(5)[["radius", "texture", "area"]], predictions], axis=1))
    example = Path(model.artifact_location.removeprefix("file://"), "serving_input_example.json")
    venv_bin = Path(sys.executable).parent
    print("\n  Serve it over HTTP, then score the rows of its input example:")
    print(f"  cd {PROJECT} && export PATH={venv_bin}:$PATH")
    print(f"  MLFLOW_TRACKING_URI=sqlite:///mlflow.db mlflow models serve -m {uri} \\")
    print("      --env-manager local -h 127.0.0.1 -p 5001")
    print("  curl -s 127.0.0.1:5001/invocations -H 'Content-Type: application/json' \\")
    print(f"      -d @{example.relative_to(PROJECT)}")


def show_run() -> None:
    from mlflow import MlflowClient  # noqa: PLC0415

    db_file = PROJECT / "mlflow.db"
    client = MlflowClient(f"sqlite:///{db_file}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    [run] = client.search_runs(experiments, order_by=["attributes.start_time DESC"], max_results=1)
    experiment = client.get_experiment(run.info.experiment_id)
    step("What MLflow recorded")
    print(f"  tracking store : sqlite:///{db_file}")
    print(f"  experiment     : {experiment.name}")
    print(f"  run            : {run.info.run_name} ({run.info.run_id}) {run.info.status}")
    print(f"  artifacts      : {run.info.artifact_uri}")
    print("  params         :")
    for key, value in sorted(run.data.params.items()):
        print(f"    {key} = {value}")
    print("  tags           :")
    for key, value in sorted(run.data.tags.items()):
        if not key.startswith("mlflow.") or key.startswith("mlflow.source.git"):
            print(f"    {key} = {value}")
    score_with_the_logged_model(client, run)
    step("Browse it in the MLflow UI")
    print(f"  cd {PROJECT}")
    print(
        f"  {Path(sys.executable).with_name('kedro')} mlflow ui   # then open http://127.0.0.1:5000"
    )


def main() -> None:
    scaffold()
    step("kedro run   (in build/demo-project)")
    run(sys.executable, "-m", "kedro", "run", cwd=PROJECT)
    show_run()


if __name__ == "__main__":
    main()
