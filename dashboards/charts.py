"""The dashboard's two charts, RPS and p95 per run and server CPU per request by role, as
base64 PNGs for inline data URIs."""

from __future__ import annotations

import base64
import io
from typing import Any

from dashboards.collect import Run, fmt


def _labels(runs: list[Run]) -> list[str]:
    return [f"{r.name}\n{r.strategy}" if r.strategy != "default" else r.name for r in runs]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png_base64(fig: Any) -> str:
    plt = _pyplot()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def chart_png(runs: list[Run]) -> str | None:
    """RPS and p95 per run as one PNG, base64-encoded for an inline data URI."""
    plotted = [r for r in runs if r.rps is not None or r.p95_ms is not None]
    if not plotted:
        return None
    height = max(2.5, 0.45 * len(plotted) + 1.2)
    fig, (ax_rps, ax_p95) = _pyplot().subplots(1, 2, figsize=(11, height), sharey=True)
    ys = list(range(len(plotted)))
    ax_rps.barh(ys, [r.rps or 0 for r in plotted], color="#2457c5")
    ax_p95.barh(ys, [r.p95_ms or 0 for r in plotted], color="#d9822b")
    ax_rps.set_yticks(ys, _labels(plotted), fontsize=8)
    ax_rps.invert_yaxis()
    ax_rps.set_title("requests / s (higher is better)", fontsize=10)
    ax_p95.set_title("p95 latency, ms (lower is better)", fontsize=10)
    for ax, vals in ((ax_rps, [r.rps for r in plotted]), (ax_p95, [r.p95_ms for r in plotted])):
        ax.grid(axis="x", alpha=0.3)
        for y, v in zip(ys, vals, strict=True):
            if v is not None:
                ax.text(v, y, f" {fmt(v)}", va="center", fontsize=7)
        ax.margins(x=0.15)
    return _png_base64(fig)


def cpu_chart_png(runs: list[Run]) -> str | None:
    """Server CPU ms per request of each metered run, stacked by role, base64 PNG."""
    plotted = [r for r in runs if r.cpu_ms]
    if not plotted:
        return None
    fig, ax = _pyplot().subplots(figsize=(11, max(2.5, 0.45 * len(plotted) + 1.2)))
    ys = list(range(len(plotted)))
    left = [0.0] * len(plotted)
    for role, color in (("app", "#2457c5"), ("postgres", "#3c9a5f"), ("redis", "#c0392b")):
        values = [(r.cpu_ms or {}).get(role) or 0.0 for r in plotted]
        ax.barh(ys, values, left=left, color=color, label=role)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_yticks(ys, _labels(plotted), fontsize=8)
    ax.invert_yaxis()
    ax.set_title("server CPU ms per request, by role (lower is better)", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return _png_base64(fig)
