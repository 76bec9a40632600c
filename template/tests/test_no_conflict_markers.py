"""`copier update` leaves a conflict as markers in the file (and exits 0): this fails until
every one is resolved. Owned by the template."""

from pathlib import Path

PROJECT_PATH = Path(__file__).resolve().parents[1]
MARKERS = ("<<<<<<< ", ">>>>>>> ")
SKIPPED = {".git", ".venv", "venv", "data", "mlruns", "mlartifacts", "build", "dist"}


def text_files():
    for path in PROJECT_PATH.rglob("*"):
        parts = set(path.relative_to(PROJECT_PATH).parts)
        if path.is_file() and not parts & SKIPPED and "__pycache__" not in parts:
            try:
                yield path, path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue


def test_no_conflict_markers_left_by_copier_update():
    leftovers = [
        f"{path.relative_to(PROJECT_PATH)}:{number}"
        for path, text in text_files()
        for number, line in enumerate(text.splitlines(), start=1)
        if line.startswith(MARKERS)
    ]
    assert not leftovers, (
        "Unresolved `copier update` conflicts: between `<<<<<<< before updating` and `=======`"
        " is your version, between `=======` and `>>>>>>> after updating` the template's."
        " Merge them by hand (usually you want lines from both: your values and the template's"
        " new lines), delete the three marker lines, then commit: "
        + ", ".join(leftovers)
    )
    assert not list(PROJECT_PATH.glob("**/*.rej")), (
        "rejected hunks (*.rej) left to merge"
    )
