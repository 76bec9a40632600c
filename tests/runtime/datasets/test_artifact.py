"""MlflowArtifactDataset against a real SQLite store and real Kedro datasets."""

import pickle

import mlflow
import pandas as pd
import pytest
from kedro.io import DatasetError
from kedro_datasets.partitions import PartitionedDataset
from matplotlib.figure import Figure

from kedro_mlflow_runtime import MlflowArtifactDataset
from tests.runtime.datasets.conftest import from_catalog

DF = pd.DataFrame({"a": [1, 2], "b": [3.0, 4.5]})


def csv_dataset(tmp_path, **kwargs):
    return MlflowArtifactDataset(
        dataset={"type": "pandas.CSVDataset", "filepath": str(tmp_path / "report.csv")}, **kwargs
    )


def test_save_writes_the_file_and_logs_it_under_artifact_path(store, tmp_path):
    dataset = csv_dataset(tmp_path, artifact_path="reports")
    dataset.save(DF)
    assert (tmp_path / "report.csv").exists()
    assert store.artifacts(store.run_id) == ["reports/report.csv"]
    pd.testing.assert_frame_equal(dataset.load(), DF)


def test_load_from_a_past_run_leaves_the_local_file_alone(store, tmp_path):
    csv_dataset(tmp_path).save(DF)
    past = store.run_id
    store.new_run()
    changed = DF.assign(a=[7, 8])
    csv_dataset(tmp_path).save(changed)
    pd.testing.assert_frame_equal(csv_dataset(tmp_path, run_id=past).load(), DF)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "report.csv"), changed)


def test_versioned_dataset_logs_only_the_version_it_saved(store, tmp_path):
    config = {
        "type": "pickle.PickleDataset",
        "filepath": str(tmp_path / "m.pkl"),
        "versioned": True,
    }
    MlflowArtifactDataset(dataset=config).save({"v": 1})
    MlflowArtifactDataset(dataset=config).save({"v": 2})
    assert store.artifacts(store.run_id) == ["m.pkl"]
    assert len(list((tmp_path / "m.pkl").iterdir())) == 2
    assert MlflowArtifactDataset(dataset=config, run_id=store.run_id).load() == {"v": 2}


def test_partitioned_dataset_logs_only_this_saves_partitions(store, tmp_path):
    config = {
        "type": "partitions.PartitionedDataset",
        "path": str(tmp_path / "parts"),
        "dataset": "pandas.CSVDataset",
        "filename_suffix": ".csv",
    }
    MlflowArtifactDataset(dataset=config, artifact_path="p").save({"a": DF, "sub/b": DF})
    first = store.run_id
    second = store.new_run()
    MlflowArtifactDataset(dataset=config, artifact_path="p").save({"c": DF})
    assert store.artifacts(first) == ["p/parts/a.csv", "p/parts/sub/b.csv"]
    assert store.artifacts(second) == ["p/parts/c.csv"]  # no stale partitions
    loaded = MlflowArtifactDataset(dataset=config, artifact_path="p", run_id=first).load()
    assert sorted(loaded) == ["a", "sub/b"]
    pd.testing.assert_frame_equal(loaded["sub/b"](), DF)
    assert isinstance(MlflowArtifactDataset(dataset=config).wrapped, PartitionedDataset)


def test_a_matplotlib_figure_is_logged_as_a_png(store, tmp_path):
    figure = Figure()
    figure.add_subplot().plot([0, 1], [1, 0])
    dataset = MlflowArtifactDataset(
        dataset={"type": "matplotlib.MatplotlibDataset", "filepath": str(tmp_path / "curve.png")},
        artifact_path="plots",
    )
    dataset.save(figure)
    assert store.artifacts(store.run_id) == ["plots/curve.png"]
    local = store.client.download_artifacts(store.run_id, "plots/curve.png", str(tmp_path))
    assert open(local, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_it_is_a_real_class_that_pickles_and_previews(store, tmp_path):
    dataset = csv_dataset(tmp_path, artifact_path="r")
    clone = pickle.loads(pickle.dumps(dataset))
    assert isinstance(clone, MlflowArtifactDataset)
    clone.save(DF)
    assert store.artifacts(store.run_id) == ["r/report.csv"]
    assert dataset.preview(nrows=1) == dataset.wrapped.preview(nrows=1)
    # named as catalog.yml names it (kedro-viz and `kedro catalog` show this)
    assert str(dataset).startswith("kedro_mlflow_runtime.MlflowArtifactDataset(")
    assert "report.csv" in str(dataset)


def test_kedro_viz_previews_only_the_local_file_that_load_reads(tmp_path):
    DF.to_csv(tmp_path / "report.csv", index=False)
    assert csv_dataset(tmp_path).preview(nrows=1)["data"] == [[1, 3.0]]
    # load() reads the run's copy: the local file may be another run's, so no preview
    assert not hasattr(csv_dataset(tmp_path, run_id="0123abcd"), "preview")
    pickled = MlflowArtifactDataset(
        dataset={"type": "pickle.PickleDataset", "filepath": str(tmp_path / "model.pkl")}
    )
    assert not hasattr(pickled, "preview")  # PickleDataset has none


def test_a_wrapped_dataset_with_no_local_file_fails_when_the_catalog_is_built():
    message = from_catalog(
        "report",
        type="kedro_mlflow_runtime.MlflowArtifactDataset",
        dataset={"type": "pandas.CSVDataset", "filepath": "memory://report.csv"},
    )
    assert "dataset 'report'" in message
    assert "logs local files; the wrapped dataset writes to memory://" in message
    message = from_catalog(
        "report", type="kedro_mlflow_runtime.MlflowArtifactDataset", dataset="MemoryDataset"
    )
    assert "MemoryDataset has no local file to log" in message


def test_outside_a_tracked_run_the_file_is_saved_and_nothing_logged(no_run, tmp_path):
    csv_dataset(tmp_path).save(DF)
    assert (tmp_path / "report.csv").exists()
    assert no_run.artifacts(no_run.run_id) == []
    assert len(no_run.client.search_runs([no_run.experiment_id])) == 1  # no run created


def test_an_artifact_logs_into_mlflows_active_run_and_loads_from_it(no_run, tmp_path):
    mlflow.set_tracking_uri(no_run.uri)
    with mlflow.start_run(experiment_id=no_run.experiment_id) as active:
        csv_dataset(tmp_path, artifact_path="reports").save(DF)
    assert no_run.artifacts(active.info.run_id) == ["reports/report.csv"]
    assert no_run.artifacts(no_run.run_id) == []


def test_bad_input_names_the_entry(tmp_path):
    message = from_catalog("report", type="kedro_mlflow_runtime.MlflowArtifactDataset", dataset={})
    assert "dataset 'report'" in message
    assert "the wrapped dataset needs a 'type'" in message
    message = from_catalog(
        "report",
        type="kedro_mlflow_runtime.MlflowArtifactDataset",
        dataset={"type": "pandas.NoSuchDataset", "filepath": "x.csv"},
    )
    assert "NoSuchDataset" in message


def test_missing_artifact_in_the_run_is_a_clear_error(store, tmp_path):
    with pytest.raises(DatasetError, match="cannot download artifact 'report.csv'"):
        csv_dataset(tmp_path, run_id=store.run_id).load()


# A non-versioned file is saved into a private folder beside it, logged from there, then moved
# into place: runs sharing the path each log their own file (tests/runtime/tracking/
# test_concurrency.py). What ends up on disk and in the run is as without that folder.


def test_a_plain_file_lands_at_its_filepath_with_nothing_beside_it(store, tmp_path):
    csv_dataset(tmp_path / "data").save(DF)
    csv_dataset(tmp_path / "data").save(DF.assign(a=[5, 6]))  # over an existing file
    assert [path.name for path in (tmp_path / "data").iterdir()] == ["report.csv"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "data/report.csv"), DF.assign(a=[5, 6]))
    assert store.artifacts(store.run_id) == ["report.csv"]


def test_a_failed_save_leaves_nothing_behind(store, tmp_path):
    folder = tmp_path / "out"
    dataset = MlflowArtifactDataset(
        dataset={"type": "json.JSONDataset", "filepath": f"{folder}/x.json"}
    )
    with pytest.raises(DatasetError, match=r"x\.json") as raised:  # the wrapped dataset's error
        dataset.save({"not": object()})
    assert ".kedro-mlflow-" not in str(raised.value)  # naming its own path
    assert [path.name for path in folder.iterdir()] in ([], ["x.json"])  # as JSONDataset leaves it
    assert not [path for path in folder.iterdir() if path.name.startswith(".")]
    assert store.artifacts(store.run_id) == []


def test_when_logging_fails_the_data_still_lands_and_nothing_is_left(store, tmp_path, monkeypatch):
    import json

    from kedro_mlflow_runtime.tracking import not_logged, run_context

    ledger = tmp_path / "not-logged.jsonl"
    monkeypatch.setenv(not_logged.ENV_VAR, str(ledger))
    run_context.publish_run("0" * 32, store.experiment_id)  # a run the store does not hold
    csv_dataset(tmp_path / "data").save(DF)
    assert [path.name for path in (tmp_path / "data").iterdir()] == ["report.csv"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "data/report.csv"), DF)
    # what `kedro mlflow retry` logs later: the file in place, not the removed private copy
    [note] = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert note["replay"]["artifact"] == str((tmp_path / "data/report.csv").resolve())
    assert ".kedro-mlflow-" not in note["retry"] + note["what"]


def test_a_dataset_that_writes_a_folder_is_logged_and_placed_again_and_again(store, tmp_path):
    figures = {"a": Figure(), "b": Figure()}
    for figure in figures.values():
        figure.add_subplot().plot([0, 1], [1, 0])
    config = {"type": "matplotlib.MatplotlibDataset", "filepath": str(tmp_path / "plots")}
    MlflowArtifactDataset(dataset=config).save(figures)
    MlflowArtifactDataset(dataset=config).save({"c": figures["a"]})  # onto the existing folder
    assert store.artifacts(store.run_id) == ["plots/a", "plots/b", "plots/c"]
    # as MatplotlibDataset leaves it (overwrite: false keeps the other files)
    assert sorted(path.name for path in (tmp_path / "plots").iterdir()) == ["a", "b", "c"]
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]
