"""Where one endpoint's server CPU goes: py-spy on every HTTP worker under wrk, one flame graph.

Run as ``make profile ENDPOINT=/api/feed [STRATEGY=feed=optimized] [SECONDS=20]``
(``python -m benchmarks.profile``). It starts the production-mode server (or attaches to one
with ``--base-url``), logs a seeded persona in, warms the endpoint, then drives it with wrk at a
fixed concurrency while one ``py-spy record --gil`` per granian worker samples the stacks that
hold the GIL: on-CPU Python work, not threads parked on a socket. The workers' collapsed stacks
are merged into one profile and written to reports/profile-<UTC timestamp>-<endpoint>/ as
flame.svg, stacks.txt, top.md and top.json (docs/profiling.md). Exit status: 0; 1 when some
responses failed; 2 when the run could not be made; 3 when py-spy cannot attach (no ptrace).
"""

from __future__ import annotations

import argparse
import colorsys
import datetime as dt
import hashlib
import json
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from benchmarks import drive
from benchmarks.drive import ENDPOINTS, DriveError, say
from loadtests.cpu import CpuMeter, per_request_ms

TOP = 30
PYSPY_VERSION = "0.4.3"
ATTACH_WAIT = 1.5
EXIT_FAILED_RESPONSES, EXIT_CANNOT_RUN, EXIT_NO_PROFILER = 1, 2, 3


class ProfilerError(DriveError):
    """py-spy is missing or cannot attach to the workers (ptrace is not permitted)."""


# --- collapsed stacks ---------------------------------------------------------------------------


def stacks_parse(text: str) -> Counter[str]:
    """``a;b;c 12`` lines (py-spy's raw format, flamegraph.pl's collapsed one) -> counts."""
    stacks: Counter[str] = Counter()
    for line in text.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            stacks[stack] += int(count)
    return stacks


def stacks_merge(parts: Iterable[Mapping[str, int]]) -> Counter[str]:
    """One profile from several processes' stacks: identical stacks add up."""
    merged: Counter[str] = Counter()
    for part in parts:
        merged.update(part)
    return merged


def stacks_text(stacks: Mapping[str, int]) -> str:
    return "".join(f"{stack} {count}\n" for stack, count in sorted(stacks.items()))


@dataclass(frozen=True)
class FunctionShare:
    function: str
    samples: int
    share: float


def function_shares(
    stacks: Mapping[str, int],
) -> tuple[int, list[FunctionShare], list[FunctionShare]]:
    """(total samples, by self share, by inclusive share), each sorted from the largest.

    Self: samples with the function on top of the stack (running its own code). Inclusive:
    samples with the function anywhere on the stack, counted once per stack even when it
    recurses, so no share exceeds 100 %.
    """
    total = sum(stacks.values())
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for stack, count in stacks.items():
        frames = stack.split(";")
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count

    def ranked(counts: Counter[str]) -> list[FunctionShare]:
        rows = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        return [FunctionShare(name, n, n / total if total else 0.0) for name, n in rows]

    return total, ranked(own), ranked(inclusive)


# --- the flame graph ----------------------------------------------------------------------------


@dataclass
class Frame:
    name: str
    samples: int = 0
    children: dict[str, Frame] = field(default_factory=dict)


def stacks_tree(stacks: Mapping[str, int]) -> Frame:
    root = Frame("all")
    for stack, count in stacks.items():
        node = root
        node.samples += count
        for name in stack.split(";"):
            node = node.children.setdefault(name, Frame(name))
            node.samples += count
    return root


def _depth(frame: Frame) -> int:
    return 1 + max((_depth(child) for child in frame.children.values()), default=0)


def _colour(name: str) -> str:
    """Stable per function; the app's own code blue, Django orange, everything else yellow."""
    jitter = int(hashlib.md5(name.encode()).hexdigest()[:4], 16) / 0xFFFF
    if "(app/" in name:
        hue, sat = 0.58, 0.45
    elif "(django/" in name:
        hue, sat = 0.05 + 0.04 * jitter, 0.65
    else:
        hue, sat = 0.11 + 0.04 * jitter, 0.60
    red, green, blue = colorsys.hls_to_rgb(hue, 0.62 + 0.1 * jitter, sat)
    return f"rgb({red * 255:.0f},{green * 255:.0f},{blue * 255:.0f})"


def flame_svg(
    stacks: Mapping[str, int], *, title: str, subtitle: str = "", width: int = 1200
) -> str:
    """A static flame graph: root at the bottom, width = share of samples, hover for numbers."""
    root = stacks_tree(stacks)
    total = max(root.samples, 1)
    row, pad, top = 16, 10, 52
    depth = _depth(root)
    height = top + depth * row + 24
    scale = (width - 2 * pad) / total
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="#fbfbf6"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="15">{escape(title)}</text>',
        f'<text x="{width / 2}" y="38" text-anchor="middle" fill="#555">{escape(subtitle)}</text>',
    ]

    def draw(frame: Frame, x: float, level: int) -> None:
        w = frame.samples * scale
        if w < 0.3:
            return
        y = height - 24 - (level + 1) * row
        label = f"{frame.name} ({frame.samples} samples, {100 * frame.samples / total:.2f}%)"
        chars = int((w - 6) / 6.6)
        text = frame.name if len(frame.name) <= chars else frame.name[: chars - 2] + ".."
        parts.append(
            f'<g><title>{escape(label)}</title><rect x="{pad + x:.2f}" y="{y}" '
            f'width="{w:.2f}" height="{row - 1}" rx="2" fill="{_colour(frame.name)}"/>'
            + (
                f'<text x="{pad + x + 3:.2f}" y="{y + 11.5}">{escape(text)}</text>'
                if chars >= 3
                else ""
            )
            + "</g>"
        )
        # Children sorted by name, as flamegraph.pl does: the x axis is not time.
        offset = x
        for name in sorted(frame.children):
            child = frame.children[name]
            draw(child, offset, level + 1)
            offset += child.samples * scale

    draw(root, 0.0, 0)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


# --- py-spy -------------------------------------------------------------------------------------


def pyspy_path() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise ProfilerError(
            f"py-spy is not installed. Install it with `.venv/bin/pip install py-spy=="
            f"{PYSPY_VERSION}` (or `make install`)."
        )
    return found


@dataclass
class Sampler:
    """One ``py-spy record`` attached to one worker process until it is interrupted."""

    pid: int
    output: Path
    process: subprocess.Popen[str]

    @classmethod
    def attach(cls, *, pid: int, output: Path, rate: int, nonblocking: bool) -> Sampler:
        argv = [pyspy_path(), "record", "--pid", str(pid), "--gil", "--function"]
        argv += ["--rate", str(rate), "--format", "raw", "--output", str(output)]
        if nonblocking:
            argv.append("--nonblocking")
        process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        return cls(pid=pid, output=output, process=process)

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            out, _ = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        return out or ""


def samplers_start(*, pids: list[int], folder: Path, rate: int, nonblocking: bool) -> list[Sampler]:
    folder.mkdir(parents=True, exist_ok=True)
    samplers = [
        Sampler.attach(
            pid=pid, output=folder / f"worker-{pid}.txt", rate=rate, nonblocking=nonblocking
        )
        for pid in pids
    ]
    # py-spy fails at once when it cannot ptrace; give it a moment to say so.
    time.sleep(ATTACH_WAIT)
    dead = [sampler for sampler in samplers if sampler.process.poll() is not None]
    if dead:
        detail = dead[0].stop().strip()
        for sampler in samplers:
            sampler.stop()
        raise ProfilerError(
            f"py-spy could not attach to worker {dead[0].pid}: {detail[-600:]}\n"
            "It needs ptrace: run as root, or with CAP_SYS_PTRACE "
            "(docker run --cap-add SYS_PTRACE), or with kernel.yama.ptrace_scope=0."
        )
    return samplers


# --- the run ------------------------------------------------------------------------------------


def slug(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", path).strip("-")[:60] or "root"


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument(
        "--endpoint",
        required=True,
        help=f"a path such as /api/feed, or a label of {', '.join(ENDPOINTS)}",
    )
    parser.add_argument("--strategy", default="", help="X-Lab-Strategy, e.g. feed=optimized")
    parser.add_argument("--seconds", type=float, default=20.0, help="sampled seconds under load")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument(
        "--nonblocking",
        action="store_true",
        help="do not pause the workers to sample (less overhead, stacks may tear)",
    )
    parser.add_argument("--workers", type=int, default=2, help="granian worker processes")
    parser.add_argument("--base-url", default="", help="use this running server instead")
    parser.add_argument("--port", type=int, default=None, help=f"default {drive.DEFAULT_PORT}")
    parser.add_argument("--ws-port", type=int, default=None)
    parser.add_argument("--user", default=None, help="log in as this user (default: a persona)")
    parser.add_argument("--password", default=None)
    parser.add_argument("--anonymous", action="store_true", help="send no bearer token")
    parser.add_argument("--out", type=Path, default=drive.ROOT / "reports")
    parser.add_argument("--name", default="", help="report folder name")
    args = parser.parse_args(argv)
    if args.seconds < 1 or args.connections < 1 or args.rate < 1:
        parser.error("--seconds, --connections and --rate must be at least 1")
    if not args.endpoint.startswith("/") and args.endpoint not in ENDPOINTS:
        parser.error(f"--endpoint must start with / or be one of {', '.join(ENDPOINTS)}")
    drive.strategy_check(parser, args.strategy)
    return args


def resolve(args: argparse.Namespace) -> tuple[str, str | None, str | None]:
    """(path, username, password); the database is read only for what was not given."""
    template = ENDPOINTS.get(args.endpoint, args.endpoint)
    needs_ids = "{" in template
    needs_persona = not args.anonymous and (args.user is None or args.password is None)
    if not needs_ids and not needs_persona:
        return template, args.user, args.password
    targets = drive.lab_targets(username=args.user, password=args.password)
    if args.anonymous:
        return targets.path(template), None, None
    return targets.path(template), targets.username, targets.password


def top_markdown(report: dict[str, Any]) -> str:
    cpu, run = report["cpu_ms_per_request"], report["wrk"]
    lines = [
        f"# Profile: GET {report['path']}",
        "",
        f"- **command:** `{report['command']}`",
        f"- **when:** {report['date']}, commit `{report['commit']}`, "
        f"load average {report['loadavg_before'][0]} -> {report['loadavg_after'][0]}",
        f"- **machine:** {report['machine']['nproc']} cores ({report['machine']['cpu']}), "
        f"{report['machine']['memory_gib']} GiB, Python {report['machine']['python']}, "
        f"{report['machine']['wrk']}",
        f"- **server:** {report['server']}, workers {report['workers']}; persona "
        f"`{report['persona'] or 'anonymous'}`; strategy `{report['strategy'] or 'default'}`",
        f"- **load:** wrk -t{report['wrk_threads']} -c{report['connections']} for "
        f"{run['seconds']:.1f} s: **{run['rps']:,.1f} req/s**, {run['requests']} requests, "
        f"p50 {run['p50_ms']:.1f} ms, p99 {run['p99_ms']:.1f} ms, errors {run['errors']} "
        "(while sampled: py-spy slows the workers, so this is below `make bench-endpoints`)",
        f"- **server CPU per request:** app {cpu['app']:.2f} ms, postgres "
        f"{cpu['postgres']:.2f} ms, redis {cpu['redis']:.2f} ms, total {cpu['total']:.2f} ms",
        f"- **Server-Timing sample:** `{report['server_timing']['raw']}`",
        f"- **samples:** {report['samples']} on-CPU samples holding the GIL "
        f"(py-spy --gil, idle threads excluded, {report['rate']} Hz per worker"
        f"{', nonblocking' if report['nonblocking'] else ''}); per worker "
        + ", ".join(f"{pid}: {n}" for pid, n in report["samples_per_worker"].items()),
        "",
    ]
    for key, heading in (("self", "self share"), ("inclusive", "inclusive share")):
        lines += [
            f"## Top {TOP} functions by {heading}",
            "",
            f"| # | {heading} | samples | function |",
            "|---:|---:|---:|---|",
        ]
        for rank, row in enumerate(report["top"][key], 1):
            name = row["function"].replace("|", "\\|")
            lines.append(f"| {rank} | {100 * row['share']:.1f}% | {row['samples']} | `{name}` |")
        lines.append("")
    return "\n".join(lines)


@dataclass
class Measured:
    """What one profiled run measured: the warm-up, the sampled wrk run and py-spy's samplers."""

    warm: drive.WrkRun
    timing: dict[str, Any]
    workers: list[int]
    samplers: list[Sampler]
    logs: dict[int, str]
    run: drive.WrkRun
    spent: dict[str, float]


def warm_up(
    args: argparse.Namespace, server: drive.Server, path: str, headers: dict[str, str]
) -> tuple[drive.WrkRun, dict[str, Any]]:
    """Warm the endpoint with wrk, then sample one response: (warm-up run, its Server-Timing).

    Anything but a 200 stops the run: there would be nothing to profile.
    """
    warm = drive.wrk_run(
        base_url=server.base_url,
        path=path,
        headers=headers,
        seconds=args.warmup,
        connections=args.connections,
        threads=args.threads,
        count_statuses=True,
    )
    sample = drive.http_get(base_url=server.base_url, path=path, headers=headers)
    timing = drive.server_timing(sample)
    say(f"warm {path}: HTTP {sample.status}, statuses {warm.statuses}, {timing['raw']}")
    if sample.status != 200:
        raise DriveError(
            f"GET {path} answered {sample.status}: {sample.body[:300]!r}; nothing to "
            f"profile; {server.log_hint()}"
        )
    return warm, timing


def measure(
    args: argparse.Namespace,
    *,
    path: str,
    username: str | None,
    password: str | None,
    folder: Path,
) -> Measured:
    """Start or attach to the server, warm up, then drive wrk while py-spy samples each worker."""
    server = (
        drive.server_attach(base_url=args.base_url)
        if args.base_url
        else drive.server_start(port=args.port, ws_port=args.ws_port, workers=args.workers)
    )
    try:
        token = None
        if username is not None and password is not None:
            token = drive.login(base_url=server.base_url, username=username, password=password)
            say(f"logged in as {username}")
        headers = drive.request_headers(token=token, strategy=args.strategy)
        warm, timing = warm_up(args, server, path, headers)
        workers = server.workers()
        say(f"py-spy --gil on workers {workers} for {args.seconds:g} s under wrk")
        samplers = samplers_start(
            pids=workers, folder=folder / "raw", rate=args.rate, nonblocking=args.nonblocking
        )
        meter = CpuMeter.for_servers(
            app_pid=server.http_pid, database_url=drive.database_url(), redis_url=drive.redis_url()
        )
        try:
            meter.start()
            run = drive.wrk_run(
                base_url=server.base_url,
                path=path,
                headers=headers,
                seconds=args.seconds,
                connections=args.connections,
                threads=args.threads,
            )
            spent = meter.stop()
        finally:
            logs = {sampler.pid: sampler.stop() for sampler in samplers}
        say(f"{run.rps:,.1f} req/s, {run.requests} requests, errors {run.errors}")
    finally:
        server.stop()
    return Measured(warm, timing, workers, samplers, logs, run, spent)


def stacks_collect(measured: Measured) -> tuple[Counter[str], dict[str, int]]:
    """The workers' stacks merged into one profile, and how many samples each worker gave."""
    per_worker = {}
    parts = []
    for sampler in measured.samplers:
        found = stacks_parse(sampler.output.read_text()) if sampler.output.exists() else Counter()
        per_worker[str(sampler.pid)] = sum(found.values())
        parts.append(found)
    stacks = stacks_merge(parts)
    if not stacks:
        logs = measured.logs.items()
        details = "\n".join(f"{pid}: {text.strip()[-300:]}" for pid, text in logs)
        raise DriveError(f"py-spy recorded no samples:\n{details}")
    return stacks, per_worker


def report_build(
    args: argparse.Namespace,
    *,
    command: str,
    path: str,
    username: str | None,
    measured: Measured,
    stacks: Counter[str],
    per_worker: dict[str, int],
    load_before: list[float],
) -> dict[str, Any]:
    """top.json's content: the run's settings and figures, and the top functions by share."""
    total, own, inclusive = function_shares(stacks)
    run = measured.run
    return {
        "path": path,
        "command": command,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": drive.commit(),
        "machine": drive.machine(),
        "loadavg_before": load_before,
        "loadavg_after": drive.loadavg(),
        "server": "attached " + args.base_url
        if args.base_url
        else f"split, {args.workers} workers",
        "workers": measured.workers,
        "persona": username,
        "strategy": args.strategy,
        "connections": args.connections,
        "wrk_threads": args.threads,
        "rate": args.rate,
        "nonblocking": args.nonblocking,
        "wrk": {
            "seconds": run.seconds,
            "requests": run.requests,
            "rps": round(run.rps, 1),
            "p50_ms": run.p50_ms,
            "p99_ms": run.p99_ms,
            "errors": run.errors,
            "warmup_statuses": measured.warm.statuses,
        },
        "cpu_ms_per_request": per_request_ms(measured.spent, run.requests),
        "server_timing": measured.timing,
        "samples": total,
        "samples_per_worker": per_worker,
        "top": {
            "self": [vars(row) for row in own[:TOP]],
            "inclusive": [vars(row) for row in inclusive[:TOP]],
        },
    }


def report_write(
    folder: Path,
    report: dict[str, Any],
    stacks: Counter[str],
    *,
    measured: Measured,
    args: argparse.Namespace,
) -> None:
    """The report folder: stacks.txt, flame.svg, top.json and top.md."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stacks.txt").write_text(stacks_text(stacks))
    cpu = report["cpu_ms_per_request"]
    subtitle = (
        f"{report['samples']} on-CPU samples (py-spy --gil) over {len(measured.workers)} "
        f"workers; {measured.run.rps:,.0f} req/s at -c{args.connections}; "
        f"app {cpu['app']:.2f} ms CPU/req; commit {report['commit']}"
    )
    title = f"GET {report['path']}" + (f"  [{args.strategy}]" if args.strategy else "")
    (folder / "flame.svg").write_text(flame_svg(stacks, title=title, subtitle=subtitle))
    (folder / "top.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    (folder / "top.md").write_text(top_markdown(report))


def profile(args: argparse.Namespace, *, command: str) -> tuple[Path, dict[str, Any]]:
    """Profile the endpoint and write the report folder; (the folder, top.json's content)."""
    drive.wrk_require(command="`make profile`")
    pyspy_path()
    drive.services_ensure()
    path, username, password = resolve(args)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = args.out / (args.name or f"profile-{stamp}-{slug(path)}")
    load_before = drive.loadavg()
    measured = measure(args, path=path, username=username, password=password, folder=folder)
    stacks, per_worker = stacks_collect(measured)
    report = report_build(
        args,
        command=command,
        path=path,
        username=username,
        measured=measured,
        stacks=stacks,
        per_worker=per_worker,
        load_before=load_before,
    )
    report_write(folder, report, stacks, measured=measured, args=args)
    return folder, report


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    args = arguments(raw)
    command = shlex.join(["python", "-m", "benchmarks.profile", *raw])
    try:
        folder, report = profile(args, command=command)
    except ProfilerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NO_PROFILER
    except DriveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    shown = folder.relative_to(drive.ROOT) if folder.is_relative_to(drive.ROOT) else folder
    print(f"\nGET {report['path']}: {report['wrk']['rps']:,.1f} req/s while sampled")
    print(f"top {min(15, TOP)} by self share of {report['samples']} on-CPU samples:")
    for row in report["top"]["self"][:15]:
        print(f"  {100 * row['share']:5.1f}%  {row['function']}")
    print(f"report: {shown}/ (flame.svg, top.md, top.json, stacks.txt)")
    if report["wrk"]["errors"]:
        print(f"FLAGGED: {report['wrk']['errors']} failed responses", file=sys.stderr)
        return EXIT_FAILED_RESPONSES
    return 0


if __name__ == "__main__":
    sys.exit(main())
