"""Copier migration: stop an update that would delete (or rename) files the user edited.

    python hooks/refuse_to_drop_edited_files.py PATH [PATH ...]

`copier update` deletes every file that the project's template version rendered and the new one
does not, edited or not. A release that deletes or renames template files lists them here, in a
version-gated `before` migration of copier.yml:

    - version: vX.Y.Z
      when: "{{ _stage == 'before' }}"
      command: ["{{ _copier_python }}", "{{ _copier_conf.src_path }}/hooks/refuse_to_drop_edited_files.py",
                "tests/test_project.py"]

It runs in the project's root before copier writes anything there, renders the project's
current template version again with its recorded answers (with the copier that runs it, in a
temporary folder), and compares: a listed file that the user changed (or that the template never
rendered) stops the update, naming the files and what to do, and leaves the project untouched.
Files the user left as rendered, or already removed, pass. Idempotent; no change to any file.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


def edited_files(paths: list[str], root: Path = Path()) -> list[str]:
    import copier  # noqa: PLC0415  (the copier that runs this migration)
    import yaml  # noqa: PLC0415  (a dependency of copier)

    answers = yaml.safe_load((root / ".copier-answers.yml").read_text(encoding="utf-8"))
    version_from = os.environ.get("VERSION_FROM") or answers["_commit"]
    present = [path for path in paths if (root / path).is_file()]
    if not present:
        return []
    with tempfile.TemporaryDirectory(prefix="refuse_to_drop_edited_files.") as rendered:
        copier.run_copy(
            answers["_src_path"],
            rendered,
            data={key: value for key, value in answers.items() if not key.startswith("_")},
            vcs_ref=version_from,
            defaults=True,
            quiet=True,
        )
        return [
            path
            for path in present
            if not (Path(rendered) / path).is_file()
            or (Path(rendered) / path).read_bytes() != (root / path).read_bytes()
        ]


def main(paths: list[str]) -> int:
    edited = edited_files(paths)
    if not edited:
        return 0
    listed = "\n".join(f"  {path}" for path in edited)
    sys.stderr.write(
        "copier update stopped before changing anything: the release you are updating to\n"
        "deletes or renames these files, and you edited them (an update would delete your\n"
        f"edits with them):\n{listed}\n"
        "What to do: read the release notes (CHANGELOG.md of the template) for where their\n"
        "content goes now, move your edits there or keep a copy under another name, delete\n"
        "the files listed above, commit, and run copier update again.\n"
    )
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
