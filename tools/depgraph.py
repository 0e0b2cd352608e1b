"""``make docs``: the app's package dependency graph, drawn into docs/architecture.md.

The graph comes from grimp, the library import-linter checks the rules with, so the picture
and the lint read the same imports. Tests, conftests and their helpers (app/testing) are left
out (they may import across layers); imports only made for type checking are left out too, as
the lint does.

    python -m tools.depgraph          # rewrite the graph in docs/architecture.md
    python -m tools.depgraph --check  # exit 1 when the file is out of date (the test suite)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
START, END = "<!-- depgraph:start -->", "<!-- depgraph:end -->"
# Wiring modules that import everything on purpose: the URL map, the API assembly, settings.
WIRING = frozenset({"app.api", "app.urls", "app.asgi", "app.wsgi", "app.settings", "app.conftest"})


def _is_test(module: str) -> bool:
    parts = module.split(".")
    return "tests" in parts or parts[-1] == "conftest" or parts[:2] == ["app", "testing"]


def package_edges(package: str = "app") -> set[tuple[str, str]]:
    """(importer, imported) between the app's first-level packages."""
    graph = grimp.build_graph(package, cache_dir=None, exclude_type_checking_imports=True)
    edges: set[tuple[str, str]] = set()
    for module in graph.modules:
        if _is_test(module) or module in WIRING:
            continue
        source = ".".join(module.split(".")[:2])
        for imported in graph.find_modules_directly_imported_by(module):
            target = ".".join(imported.split(".")[:2])
            if target != source and target.startswith(f"{package}.") and target not in WIRING:
                edges.add((source, target))
    return edges


def mermaid(edges: set[tuple[str, str]]) -> str:
    """A Mermaid flowchart, one line per edge, sorted so the text only changes with the graph."""
    lines = ["```mermaid", "flowchart TD"]
    for source, target in sorted(edges):
        lines.append(f"    {source.split('.')[-1]} --> {target.split('.')[-1]}")
    lines.append("```")
    return "\n".join(lines)


def rendered(text: str, graph: str) -> str:
    before, found, rest = text.partition(START)
    if not found or END not in rest:
        raise SystemExit(f"{DOC} has no {START} ... {END} block to fill")
    return f"{before}{START}\n{graph}\n{END}{rest.split(END, 1)[1]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.depgraph", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the doc is out of date")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    text = DOC.read_text()
    wanted = rendered(text, mermaid(package_edges()))
    if args.check:
        if wanted != text:
            print(f"{DOC.relative_to(ROOT)} is out of date: run `make docs`", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(wanted)
    print(f"drew the package graph into {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
