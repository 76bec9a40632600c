"""Metrics declared in catalog.yml: one value, one metric's history, or several metrics at once.

Each save is one `log_batch` request per 1000 points, never one request per point. Keys default to
the catalog entry name (also for dataset-factory entries: MlflowHook names them).
"""

from __future__ import annotations

import numbers
import os
import posixpath
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

from kedro.io import DatasetError

from ..tracking.batches import log_in_batches
from .tracked import TrackedDataset

# MLflow's rule for metric names (mlflow.utils.validation), here so that a bad key fails when the
# catalog is built, not as a "not logged" note after the node ran. Windows refuses colons too.
_METRIC_NAME = re.compile(r"^[/\w.\- ]*$" if os.name == "nt" else r"^[/\w.\- :]*$")
MAX_METRIC_NAME_LENGTH = 250


def metric_key_problem(key: Any) -> str | None:
    """Why MLflow would refuse `key` as a metric name, else None."""
    if not isinstance(key, str):
        return f"a metric key is a string, got {type(key).__name__}"
    if not _METRIC_NAME.match(key):
        colon = "" if os.name == "nt" else ", colons (:)"
        return (
            f"MLflow metric names may only contain letters, digits, underscores (_), dashes (-), "
            f"periods (.), spaces{colon} and slashes (/)"
        )
    normal = posixpath.normpath(key)
    if normal != key or normal == "." or normal.startswith(("..", "/")):
        return (
            "MLflow metric names are also file names: no leading '/', no '.' or '..' parts, no '//'"
        )
    if len(key) > MAX_METRIC_NAME_LENGTH:
        return (
            f"MLflow metric names are at most {MAX_METRIC_NAME_LENGTH} characters, got {len(key)}"
        )
    return None


def _checked_key(key: Any, what: str) -> Any:
    problem = metric_key_problem(key)
    if problem:
        raise DatasetError(f"{what}: {key!r}: {problem}")
    return key


def _checked_step(step: Any, what: str) -> Any:
    if step is not None:
        _step(step, what)
    return step


def _checked_timestamp(timestamp: Any, what: str) -> Any:
    if timestamp is not None and (
        isinstance(timestamp, bool) or not isinstance(timestamp, numbers.Integral) or timestamp < 0
    ):
        raise DatasetError(
            f"{what}: a timestamp is a non-negative integer (milliseconds since 1970), "
            f"got {timestamp!r}"
        )
    return timestamp


def _checked_prefix(prefix: Any, what: str) -> Any:
    """A prefix is good when `<prefix>.<name>` is a good key for a good name."""
    if not isinstance(prefix, str) or metric_key_problem(f"{prefix}.x"):
        _checked_key(prefix, what)  # says why, for the prefix itself
        raise DatasetError(f"{what}: {prefix!r}: '{prefix}.<name>' is not an MLflow metric name")
    return prefix


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise DatasetError(f"{what}: a metric value must be a number, got {value!r}")
    return float(value)


def _step(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise DatasetError(f"{what}: a metric step must be an integer, got {value!r}")
    return int(value)


def _choice(value: Any, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise DatasetError(f"{what} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


class _MetricDataset(TrackedDataset):
    _WITHOUT_RUN = "fail"  # as kedro-mlflow: a metric saved nowhere is an error

    def _log_points(self, points: Iterable[tuple[str, float, int, int | None]]) -> None:
        """Log (key, value, step, timestamp_ms) points in batches of 1000."""
        run_id = self._run_for_saving()
        if run_id is None:
            return
        from mlflow.entities import Metric  # noqa: PLC0415

        now = int(time.time() * 1000)
        metrics = [
            Metric(key, value, timestamp or now, step) for key, value, step, timestamp in points
        ]
        client = self._client()

        def log() -> None:
            log_in_batches(client, run_id, metrics=metrics)

        values = ", ".join(f"{m.key}={m.value}@{m.step}" for m in metrics[:5])
        more = f" and {len(metrics) - 5} more" if len(metrics) > 5 else ""
        self._log_or_note(
            f"metric point(s) {values}{more}",
            "kedro mlflow retry (every value is kept in the file it reads)",
            log,
            replay={
                "metrics": [[m.key, m.value, m.timestamp, m.step] for m in metrics],
                "run_id": run_id,
            },
        )

    def _history(self, key: str) -> list[Any]:
        return list(self._client().get_metric_history(self._run_for_loading(), key))

    def _metric_keys(self) -> set[str]:
        run_id = self.run_id
        if run_id is None:
            return set()
        return set(self._client().get_run(run_id).data.metrics)


class _KeyedMetricDataset(_MetricDataset):
    """One metric, logged under `key` (default: the catalog entry name)."""

    _NAMED_BY = "key"

    def __init__(
        self,
        key: str | None = None,
        run_id: str | None = None,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        super().__init__(run_id=run_id, metadata=metadata)
        self.key = key if key is None else _checked_key(key, "key")
        self._load_args = dict(load_args or {})
        self._save_args = dict(save_args or {})

    def _name_after_catalog_entry(self, name: str) -> None:
        if self.key is None:
            _checked_key(name, f"key (the catalog entry name; set `key:` in entry '{name}')")
        super()._name_after_catalog_entry(name)

    def _exists(self) -> bool:
        return self.key in self._metric_keys()


class MlflowMetricDataset(_KeyedMetricDataset):
    """One numeric value, logged under `key` (default: the catalog entry name).

    save_args: `mode` `overwrite` (default: a new value at the last step) or `append` (at the next
    step), `step` (an explicit step), `timestamp` (ms). load_args: `step` (default: the last value).
    """

    SAVE_MODES = ("overwrite", "append")

    def __init__(
        self,
        key: str | None = None,
        run_id: str | None = None,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        super().__init__(key, run_id, load_args, save_args, metadata)
        self.mode = _choice(
            self._save_args.pop("mode", "overwrite"), self.SAVE_MODES, "save_args.mode"
        )
        unknown = set(self._save_args) - {"step", "timestamp"}
        if unknown:
            raise DatasetError(
                f"save_args: unknown key(s) {sorted(unknown)}; allowed: mode, step, timestamp"
            )
        _checked_step(self._save_args.get("step"), "save_args.step")
        _checked_timestamp(self._save_args.get("timestamp"), "save_args.timestamp")
        _checked_step(self._load_args.get("step"), "load_args.step")

    def save(self, data: float) -> None:
        value = _number(data, str(self))
        step = self._save_args.get("step")
        if step is None and self.run_id is not None:
            try:
                steps = [point.step for point in self._history(self.key)]
            except Exception:  # noqa: BLE001 - the store is unreachable: _log_points notes it
                steps = []
            step = max(steps, default=0) if self.mode == "overwrite" else max(steps, default=-1) + 1
        self._log_points([(self.key, value, step or 0, self._save_args.get("timestamp"))])

    def load(self) -> float:
        history = self._history(self.key)
        step = self._load_args.get("step")
        if step is not None:
            history = [point for point in history if point.step == step]
        if not history:
            at = f" at step {step}" if step is not None else ""
            raise DatasetError(f"{self}: no value of metric '{self.key}'{at} in run {self.run_id}")
        return history[-1].value

    def _describe(self) -> dict[str, Any]:
        return {"key": self.key, "run_id": self._run_id, "mode": self.mode}


class MlflowMetricHistoryDataset(_KeyedMetricDataset):
    """The evolution of one metric, e.g. a loss per epoch, under `key` (default: the entry name).

    Formats (`save_args.mode` / `load_args.mode`): `list` ([v0, v1, ...] at steps 0, 1, ...;
    the default), `dict` ({step: value}), `history` ([{step, value, timestamp}, ...]).
    """

    MODES = ("list", "dict", "history")

    def __init__(
        self,
        key: str | None = None,
        run_id: str | None = None,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        super().__init__(key, run_id, load_args, save_args, metadata)
        self.save_mode = _choice(self._save_args.get("mode", "list"), self.MODES, "save_args.mode")
        self.load_mode = _choice(self._load_args.get("mode", "list"), self.MODES, "load_args.mode")

    def save(self, data: Any) -> None:
        where = str(self)
        if self.save_mode == "list":
            if not isinstance(data, (list, tuple)):
                raise DatasetError(
                    f"{where}: mode 'list' saves a list of numbers, got {type(data).__name__}"
                )
            points = [(self.key, _number(v, where), step, None) for step, v in enumerate(data)]
        elif self.save_mode == "dict":
            if not isinstance(data, Mapping):
                raise DatasetError(
                    f"{where}: mode 'dict' saves {{step: value}}, got {type(data).__name__}"
                )
            points = [(self.key, _number(v, where), _step(s, where), None) for s, v in data.items()]
        else:
            if not isinstance(data, (list, tuple)) or not all(isinstance(p, Mapping) for p in data):
                raise DatasetError(
                    f"{where}: mode 'history' saves [{{step, value, timestamp}}, ...]"
                )
            points = [
                (
                    self.key,
                    _number(p.get("value"), where),
                    _step(p.get("step", i), where),
                    p.get("timestamp"),
                )
                for i, p in enumerate(data)
            ]
        self._log_points(points)

    def load(self) -> Any:
        history = sorted(self._history(self.key), key=lambda point: (point.step, point.timestamp))
        if self.load_mode == "list":
            return [point.value for point in history]
        if self.load_mode == "dict":
            return {point.step: point.value for point in history}
        return [{"step": p.step, "value": p.value, "timestamp": p.timestamp} for p in history]

    def _describe(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "run_id": self._run_id,
            "save_mode": self.save_mode,
            "load_mode": self.load_mode,
        }


class MlflowMetricsHistoryDataset(_MetricDataset):
    """Several metrics at once, keys `<prefix>.<name>` (prefix default: the catalog entry name).

    Saves `{name: value}`, `{name: {"value": v, "step": s}}` or `{name: [{"value": v, "step": s}, ...]}`
    (or `{name: [v0, v1, ...]}`: a list's points without a step are at steps 0, 1, ...);
    loads `{"<prefix>.<name>": {"value", "step"} or [...]}` as kedro-mlflow does.
    """

    _NAMED_BY = "prefix"

    def __init__(
        self,
        run_id: str | None = None,
        prefix: str | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        super().__init__(run_id=run_id, metadata=metadata)
        self.prefix = prefix if prefix is None else _checked_prefix(prefix, "prefix")

    def _name_after_catalog_entry(self, name: str) -> None:
        if self.prefix is None:
            _checked_prefix(
                name, f"prefix (the catalog entry name; set `prefix:` in entry '{name}')"
            )
        super()._name_after_catalog_entry(name)

    def _key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else str(name)

    def save(self, data: Mapping[str, Any]) -> None:
        where = str(self)
        if not isinstance(data, Mapping):
            raise DatasetError(
                f"{where}: saves a dict of metrics {{name: value}}, got {type(data).__name__}"
            )
        points = []
        for name, item in data.items():
            what = f"{where}: metric '{name}'"
            _checked_key(self._key(name), f"{what}: its MLflow key")
            items = item if isinstance(item, (list, tuple)) else [item]
            # A list's points without a step are at steps 0, 1, ... (as MlflowMetricHistoryDataset's
            # lists): two values at one step and millisecond would make MLflow refuse to log a
            # model in this run (its logged-model metrics are unique by key, step and time).
            for position, point in enumerate(items):
                if isinstance(point, Mapping):
                    if "value" not in point:
                        raise DatasetError(
                            f"{what}: expected {{'value': ..., 'step': ...}}, got {point!r}"
                        )
                    value, step = point["value"], point.get("step", position)
                else:
                    value, step = point, position
                points.append((self._key(name), _number(value, what), _step(step, what), None))
        self._log_points(points)

    def load(self) -> dict[str, Any]:
        run_id = self._run_for_loading()
        start = f"{self.prefix}." if self.prefix else ""
        keys = sorted(
            key for key in self._client().get_run(run_id).data.metrics if key.startswith(start)
        )
        loaded: dict[str, Any] = {}
        for key in keys:
            points = [{"step": p.step, "value": p.value} for p in self._history(key)]
            loaded[key] = points[0] if len(points) == 1 else points
        return loaded

    def _exists(self) -> bool:
        start = f"{self.prefix}." if self.prefix else ""
        return any(key.startswith(start) for key in self._metric_keys())

    def _describe(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "run_id": self._run_id}
