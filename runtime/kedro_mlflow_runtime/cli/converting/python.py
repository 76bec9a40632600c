"""The project's Python code: imports from kedro_mlflow, `log_model_kwargs`, settings.py's HOOKS.

Edits are made on the text at positions `ast` gives, so comments and layout survive."""

from __future__ import annotations

import ast
import re

from . import CHECK, Note, renamed

HOOK_IMPORT = "from kedro_mlflow_runtime import MlflowHook"
_OLD_MODULE = re.compile(r"\bkedro_mlflow(?:\.[\w.]+)?(?=\s+import\b)")
_MODEL_FACTORIES = {"pipeline_ml_factory", "PipelineML"}


def imports(text: str, public: set[str]) -> tuple[str, list[Note]]:
    """`from kedro_mlflow.<module> import A` -> `from kedro_mlflow_runtime import A'`, and A's old
    name renamed where the module uses it. Names the runtime does not have are reported."""
    tree = _parse(text)
    if tree is None:
        return text, []
    lines = text.splitlines(keepends=True)
    notes: list[Note] = []
    for node in reversed(_old_imports(tree)):
        first, last = node.lineno - 1, node.end_lineno or node.lineno
        statement = "".join(lines[first:last])
        new = _OLD_MODULE.sub("kedro_mlflow_runtime", statement, count=1)
        for alias in node.names:
            new = re.sub(rf"\b{alias.name}\b", renamed(alias.name), new)
        lines[first:last] = [new]
        notes.append(
            Note(f"line {node.lineno}", f"`from {node.module} import` -> kedro_mlflow_runtime")
        )
        notes += [
            Note(
                f"line {node.lineno}", f"{a.name} is not in kedro_mlflow_runtime: replace it", CHECK
            )
            for a in node.names
            if a.name != "*" and renamed(a.name) not in public
        ]
    text = "".join(lines)
    text = re.sub(
        r"^(\s*)import\s+kedro_mlflow\b(?!_)", r"\1import kedro_mlflow_runtime", text, flags=re.M
    )
    return _rename_uses(text, tree, notes), notes


def _old_imports(tree: ast.Module) -> list[ast.ImportFrom]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module
        and (node.module == "kedro_mlflow" or node.module.startswith("kedro_mlflow."))
    ]


def _rename_uses(text: str, tree: ast.Module, notes: list[Note]) -> str:
    """A class imported under its old name (MlflowModelLoggerDataSet) is used under it too."""
    for node in _old_imports(tree):
        for alias in node.names:
            if alias.asname is None and renamed(alias.name) != alias.name:
                text = re.sub(rf"\b{alias.name}\b", renamed(alias.name), text)
                notes.append(Note(alias.name, f"renamed {renamed(alias.name)} where used"))
    return text


def log_model_kwargs(text: str) -> tuple[str, list[Note]]:
    """`artifact_path` -> `name` in pipeline_ml_factory's / PipelineML's log_model_kwargs (MLflow 3
    renamed the argument, kedro-mlflow 2.0 followed)."""
    tree = _parse(text)
    if tree is None:
        return text, []
    edits: list[tuple[int, int, str, str]] = []  # line, byte column, old, new
    notes: list[Note] = []
    for call in ast.walk(tree):
        if not (isinstance(call, ast.Call) and _called_name(call.func) in _MODEL_FACTORIES):
            continue
        for keyword in call.keywords:
            if keyword.arg == "log_model_kwargs":
                edit = _artifact_path_key(keyword.value)
                entry = f"{_called_name(call.func)}(...) line {call.lineno}: log_model_kwargs"
                if edit == "both":
                    notes.append(
                        Note(entry, "has both artifact_path and name: keep name only", CHECK)
                    )
                elif edit:
                    edits.append(edit)
                    notes.append(Note(entry, "artifact_path -> name"))
    return _apply(text, edits), notes


def _called_name(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)


def _artifact_path_key(value: ast.expr) -> tuple[int, int, str, str] | str | None:
    """Where `artifact_path` is written in a `dict(...)` call or a `{...}` literal."""
    if isinstance(value, ast.Call) and _called_name(value.func) == "dict":
        names = {k.arg: k for k in value.keywords}
        if "artifact_path" in names:
            if "name" in names:
                return "both"
            key = names["artifact_path"]
            return (key.lineno, key.col_offset, "artifact_path", "name")
    if isinstance(value, ast.Dict):
        keys = {k.value: k for k in value.keys if isinstance(k, ast.Constant)}
        if "artifact_path" in keys:
            if "name" in keys:
                return "both"
            key = keys["artifact_path"]
            return (key.lineno, key.col_offset + 1, "artifact_path", "name")  # inside the quote
    return None


def _apply(text: str, edits: list[tuple[int, int, str, str]]) -> str:
    lines = text.splitlines(keepends=True)
    for lineno, column, old, new in sorted(edits, reverse=True):
        line = lines[lineno - 1].encode()  # ast columns count UTF-8 bytes
        assert line[column : column + len(old)] == old.encode()
        lines[lineno - 1] = (line[:column] + new.encode() + line[column + len(old) :]).decode()
    return "".join(lines)


def register_hook(text: str) -> tuple[str, list[Note]]:
    """settings.py: `MlflowHook()` appended to HOOKS (created if missing), its import above the
    first statement that uses it. Last in HOOKS, like kedro-mlflow's hook, which Kedro registered
    after the project's: hooks run last-in-first-out, so it still opens the run before the project's
    own hooks run and ends it after them."""
    tree = _parse(text)
    if tree is None:
        return text, [Note("settings.py", "not valid Python: register MlflowHook() by hand", CHECK)]
    if any(
        isinstance(n, ast.Call) and _called_name(n.func) == "MlflowHook" for n in ast.walk(tree)
    ):
        return text, []
    hooks = _hooks_assignment(tree)
    notes = [Note("HOOKS", "MlflowHook() added" if hooks else "HOOKS = (MlflowHook(),) added")]
    if hooks is None:
        # HOOKS set in an `if` or `try` block: extended after it; else created
        value = "(*HOOKS, MlflowHook())" if _assigns_hooks(tree) else "(MlflowHook(),)"
        text = text.rstrip("\n") + (
            f"\n\n# Tracks every `kedro run` in MLflow (conf/*/mlflow.yml).\nHOOKS = {value}\n"
        )
    else:
        text = _append_hook(text, hooks)
    if not _imports_hook(tree):
        lines = text.splitlines(keepends=True)
        lines.insert(_import_line(tree, hooks), HOOK_IMPORT + "\n")
        text = "".join(lines)
    return text, notes


def _hooks_assignment(tree: ast.Module) -> ast.Assign | ast.AnnAssign | None:
    for statement in tree.body:
        targets = getattr(statement, "targets", None) or [getattr(statement, "target", None)]
        if isinstance(statement, (ast.Assign, ast.AnnAssign)) and statement.value is not None:
            if any(isinstance(t, ast.Name) and t.id == "HOOKS" for t in targets):
                return statement
    return None


def _assigns_hooks(tree: ast.Module) -> bool:
    return any(
        isinstance(n, ast.Name) and n.id == "HOOKS" and isinstance(n.ctx, ast.Store)
        for n in ast.walk(tree)
    )


def _imports_hook(tree: ast.Module) -> bool:
    return any(
        isinstance(n, ast.ImportFrom)
        and any(a.name == "MlflowHook" and not a.asname for a in n.names)
        for n in tree.body
    )


def _append_hook(text: str, hooks: ast.Assign | ast.AnnAssign) -> str:
    value = hooks.value
    if not isinstance(value, (ast.Tuple, ast.List)):  # a name, a sum, a comprehension...
        end = hooks.end_lineno or hooks.lineno
        lines = text.splitlines(keepends=True)
        lines.insert(end, "HOOKS = (*HOOKS, MlflowHook())\n")
        return "".join(lines)
    lines = text.splitlines(keepends=True)
    close_line, close_col = (value.end_lineno or 1) - 1, (value.end_col_offset or 1) - 1
    if not value.elts:
        item = "MlflowHook()," if isinstance(value, ast.Tuple) else "MlflowHook()"
        return _insert(lines, close_line, close_col, item)
    last = value.elts[-1]
    between = _between(
        lines, (last.end_lineno or 1) - 1, last.end_col_offset or 0, close_line, close_col
    )
    has_comma = "," in "".join(part.split("#")[0] for part in between.splitlines() or [""])
    own_line = not lines[close_line].encode()[:close_col].strip()
    if own_line and value.lineno != value.end_lineno:  # one hook per line: one more line
        indent = re.match(r"\s*", lines[(last.lineno or 1) - 1]).group(0)
        if not has_comma:
            lines = _insert(
                lines, (last.end_lineno or 1) - 1, last.end_col_offset or 0, ","
            ).splitlines(True)
        lines.insert(close_line, f"{indent}MlflowHook(),\n")
        return "".join(lines)
    return _insert(lines, close_line, close_col, " MlflowHook()" if has_comma else ", MlflowHook()")


def _between(lines: list[str], line: int, col: int, end_line: int, end_col: int) -> str:
    if line == end_line:
        return lines[line].encode()[col:end_col].decode()
    middle = "".join(lines[line + 1 : end_line])
    return (
        lines[line].encode()[col:].decode() + middle + lines[end_line].encode()[:end_col].decode()
    )


def _insert(lines: list[str], line: int, column: int, new: str) -> str:
    encoded = lines[line].encode()
    lines = list(lines)
    lines[line] = (encoded[:column] + new.encode() + encoded[column:]).decode()
    return "".join(lines)


def _import_line(tree: ast.Module, hooks: ast.stmt | None) -> int:
    """Where the hook's import goes: before the module's first import (after its docstring and
    `from __future__`), and in any case above the HOOKS statement that uses it."""
    body = tree.body
    after = 0
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        after = body[0].end_lineno or 0
    for statement in body:
        if isinstance(statement, ast.ImportFrom) and statement.module == "__future__":
            after = statement.end_lineno or after
        elif isinstance(statement, (ast.Import, ast.ImportFrom)):
            first_import = statement.lineno - 1
            return min(first_import, hooks.lineno - 1) if hooks else first_import
    return hooks.lineno - 1 if hooks else after


def _parse(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except SyntaxError:
        return None
