"""conf/: catalog entries (types, renamed arguments) and mlflow.yml's tracking URI.

Edited line by line, never loaded and dumped, so that comments, anchors and quoting survive. Block
YAML is what Kedro's docs and kedro-mlflow's write; a flow mapping (`{type: ..., data_set: ...}`)
on one line is handled too."""

from __future__ import annotations

import re

from . import CHECK, KEPT, Note, renamed

_TYPE = re.compile(r"\bkedro_mlflow\.io\.\w+(?:\.\w+)*\.(\w+)\b")
_KEY = re.compile(r"^(\s*)([\w-]+)\s*:(?:[ \t]+(.*?))?(\s+#.*)?$")
_ENTRY = re.compile(r"""^(["']?)([^\s#"'][^#]*?)\1\s*:""")
_MODEL_TRACKING = "MlflowModelTrackingDataset"
_ARTIFACT = "MlflowArtifactDataset"


def catalog(text: str) -> tuple[str, list[Note]]:
    lines = text.splitlines(keepends=True)
    notes: list[Note] = []
    for at in reversed(range(len(lines))):  # bottom-up: edits never move the lines still to see
        found = _TYPE.search(lines[at])
        if found is None:
            continue
        old, new = found.group(0), f"kedro_mlflow_runtime.{renamed(found.group(1))}"
        lines[at] = _TYPE.sub(lambda m: f"kedro_mlflow_runtime.{renamed(m.group(1))}", lines[at])
        entry = _entry_of(lines, at)
        arguments = _arguments(lines, at, renamed(found.group(1)), entry)
        notes = [Note(entry, f"type: {old} -> {new}"), *arguments, *notes]
    return "".join(lines), notes + _kedro_datasets_spellings(lines)


def _kedro_datasets_spellings(lines: list[str]) -> list[Note]:
    """Kedro's own `DataSet` spellings are Kedro's migration (kedro-datasets >= 2): said, not made."""
    return [
        Note(
            _entry_of(lines, at),
            f"type: {found.group(1)}: kedro-datasets >= 2 spells it "
            f"{found.group(1).replace('DataSet', 'Dataset')}",
            CHECK,
        )  # fmt: skip
        for at, line in enumerate(lines)
        for found in re.finditer(r"\btype:\s*[\"']?((?:\w+\.)+\w*DataSet)\b", line)
    ]


def _entry_of(lines: list[str], at: int) -> str:
    for line in reversed(lines[: at + 1]):
        if (found := _ENTRY.match(line)) and not line[0].isspace():
            return found.group(2).strip()
    return "?"


def _arguments(lines: list[str], at: int, cls: str, entry: str) -> list[Note]:
    """The arguments kedro-mlflow renamed, next to the `type:` line of a dataset of class `cls`."""
    if "{" in lines[at]:  # a flow mapping: its arguments are on this line
        if cls == _ARTIFACT and re.search(r"\bdata_set\s*:", lines[at]):
            lines[at] = re.sub(r"\bdata_set(\s*:)", r"dataset\1", lines[at])
            return [Note(entry, "data_set: -> dataset:")]
        if cls == _MODEL_TRACKING and "artifact_path" in lines[at]:
            return [Note(entry, "artifact_path: move it to save_args: {name: ...}", CHECK)]
        return []
    keys = _siblings(lines, at)
    if cls == _ARTIFACT and "data_set" in keys:
        lines[keys["data_set"]] = lines[keys["data_set"]].replace("data_set", "dataset", 1)
        return [Note(entry, "data_set: -> dataset:")]
    if cls == _MODEL_TRACKING:
        return _artifact_path_to_name(lines, keys, entry)
    return []


def _indent(line: str) -> int | None:
    """Indentation of a line holding YAML, None for blank and comment lines."""
    stripped = line.lstrip(" ")
    return None if not stripped.strip() or stripped.startswith("#") else len(line) - len(stripped)


def _siblings(lines: list[str], at: int) -> dict[str, int]:
    """The keys of the mapping that holds line `at`, and their lines."""
    indent, keys = _indent(lines[at]), {}
    for step in (-1, 1):
        index = at
        while 0 <= index < len(lines):
            current = _indent(lines[index])
            if current is not None and current < (indent or 0):
                break
            if current == indent and (key := _KEY.match(lines[index])):
                keys.setdefault(key.group(2), index)
            index += step
    return keys


def _children(lines: list[str], at: int) -> dict[str, int]:
    following = next((i for i in range(at + 1, len(lines)) if _indent(lines[i]) is not None), None)
    if following is None or (_indent(lines[following]) or 0) <= (_indent(lines[at]) or 0):
        return {}
    return _siblings(lines, following)


def _artifact_path_to_name(lines: list[str], keys: dict[str, int], entry: str) -> list[Note]:
    """kedro-mlflow < 2 took the model's `artifact_path:` as an argument of the dataset; MLflow 3
    calls it `name`, given in save_args (kedro-mlflow 2.x: `save_args: {name: ...}`)."""
    if "save_args" in keys:
        args_line = keys["save_args"]
        inner = _children(lines, args_line)
        if "artifact_path" in inner and "name" not in inner:
            lines[inner["artifact_path"]] = lines[inner["artifact_path"]].replace(
                "artifact_path", "name", 1
            )
            return [Note(entry, "save_args: artifact_path: -> name:")]
    if "artifact_path" not in keys:
        return []
    at = keys["artifact_path"]
    indent, _, value, comment = _KEY.match(lines[at]).groups()  # type: ignore[union-attr]
    comment, newline = comment or "", "\n" if lines[at].endswith("\n") else ""
    what = f"artifact_path: {value} -> save_args: name: {value}"
    if "save_args" not in keys:
        lines[at] = f"{indent}save_args:\n{indent}  name: {value}{comment}{newline}"
        return [Note(entry, what)]
    args_line = keys["save_args"]
    args = _KEY.match(lines[args_line])
    inline = (args.group(3) or "") if args else ""
    if "name" in _children(lines, args_line) or re.search(r"\bname\s*:", inline):
        return [Note(entry, "both artifact_path and save_args.name: keep name only", CHECK)]
    if inline.startswith("{"):
        rest = inline[1:].lstrip()
        new_inline = "{name: " + value + ("}" if rest.startswith("}") else ", " + rest)
        lines[args_line] = lines[args_line].replace(inline, new_inline, 1)
    else:
        children = _children(lines, args_line)
        child_indent = _indent(lines[min(children.values())]) if children else len(indent) + 2
        lines.insert(args_line + 1, f"{' ' * (child_indent or 0)}name: {value}{comment}\n")
        at += at > args_line
    del lines[at]
    return [Note(entry, what)]


_URI = re.compile(r"^(\s*mlflow_tracking_uri:)[ \t]*(.*?)[ \t]*(#.*)?$", re.MULTILINE)
_NULL = {"", "null", "~", "Null", "NULL"}
_MLRUNS = re.compile(r"""^(["']?)(?:file:)?(?:\./)?mlruns/?\1$""")


def tracking_uri(text: str) -> tuple[str, list[Note]]:
    """Only kedro-mlflow's literal `mlruns` file store changes (MLflow >= 3.13 refuses file stores).
    `null` stays: here too it means $MLFLOW_TRACKING_URI, then the default, which is now
    sqlite:///mlflow.db at the project root instead of ./mlruns."""
    notes: list[Note] = []

    def one(match: re.Match[str]) -> str:
        key, value, comment = match.group(1), match.group(2), match.group(3)
        if value in _NULL:
            notes.append(Note(key.strip(" :"), _KEPT_NULL, KEPT))
        elif _MLRUNS.match(value):
            notes.append(
                Note(
                    key.strip(" :"),
                    f"{value} -> sqlite:///mlflow.db (MLflow >= 3.13 refuses file stores)",
                )
            )
            return f"{key} sqlite:///mlflow.db{'  ' + comment if comment else ''}"
        elif _is_file_store(value):
            notes.append(Note(key.strip(" :"), f"{value} is a file store, which MLflow >= 3.13 refuses: "
                              f"mlflow migrate-filestore --source {value} --target sqlite:///<db file>, "
                              "then point mlflow_tracking_uri at that", CHECK))  # fmt: skip
        return match.group(0)

    return _URI.sub(one, text), notes


_KEPT_NULL = (
    "null kept: it means $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db at the project root "
    "(kedro-mlflow's null meant ./mlruns)"
)


def _is_file_store(value: str) -> bool:
    value = value.strip("\"'")
    scheme = value.split("://", 1)[0] if "://" in value else ""
    return "${" not in value and (scheme in ("", "file") and not value.startswith("databricks"))
