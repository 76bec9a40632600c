"""Model names MLflow 3 accepts. A LoggedModel's name may not contain / : . % " ' — yet catalog
entries in a namespace (`price_predictor.base.regressor`) and kedro-mlflow's `artifact_path`
(`"{ns}/{v}/regressor"`) do. No mlflow import."""

from __future__ import annotations

import functools
import logging
import re

logger = logging.getLogger(__name__)

_NOT_ALLOWED = re.compile(r"[/:.%\"']+")


def logged_model_name(name: str | None) -> str:
    """`name` with each run of characters MLflow 3 refuses replaced by `_` (and said so once)."""
    if not name:
        return "model"
    valid = _NOT_ALLOWED.sub("_", name).strip("_") or "model"
    if valid != name:
        _say_renamed(name, valid)
    return valid


@functools.cache
def _say_renamed(name: str, valid: str) -> None:
    logger.warning(
        "Model name '%s' has characters MLflow 3 refuses in a model name (/ : . %% \" '): "
        "logged as '%s'. Set `name` (save_args, or log_model_kwargs) to choose another.",
        name,
        valid,
    )
