#!/usr/bin/env python3
"""Write the table of every QA_* setting into docs/configuration.md, from qa/config.py's Settings, so it cannot drift.

python scripts/settings_table.py                    # print the table
python scripts/settings_table.py --write FILE.md    # replace the table between the markers in FILE.md
python scripts/settings_table.py --check FILE.md    # exit 1 if FILE.md's table is not what Settings says (make docs)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Literal, get_args, get_origin

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from annotated_types import Ge, Gt, Le, Lt  # pydantic's own constraint types
from pydantic import SecretStr
from pydantic_core import PydanticUndefined

from qa.config import Settings

START = "<!-- settings-table: made by scripts/settings_table.py; edit qa/config.py, then run it with --write -->"
END = "<!-- /settings-table -->"


def _default(name: str, field) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
        home = str(Path.home())
        return f"`{str(value).replace(home, '~', 1)}`"
    value = field.default
    if value is None or value is PydanticUndefined:
        return "unset"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def _values(field) -> str:
    """The values a setting accepts: a Literal's choices, or its numeric bounds."""
    annotation = field.annotation
    if get_origin(annotation) is Literal:
        return " / ".join(f"`{v}`" for v in get_args(annotation))
    bounds = []
    for m in field.metadata:
        for kind, attr, sign in ((Ge, "ge", "≥"), (Gt, "gt", ">"), (Le, "le", "≤"), (Lt, "lt", "<")):
            if isinstance(m, kind):
                bounds.append(f"{sign} {getattr(m, attr)}")
    return ", ".join(bounds)


def table() -> str:
    rows = ["| variable | default | values | meaning |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        if not field.description:
            raise SystemExit(f"qa/config.py: Settings.{name} has no description; give it one (it is the docs)")
        meaning = " ".join(field.description.split()).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
        rows.append(f"| `QA_{name.upper()}` | {_default(name, field)} | {_values(field)} | {meaning} |")
    return "\n".join(rows)


def _replace(text: str, path: Path) -> str:
    if START not in text or END not in text:
        raise SystemExit(f"{path}: the markers are missing:\n{START}\n{END}")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table()}\n{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", type=Path, metavar="FILE")
    group.add_argument("--check", type=Path, metavar="FILE")
    args = parser.parse_args()
    if args.write is None and args.check is None:
        print(table())
        return 0
    path = args.write or args.check
    text = path.read_text(encoding="utf-8")
    new = _replace(text, path)
    if args.write:
        path.write_text(new, encoding="utf-8")
        return 0
    if new != text:
        print(
            f"{path}: the settings table differs from qa/config.py; run python scripts/settings_table.py --write {path}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
