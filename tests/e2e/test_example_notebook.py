"""The example notebook, notebooks/example-pipeline.ipynb, run headless in a generated project as a
user runs it: a Jupyter kernel started in notebooks/, Kedro's IPython extension, the project's
catalog. What its cells show is checked against what MLflow recorded for the last `kedro run`."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import mlflow
import nbformat
import pandas as pd
import pytest
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.conftest import generate, kedro, recorded_runs

pytestmark = pytest.mark.e2e
NOTEBOOK = "notebooks/example-pipeline.ipynb"
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # Kedro's extension pretty-prints results with rich


def execute(path: Path) -> list[str]:
    """Run every cell of the notebook at `path`, from its folder; the result each code cell
    shows (text/plain, colours stripped), in order."""
    notebook = nbformat.read(path, as_version=4)
    # ipykernel's own kernel spec: this interpreter, whatever python3 kernels the machine has
    kernels = KernelSpecManager(kernel_dirs=[])
    manager = KernelManager(kernel_name="python3", kernel_spec_manager=kernels)
    assert manager.kernel_spec.argv[0] == sys.executable
    client = NotebookClient(
        notebook, km=manager, timeout=300, resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    return [
        "".join(
            ANSI.sub("", output.data["text/plain"])
            for output in cell.outputs
            if output.output_type == "execute_result"
        )
        for cell in code_cells
    ]


def test_the_example_notebook_reads_the_last_runs_metric_and_model(tmp_path):
    project = generate(tmp_path / "project")
    path = project / NOTEBOOK
    shipped = nbformat.read(path, as_version=4)
    nbformat.validate(shipped)
    assert all(not cell.get("outputs") for cell in shipped.cells)  # shipped without results

    # before any run: the notebook says what to do
    with pytest.raises(CellExecutionError, match=r"run `kedro run` in the project folder first"):
        execute(path)

    done = kedro(project, "run")
    assert done.returncode == 0, done.stdout + done.stderr
    [run] = recorded_runs(project / "mlflow.db")
    _, run_id, accuracy, labels, predictions = execute(path)

    assert run_id == repr(run.info.run_id)
    assert float(accuracy) == run.data.metrics["metrics.accuracy"]
    # the model the run logged, read back through the MLflow API, on the rows the notebook scored
    rows = pd.read_csv(project / "data/05_model_input/x_test.csv").head(5)
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    classifier = mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/classifier")
    assert [int(label) for label in re.findall(r"\d+", labels)] == list(classifier.predict(rows))
    shown = pd.read_csv(io.StringIO(predictions), sep=r"\s+")
    assert list(shown.columns) == ["malignant_probability", "malignant"]
    assert len(shown) == 5
    assert list(shown["malignant"]) == list(classifier.predict(rows))
    assert list(shown["malignant_probability"]) == pytest.approx(
        list(classifier.predict_proba(rows)[:, 1]), abs=1e-6
    )
