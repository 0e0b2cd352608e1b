"""``make lint``'s size rule: no module over 600 lines, no function over 80.

A module or a function may be longer only when its own docstring says why, in a sentence
that starts with "Long because" (for example "Long because the table is one literal that
reads best whole."). Generated migrations are skipped, and so are the virtualenv, ``var/``
and anything under a dot-directory.

    python -m tools.sizes --check          # list the offenders; exit 1 when there are any
    python -m tools.sizes --check seed     # only what is under seed/
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80
MARKER = "Long because"
# The marker opens a sentence (or a line) and a reason follows it.
JUSTIFICATION = re.compile(rf"(?:^|[.:;!?]\s+){MARKER}\s+\w", re.MULTILINE)
SKIPPED_DIRS = frozenset({"migrations", "node_modules", "var", "__pycache__"})


@dataclass(frozen=True)
class Offender:
    path: Path
    line: int
    name: str
    lines: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line} {self.name} {self.lines} lines"


def justified(docstring: str | None) -> bool:
    """True when the docstring says why: the marker, then the reason, in one sentence."""
    return docstring is not None and JUSTIFICATION.search(docstring) is not None


def offenders_in(source: str, path: Path) -> list[Offender]:
    """The module itself, and every function or method in it, that is over its limit."""
    tree = ast.parse(source, filename=str(path))
    found: list[Offender] = []
    module_lines = len(source.splitlines())
    if module_lines > MAX_MODULE_LINES and not justified(ast.get_docstring(tree)):
        found.append(Offender(path, 1, "<module>", module_lines))
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        if length > MAX_FUNCTION_LINES and not justified(ast.get_docstring(node)):
            found.append(Offender(path, node.lineno, node.name, length))
    return sorted(found, key=lambda offender: offender.line)


def python_files(root: Path, under: Iterable[Path] = ()) -> Iterator[Path]:
    """The tree's Python files, sorted, without migrations, the venv or dot-directories."""
    starts = [root / path for path in under] or [root]
    for start in starts:
        candidates = [start] if start.is_file() else sorted(start.rglob("*.py"))
        for path in candidates:
            parts = path.relative_to(root).parts[:-1]
            if any(part.startswith(".") or part in SKIPPED_DIRS for part in parts):
                continue
            yield path


def offenders(root: Path = ROOT, under: Iterable[Path] = ()) -> list[Offender]:
    """Every offender under ``under`` (the whole tree when empty), paths relative to root."""
    found: list[Offender] = []
    for path in python_files(root, under):
        found.extend(offenders_in(path.read_text(encoding="utf-8"), path.relative_to(root)))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.sizes", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 when anything is too long")
    parser.add_argument("--root", type=Path, default=ROOT, help="the tree (default: this repo)")
    parser.add_argument("paths", nargs="*", type=Path, help="files or folders (default: all)")
    args = parser.parse_args(argv)
    found = offenders(args.root.resolve(), args.paths)
    for offender in found:
        print(offender)
    if found:
        print(
            f"{len(found)} over the size limits: split them, or say why in a docstring "
            f'sentence starting "{MARKER}"',
            file=sys.stderr,
        )
    return 1 if found and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
