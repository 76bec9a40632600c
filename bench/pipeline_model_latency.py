"""Predict overhead of a logged Kedro pipeline model over calling its node functions by hand.

A 2-node inference pipeline (scale, then score with a logistic regression) is logged with
kedro-mlflow-runtime to a throwaway SQLite store and loaded back with `mlflow.pyfunc.load_model`.
For 1 row and 10,000 rows it times, in the same process and interleaved:
  by hand    prepare() then score(), the work itself (the baseline)
  model      loaded_model.predict(rows): MLflow's pyfunc layer (schema enforcement) + ours
  pipeline   KedroPipelineModel.predict alone (our layer, without MLflow's)
and prints the median per call, the overhead over the baseline and the ratio.
Target: overhead <= 1 ms per call (kedro-mlflow 2.0.3: about 28 ms, x19.8 for one row).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
warnings.filterwarnings("ignore")

import mlflow  # noqa: E402
from kedro.io import DataCatalog, MemoryDataset  # noqa: E402
from kedro.pipeline import Node, Pipeline  # noqa: E402
from latency_nodes import prepare, score  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from kedro_mlflow_runtime.model.log_model import log_pipeline_model  # noqa: E402

COLUMNS = [f"f{i}" for i in range(10)]
CALLS = {1: 2000, 10_000: 100}


def trained():
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(2000, 10)), columns=COLUMNS)
    y = (x["f0"] + x["f1"] > 0).astype(int)
    scaler = StandardScaler().fit(x)
    return x, scaler, LogisticRegression().fit(scaler.transform(x), y)


def per_call(function, rows, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        function(rows)
    return (time.perf_counter() - start) / calls


def main() -> None:
    x, scaler, classifier = trained()
    inference = Pipeline(
        [
            Node(prepare, ["features", "scaler"], "prepared", name="prepare"),
            Node(score, ["classifier", "prepared", "params:threshold"], "scores", name="score"),
        ]
    )
    catalog = DataCatalog(
        {
            "features": MemoryDataset(x.head(100)),
            "scaler": MemoryDataset(scaler),
            "classifier": MemoryDataset(classifier),
            "params:threshold": MemoryDataset(0.5),
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
        client = mlflow.MlflowClient()
        experiment = client.create_experiment("bench", artifact_location=Path(tmp).as_uri())
        run_id = client.create_run(experiment).info.run_id
        info = log_pipeline_model(
            inference, "features", catalog, run_id=run_id, client=client,
            log_model_kwargs={"name": "bench"},
        )  # fmt: skip
        model = mlflow.pyfunc.load_model(info.model_uri)
        pipeline_model = model.unwrap_python_model()

        def by_hand(rows):
            return score(classifier, prepare(rows, scaler), 0.5)

        contenders = {
            "by hand": by_hand,
            "model": model.predict,
            "pipeline": lambda rows: pipeline_model.predict(None, rows),
        }
        for n_rows, calls in CALLS.items():
            rows = pd.DataFrame(np.random.default_rng(1).normal(size=(n_rows, 10)), columns=COLUMNS)
            assert (model.predict(rows) == by_hand(rows)).all()
            samples = {name: [] for name in contenders}
            for _ in range(7):  # interleaved rounds: the same machine noise for everyone
                for name, function in contenders.items():
                    samples[name].append(per_call(function, rows, calls // 7 or 1))
            base = statistics.median(samples["by hand"])
            print(f"{n_rows:>6} row(s): by hand {base * 1e3:8.3f} ms/call")
            for name in ("model", "pipeline"):
                median = statistics.median(samples[name])
                print(
                    f"{'':>14}{name:<9}{median * 1e3:8.3f} ms/call   overhead "
                    f"{(median - base) * 1e3:+7.3f} ms   ratio {median / base:6.2f}"
                )


if __name__ == "__main__":
    main()
