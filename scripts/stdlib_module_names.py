"""Print copier.yml's `stdlib` list of reserved package names, for the Python that runs this.

The public names of `sys.stdlib_module_names` (Python 3.10+; the private `_name` modules are
refused by the package_name validator as a whole), merged with the names copier.yml already
lists, so running it with each supported Python gives their union:

    python3.13 scripts/stdlib_module_names.py   # then paste the output over the `stdlib:` entry
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import yaml

COPIER_YML = Path(__file__).resolve().parents[1] / "copier.yml"


def listed() -> set[str]:
    """The names copier.yml reserves as standard-library modules."""
    questions = yaml.safe_load(COPIER_YML.read_text(encoding="utf-8"))
    return set(yaml.safe_load(questions["reserved_package_names"]["default"])["stdlib"])


def main() -> None:
    public = {name for name in sys.stdlib_module_names if not name.startswith("_")}
    names = sorted(public | listed(), key=str.lower)
    body = textwrap.fill(", ".join(names), width=92, break_on_hyphens=False)
    print("stdlib: [" + textwrap.indent(body, "  ").lstrip() + "]")
    missing = public - listed()
    if missing:
        print(f"# new for Python {sys.version.split()[0]}: {', '.join(sorted(missing))}")


if __name__ == "__main__":
    main()
