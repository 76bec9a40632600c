"""after_import: a callback right after a module's first import, the module left as it was."""

from __future__ import annotations

import importlib
import importlib.resources
import sys

from kedro_mlflow_runtime.on_import import after_import


def test_the_callback_runs_once_the_module_is_imported(tmp_path, monkeypatch):
    (tmp_path / "freshly_imported").mkdir()
    (tmp_path / "freshly_imported" / "__init__.py").write_text("VALUE = 42\n")
    (tmp_path / "freshly_imported" / "data.txt").write_text("resource")
    monkeypatch.syspath_prepend(str(tmp_path))
    seen = []

    hook = after_import(
        "freshly_imported", lambda: seen.append(sys.modules["freshly_imported"].VALUE)
    )
    assert seen == []
    module = importlib.import_module("freshly_imported")
    assert seen == [42]  # after the module's code ran
    assert hook not in sys.meta_path  # once
    assert type(module.__loader__).__name__ == "SourceFileLoader"  # its own loader, kept
    assert (
        importlib.resources.files("freshly_imported").joinpath("data.txt").read_text() == "resource"
    )
    importlib.reload(module)
    assert seen == [42]
    del sys.modules["freshly_imported"]


def test_an_imported_module_calls_back_at_once_and_removal_is_safe():
    seen = []
    hook = after_import("json", lambda: seen.append("json"))
    assert seen == ["json"]
    hook.remove()  # never registered: nothing to remove
    assert hook not in sys.meta_path
