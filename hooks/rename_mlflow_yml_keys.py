"""Copier migration: rename keys in the project's conf/**/mlflow*.yml files.

    python hooks/rename_mlflow_yml_keys.py tracking.params.old_name=tracking.params.new_name ...

Run by `copier update` from copier.yml `_migrations` (version-gated: only when an update
crosses the release that renamed the key), in the project's root. It edits the files as text, so
comments, values and layout stay; files the template does not render (conf/local/, other
environments) are the ones that need it. Stdlib only; idempotent: a file that already has the
new key, or not the old one, is left as it is.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

_KEY = re.compile(r"^(?P<indent>[ ]*)(?P<key>[A-Za-z_][\w-]*)[ ]*:(?P<rest>.*)$")


def key_paths(text: str) -> list[tuple[int, list[str]]]:
    """(line number, key path) of every mapping key, from indentation (block-style YAML)."""
    found, stack = [], []
    for number, line in enumerate(text.splitlines()):
        match = _KEY.match(line)
        if not match or line.lstrip().startswith("#"):
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match["key"]))
        found.append((number, [key for _, key in stack]))
    return found


def rename(text: str, old: str, new: str) -> str:
    old_path, new_path = old.split("."), new.split(".")
    if old_path[:-1] != new_path[:-1]:
        raise SystemExit(f"{old} -> {new}: only the last part of a key path can be renamed")
    paths = key_paths(text)
    if any(path == new_path for _, path in paths):
        return text  # already migrated
    lines = text.splitlines(keepends=True)
    for number, path in paths:
        if path == old_path:
            body = lines[number].rstrip("\r\n")
            match = _KEY.match(body)
            lines[number] = (
                f"{match['indent']}{new_path[-1]}:{match['rest']}{lines[number][len(body) :]}"
            )
    return "".join(lines)


def main(renames: list[str], root: Path = Path()) -> list[Path]:
    pairs = [tuple(item.split("=", 1)) for item in renames]
    changed = []
    for path in sorted(root.glob("conf/**/mlflow*.y*ml")):
        text = path.read_text(encoding="utf-8")
        new = text
        for old, new_key in pairs:
            new = rename(new, old, new_key)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
            print(f"{path}: renamed {', '.join(f'{o} -> {n}' for o, n in pairs)}")  # noqa: T201
    return changed


if __name__ == "__main__":
    main(sys.argv[1:])
