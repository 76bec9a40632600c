"""No secret reaches the store: secrets planted through `--params`, parameters.yml (nested dicts,
lists, URLs), credentials.yml and the environment are searched for in a dump of the whole
tracking database and in every artifact file of a real `kedro run`."""

from __future__ import annotations

import sqlite3

import pytest

from tests.conftest import kedro, recorded_runs

pytestmark = pytest.mark.e2e

SECRETS = {f"S3CR3T{i}" for i in range(1, 9)}
PARAMETERS = """
offset: 1
password: S3CR3T1
apiKey: S3CR3T2
db:
  url: postgresql://app:S3CR3T3@db.example.com/app
  users: [{name: ann, token: S3CR3T4}]
"""


def test_planted_secrets_are_nowhere_in_the_store(project):
    project.write("conf/base/parameters.yml", PARAMETERS)
    project.write(
        "conf/local/credentials.yml", "mlflow_login:\n  MLFLOW_TRACKING_PASSWORD: S3CR3T7\n"
    )
    project.mlflow_yml("server:\n  credentials: mlflow_login\n")
    result = kedro(
        project.path, "run", "--pipelines", "everything",
        "--params", "private_key=S3CR3T5,dsn=mysql://root:S3CR3T6@db/x",
        SERVICE_PASSWORD="S3CR3T8",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    [run] = recorded_runs(project.db)
    assert run.info.status == "FINISHED"
    assert "private_key=***" in run.data.tags["kedro_command"]
    assert "dsn=mysql://root:***@db/x" in run.data.tags["mlflow.source.name"]
    assert "'password': '***'" in run.data.params["parameters"]

    with sqlite3.connect(project.db) as db:
        dump = "\n".join(db.iterdump())
    artifacts = [path for path in (project.path / "mlruns").rglob("*") if path.is_file()]
    stored = [dump, *(path.read_bytes().decode("utf-8", "replace") for path in artifacts)]
    assert len(dump) > 10_000  # the run's whole database, read back
    found = {secret for secret in SECRETS for text in stored if secret in text}
    assert found == set(), f"secrets in the store: {sorted(found)}"
