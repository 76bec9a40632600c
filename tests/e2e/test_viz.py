"""`kedro viz build` on a generated project, seen as a user sees it: the built site's data files,
then the site itself in headless Chromium (its DOM, and a screenshot kept under build/)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, free_port, generate, kedro, stop, wait_for_http

pytestmark = pytest.mark.e2e

SCREENSHOT = REPO_ROOT / "build" / "test-artifacts" / "viz.png"  # build/ is git-ignored
WINDOW = (1600, 1000)
TASKS = {
    "split_data",
    "train_model",
    "evaluate_model",
    "plot_training_loss",
    "report_per_class",
    "predict",
}
# as catalog_training.yml names them
MLFLOW_TYPES = {
    "classifier": "kedro_mlflow_runtime.MlflowModelTrackingDataset",
    "training_loss": "kedro_mlflow_runtime.MlflowMetricHistoryDataset",
    "metrics": "kedro_mlflow_runtime.MlflowMetricsHistoryDataset",
    "classification_report": "kedro_mlflow_runtime.MlflowArtifactDataset",
    "training_loss_plot": "kedro_mlflow_runtime.MlflowArtifactDataset",
}


@dataclass
class Site:
    root: Path  # the project's build/
    nodes: dict[str, dict[str, Any]]  # api/main's nodes by name
    imported: set[str]  # every module the build imported
    server_contacted: bool


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    project = generate(tmp_path_factory.mktemp("viz") / "demo")
    run = kedro(project, "run")  # writes the local files that the previews read
    assert run.returncode == 0, run.stdout + run.stderr
    # as with a tracking server: one that listens (this socket) and must hear nothing
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        (project / "conf/local/mlflow.yml").write_text(
            f"server:\n  mlflow_tracking_uri: http://127.0.0.1:{port}\n"
        )
        # hooks too (MlflowHook reads mlflow.yml, names the datasets), and every preview; each
        # module imported, by `kedro` or the process it forks, is listed on stderr
        build = kedro(
            project,
            *("viz", "build", "--include-hooks", "--include-previews"),
            PYTHONPROFILEIMPORTTIME="1",
        )
        server.setblocking(False)
        try:
            server.accept()[0].close()
            contacted = True
        except BlockingIOError:
            contacted = False
    assert build.returncode == 0, build.stdout + build.stderr[-5000:]
    root = project / "build"
    nodes = {node["name"]: node for node in json.loads((root / "api/main").read_text())["nodes"]}
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in build.stderr.splitlines()
        if line.startswith("import time:")
    }
    return Site(root, nodes, imported, contacted)


def details(site: Site, name: str) -> dict[str, Any]:
    """What the metadata panel shows for node `name` (api/nodes/<id>)."""
    return json.loads((site.root / "api/nodes" / site.nodes[name]["id"]).read_text())


def shown_nodes(site: Site) -> set[str]:
    """Task and data nodes: the flowchart hides parameters unless asked."""
    return {name for name, node in site.nodes.items() if node["type"] in ("task", "data")}


def test_the_build_shows_the_pipeline_and_the_mlflow_datasets_by_their_catalog_type(site):
    assert {name for name, node in site.nodes.items() if node["type"] == "task"} == TASKS
    types = {name: site.nodes[name].get("dataset_type") for name in MLFLOW_TYPES}
    assert types == MLFLOW_TYPES
    assert site.nodes["breast_cancer"]["dataset_type"] == "pandas.csv_dataset.CSVDataset"
    assert details(site, "classification_report")["type"] == MLFLOW_TYPES["classification_report"]


def test_artifacts_preview_their_local_file_and_tracking_store_data_is_not_read(site):
    report = details(site, "classification_report")
    assert report["preview_type"] == "TablePreview"
    assert report["preview"]["columns"] == ["class", "precision", "recall", "f1", "support"]
    assert [row[0] for row in report["preview"]["data"]] == ["benign", "malignant"]
    plot = details(site, "training_loss_plot")
    assert plot["preview_type"] == "ImagePreview"
    assert base64.b64decode(plot["preview"]).startswith(b"\x89PNG\r\n\x1a\n")
    # metrics and the logged model live in the tracking store: viz does not read it
    for name in ("classifier", "training_loss", "metrics"):
        assert (details(site, name)["preview"], details(site, name)["preview_type"]) == (None, None)


def test_the_build_neither_imports_mlflow_nor_contacts_the_tracking_server(site):
    assert "kedro_mlflow_runtime.datasets" in site.imported  # the Mlflow* datasets were built
    assert "mlflow" not in site.imported
    assert not site.server_contacted


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="chromium is not installed (apt-get install chromium)"
)
def test_the_built_site_in_a_browser_shows_the_pipeline_and_an_mlflow_dataset(site, tmp_path):
    # served over HTTP as a static host would (the page's ES modules and fetches refuse file://)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=site.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/main", server, timeout=30)
        # the URL kedro-viz shares for a selected node: it opens that node's metadata panel
        report = site.nodes["classification_report"]["id"]
        url = f"http://127.0.0.1:{port}/?pid=__default__&sid={report}&sn=classification_report"
        dom = headless_chromium(url, SCREENSHOT, tmp_path / "chromium-profile")
    finally:
        stop(server)
    print(f"kedro-viz screenshot: {SCREENSHOT}")
    texts = element_texts(dom)
    assert set(texts["pipeline-node__text"]) == shown_nodes(site)  # the flowchart's nodes
    assert texts["pipeline-metadata__title"] == ["classification_report"]
    assert texts["pipeline-metadata__value--kind-type"] == [MLFLOW_TYPES["classification_report"]]
    assert texts["preview-table__header"] == ["class", "precision", "recall", "f1", "support"]
    assert {"benign", "malignant"} <= set(texts["preview-table__data"])
    png = SCREENSHOT.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert struct.unpack(">II", png[16:24]) == WINDOW  # IHDR: width, height


def headless_chromium(url: str, screenshot: Path, profile: Path) -> str:
    """Render `url` (scripts run, network requests answered) and return its DOM; save a
    screenshot. Debian's chromium, as root: no sandbox, and nothing of Google's services."""
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    screenshot.unlink(missing_ok=True)
    browser = subprocess.Popen(
        [
            "chromium",
            *("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"),
            *("--disable-background-networking", "--disable-component-update", "--disable-sync"),
            f"--user-data-dir={profile}",
            # only the test's server: the page's web fonts are not fetched from the internet
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--window-size={WINDOW[0]},{WINDOW[1]}",
            "--virtual-time-budget=10000",  # ms of page time to load the data and draw
            f"--screenshot={screenshot}",
            "--dump-dom",
            url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        dom, errors = browser.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(browser.pid, signal.SIGKILL)  # its renderer processes too
        browser.communicate()
        raise
    assert browser.returncode == 0, errors[-5000:]
    return dom


class _ElementTexts(HTMLParser):
    """The text right inside each element, listed under each of the element's classes."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: defaultdict[str, list[str]] = defaultdict(list)
        self._classes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._classes = (dict(attrs).get("class") or "").split()

    def handle_endtag(self, tag: str) -> None:
        self._classes = []

    def handle_data(self, data: str) -> None:
        for name in self._classes:
            self.texts[name].append(data.strip())
        self._classes = []


def element_texts(dom: str) -> defaultdict[str, list[str]]:
    parser = _ElementTexts()
    parser.feed(dom)
    parser.close()
    return parser.texts
