"""The load-test report's PNG charts (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

PERCENTILES = ("p50_ms", "p95_ms", "p99_ms")


def chart_save(fig: Any, path: Path) -> str:
    """Lay out, write at 90 dpi, close; the PNG's name."""
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


def charts_write(out: Path, summary: dict[str, Any]) -> list[str]:
    """RPS and users over time, latency percentiles over time, per-endpoint latency, errors,
    and the server-side queries per endpoint; returns the PNG names written."""
    names: list[str] = []
    line = summary["timeline"]
    if line["t"]:
        fig, ax = plt.subplots(figsize=(10, 3.6))
        ax.plot(line["t"], line["rps"], label="requests/s", color="tab:blue")
        ax.plot(line["t"], line["fail_s"], label="failures/s", color="tab:red")
        ax.set_xlabel("seconds")
        ax.set_ylabel("per second")
        users = ax.twinx()
        users.plot(line["t"], line["users"], label="users", color="tab:gray", linestyle="--")
        users.set_ylabel("users")
        ax.legend(loc="upper left")
        ax.set_title("Throughput and users over time")
        names.append(chart_save(fig, out / "rps_users.png"))

        fig, ax = plt.subplots(figsize=(10, 3.6))
        for key, color in (("p50", "tab:green"), ("p95", "tab:orange"), ("p99", "tab:red")):
            ax.plot(
                line["t"],
                [v if v is not None else float("nan") for v in line[key]],
                label=key,
                color=color,
            )
        ax.set_xlabel("seconds")
        ax.set_ylabel("ms (10 s window)")
        ax.legend(loc="upper left")
        ax.set_title("Response time percentiles over time")
        names.append(chart_save(fig, out / "latency.png"))

    rows = [r for r in summary["endpoints"] if r["requests"]]
    if rows:
        fig, ax = plt.subplots(figsize=(10, 0.45 * len(rows) + 1.2))
        y = range(len(rows))
        height = 0.27
        for offset, key in enumerate(PERCENTILES):
            ax.barh(
                [i + (offset - 1) * height for i in y],
                [r[key] or 0 for r in rows],
                height=height,
                label=key.removesuffix("_ms"),
            )
        ax.set_yticks(list(y), [r["name"] for r in rows], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("ms")
        ax.legend()
        ax.set_title("Latency by endpoint")
        names.append(chart_save(fig, out / "endpoints.png"))

    served = [r for r in rows if r.get("server")]
    if served:
        names.append(
            _bars(
                out / "queries.png",
                {r["name"]: r["server"]["mean_queries"] for r in served},
                color="tab:purple",
                xlabel="mean SQL queries per request (Server-Timing)",
                title="Server-side queries by endpoint",
            )
        )
    if summary["errors"]:
        names.append(
            _bars(
                out / "errors.png",
                {f"{e['endpoint']}: {e['error'][:50]}": e["count"] for e in summary["errors"][:12]},
                color="tab:red",
                xlabel="occurrences",
                title="Errors by endpoint and kind",
            )
        )
    return names


def _bars(path: Path, values: dict[str, float], *, color: str, xlabel: str, title: str) -> str:
    fig, ax = plt.subplots(figsize=(10, 0.4 * len(values) + 1.2))
    ax.barh(list(values), list(values.values()), color=color)
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return chart_save(fig, path)
