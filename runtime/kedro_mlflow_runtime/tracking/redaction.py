"""Secrets never reach the tracking store: parameter values whose name looks secret, at any depth
(dicts and lists), and passwords inside URLs (`postgresql://user:pw@host/db`) are replaced by ***
wherever the runtime writes what the user passed: params, the `kedro_command` and
`mlflow.source.name` tags, the run name. Nodes still get the real values.

Names are compared after normalising their spelling (`apiKey`, `api-key`, `API_KEY` -> `api_key`)
against `tracking.params.redact` (fnmatch patterns, case-insensitive).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "***"
# tracking.params.redact's default; names are compared normalised (apiKey, api-key -> api_key)
DEFAULT_REDACTED = [
    "*password*", "*passwd*", "*pwd*", "pass", "*_pass", "pass_*", "*secret*", "*token*",
    "*api_key*", "*apikey*", "*private_key*", "*access_key*", "*credential*", "auth", "*_auth",
    "auth_*",
]  # fmt: skip
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[\s\-]+")
# scheme://user:password@host -> scheme://user:***@host
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@]*:)([^@\s/]+)(@)")


def normalised(name: str) -> str:
    return _SEPARATORS.sub("_", _CAMEL.sub("_", name)).lower()


def is_secret(name: str, patterns: Iterable[str]) -> bool:
    """Whether a parameter or key name (its last dotted part, or its whole path) matches."""
    leaf, path = normalised(name.rsplit(".", 1)[-1]), normalised(name)
    return any(
        fnmatch.fnmatchcase(leaf, pattern) or fnmatch.fnmatchcase(path, pattern)
        for pattern in (normalised(p) for p in patterns)
    )


def mask_url_passwords(text: str) -> str:
    return _URL_PASSWORD.sub(rf"\g<1>{REDACTED}\g<3>", text)


def redacted(name: str, value: Any, patterns: Iterable[str]) -> Any:
    """The value with every secret-looking name's value, and every URL password, replaced."""
    patterns = list(patterns)

    def walk(path: str, item: Any) -> Any:
        if is_secret(path, patterns):
            return REDACTED
        if isinstance(item, Mapping):
            return {key: walk(f"{path}.{key}", sub) for key, sub in item.items()}
        if isinstance(item, list | tuple):
            return type(item)(walk(path, sub) for sub in item)
        if isinstance(item, str):
            return mask_url_passwords(item)
        return item

    return walk(name, value)
