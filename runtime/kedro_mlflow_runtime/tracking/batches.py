"""Writing to a run in as few requests as MLflow accepts: one `log_batch` call takes at most
100 params or tags, or 1000 metric points. The limits are MLflow's (mlflow.utils.validation),
written here as numbers so that importing this module does not import mlflow."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000


def log_in_batches(
    client: Any,
    run_id: str,
    *,
    params: Sequence[Any] = (),
    tags: Sequence[Any] = (),
    metrics: Sequence[Any] = (),
) -> None:
    """`client.log_batch` for each full-size slice: params, then tags, then metrics."""
    for kind, items, size in (
        ("params", params, MAX_PARAMS_TAGS_PER_BATCH),
        ("tags", tags, MAX_PARAMS_TAGS_PER_BATCH),
        ("metrics", metrics, MAX_METRICS_PER_BATCH),
    ):
        for start in range(0, len(items), size):
            client.log_batch(run_id, **{kind: list(items[start : start + size])})
