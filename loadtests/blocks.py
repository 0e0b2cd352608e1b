"""A report as a list of blocks (headings, paragraphs, tables, images), and its two renderings.

report.md and report.html are rendered from the same blocks, so they always say the same thing.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Block:
    kind: str  # h1 | h2 | p | table | img
    text: str = ""
    headers: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


def table(headers: list[str], rows: list[list[Any]]) -> Block:
    return Block(
        "table", headers=tuple(headers), rows=tuple(tuple(_cell(c) for c in r) for r in rows)
    )


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def markdown_render(blocks: list[Block]) -> str:
    out: list[str] = []
    for block in blocks:
        if block.kind == "h1":
            out.append(f"# {block.text}\n")
        elif block.kind == "h2":
            out.append(f"## {block.text}\n")
        elif block.kind == "p":
            out.append(f"{block.text}\n")
        elif block.kind == "img":
            out.append(f"![{block.text}]({block.text})\n")
        elif block.kind == "table":
            out.append("| " + " | ".join(block.headers) + " |")
            out.append("|" + "|".join("---" for _ in block.headers) + "|")
            out.extend(
                "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in block.rows
            )
            out.append("")
    return "\n".join(out)


STYLE = (
    "body{font:14px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;"
    "padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
    "th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee;margin:.5em 0}"
    ".warn{background:#fff3cd;padding:.5em;border-left:4px solid #e0a800}"
)


def html_render(blocks: list[Block], *, title: str) -> str:
    out = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
    ]
    for block in blocks:
        text = html.escape(block.text)
        if block.kind in ("h1", "h2"):
            out.append(f"<{block.kind}>{text}</{block.kind}>")
        elif block.kind == "p":
            css = " class='warn'" if block.text.startswith("**Warning") else ""
            out.append(f"<p{css}>{text.replace('**', '')}</p>")
        elif block.kind == "img":
            out.append(f"<img src='{text}' alt='{text}'>")
        elif block.kind == "table":
            head = "".join(f"<th>{html.escape(h)}</th>" for h in block.headers)
            body = "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                for row in block.rows
            )
            out.append(f"<table><tr>{head}</tr>{body}</table>")
    out.append("</body></html>")
    return "\n".join(out)


def documents_write(out: Path, blocks: list[Block]) -> None:
    """report.md and report.html, titled by the first block."""
    (out / "report.md").write_text(markdown_render(blocks))
    (out / "report.html").write_text(html_render(blocks, title=blocks[0].text))
