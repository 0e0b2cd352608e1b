"""wrk's own counters, read from Python: the Lua that prints them as one JSON line.

wrk's text report is for people. Its ``done`` hook prints the same numbers as one
``WRKJSON {...}`` line instead, so nothing is scraped from the text: the HTTP lab instruments
(benchmarks/drive.py) and the servers side by side (benchmarks/serving.py) both build their
scripts with ``wrk_lua`` and read the line with ``summary_read``.
"""

from __future__ import annotations

import json
from typing import Any

WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, "status_errors": %d, '
    .. '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, '
    .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "statuses": {%s}}\\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read,
    e.write, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, statuses_json()))
end
"""
# Only a warm-up should define response(): wrk then hands every response to Lua, which costs
# wrk CPU on the same two cores, so measured runs count errors with wrk's built-in counters
# (``status_errors``: every response with a status of 400 or more).
WRK_STATUS_COUNTER = """
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function(args) statuses = {} end
response = function(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
statuses_json = function()
  local merged, parts = {}, {}
  for _, thread in ipairs(threads) do
    for code, n in pairs(thread:get("statuses") or {}) do merged[code] = (merged[code] or 0) + n end
  end
  for code, n in pairs(merged) do table.insert(parts, string.format('"%d": %d', code, n)) end
  return table.concat(parts, ", ")
end
"""
WRK_NO_STATUS_COUNTER = 'statuses_json = function() return "" end'


def lua_string(text: str) -> str:
    """A Lua string literal for any text (decimal escapes for everything unusual)."""
    out = []
    for byte in text.encode():
        char = chr(byte)
        out.append(char if 32 <= byte < 127 and char not in '"\\' else f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def wrk_lua(*, setup: str, count_statuses: bool) -> str:
    """A whole script: ``setup`` (headers, a request function), the status counter, ``done``."""
    counter = WRK_STATUS_COUNTER if count_statuses else WRK_NO_STATUS_COUNTER
    return "\n".join((setup, counter, WRK_DONE))


def summary_read(stdout: str) -> dict[str, Any] | None:
    """The counters ``done`` printed, or None when wrk printed no summary (it failed)."""
    line = next((ln for ln in stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        return None
    summary: dict[str, Any] = json.loads(line.removeprefix("WRKJSON "))
    return summary
