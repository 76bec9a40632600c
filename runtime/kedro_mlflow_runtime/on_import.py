"""Calling a function right after a module is first imported in this process.

background.py uses it for mlflow: node code that imports mlflow mid-run must find the Kedro run
active, as it would had the run been started in process.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any


def after_import(
    name: str,
    callback: Callable[[], None],
    around: Callable[[], AbstractContextManager[object]] = nullcontext,
) -> AfterImport:
    """Call `callback` once `name` has been imported (now, if it already is); the import and the
    callback run inside `around()`."""
    hook = AfterImport(name, callback, around)
    if name in sys.modules:
        callback()
    else:
        sys.meta_path.insert(0, hook)
    return hook


class AfterImport(importlib.abc.MetaPathFinder):
    def __init__(
        self,
        name: str,
        callback: Callable[[], None],
        around: Callable[[], AbstractContextManager[object]] = nullcontext,
    ) -> None:
        self._name, self._callback, self._around = name, callback, around

    def remove(self) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != self._name:
            return None
        self.remove()  # once; the other finders find the module
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _ThenCall(spec.loader, self._callback, self._around)
        return spec


class _ThenCall(importlib.abc.Loader):
    def __init__(self, loader: Any, callback: Callable[[], None], around: Any) -> None:
        self._loader, self._callback, self._around = loader, callback, around

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        # the module keeps its real loader: packages read their resources through it
        module.__loader__ = module.__spec__.loader = self._loader
        with self._around():
            self._loader.exec_module(module)
            self._callback()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)
