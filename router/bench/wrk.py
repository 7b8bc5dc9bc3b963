"""HTTP load from wrk (Debian's `wrk`), in a process of its own, never the daemon's interpreter:
POSTs of a JSON body, each one distinct (a counter in the Idempotency-Key and in the body's
email, so an intake that de-duplicates stores every one), at a fixed number of connections.

wrk prints its figures from the Lua `done()` hook as one JSON line (requests, duration, errors by
kind, latency percentiles in microseconds); `parse()` reads that line and the text summary beside
it (requests/s, "Non-2xx or 3xx responses"). With `cpus`, wrk runs under `taskset -c CPUS`, so
that the load generator stays off the cores of what it measures as far as the machine allows.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PERCENTILES = (50, 90, 99, 99.9)
_DONE = "WRK-JSON "
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")

LUA = r"""
local counter = 0
local prefix = ""
local template = %(body)s
local headers = %(headers)s

function setup(thread)
  thread:set("tid", tostring(math.random(1, 1e9)))
end

function init(args)
  prefix = tid or tostring(math.random(1, 1e9))
end

function request()
  counter = counter + 1
  local id = prefix .. "-" .. counter
  headers["Idempotency-Key"] = "wrk-" .. id
  return wrk.format("POST", %(path)s, headers, (template:gsub("{n}", id)))
end

function done(summary, latency, requests)
  local e = summary.errors
  local p = {}
  for _, q in ipairs({%(percentiles)s}) do
    p[#p + 1] = string.format('"%%s": %%d', q, latency:percentile(q))
  end
  io.write(string.format(
    '%(marker)s{"requests": %%d, "duration_us": %%d, "connect": %%d, "read": %%d, ' ..
    '"write": %%d, "status": %%d, "timeout": %%d, "latency_us": {%%s}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    table.concat(p, ", ")))
end
"""


@dataclass(frozen=True, slots=True)
class WrkResult:
    """One wrk run's figures."""

    requests: int
    seconds: float
    requests_per_s: float
    ok_per_s: float  # requests/s that were not errors (HTTP >= 400, socket errors)
    non_2xx: int  # wrk's "Non-2xx or 3xx responses"
    socket_errors: dict[str, int]
    latency_ms: dict[str, float]  # by percentile: "50", "90", "99", "99.9"
    connections: int
    threads: int
    cpus: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def available() -> str | None:
    """The wrk binary, or None (then: apt-get install -y wrk)."""
    return shutil.which("wrk")


def _lua_string(text: str) -> str:
    """A Lua long string: the bytes as they are (LuaJIT knows no \\uXXXX escapes)."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


def lua_script(path: str, body: str, headers: dict[str, str]) -> str:
    """The wrk script: POST `body` to `path`, `{n}` in the body replaced with a unique id."""
    items = ", ".join(f"[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items())
    return LUA % {
        "body": _lua_string(body),
        "headers": "{" + items + "}",
        "path": _lua_string(path),
        "percentiles": ", ".join(f"{p:g}" for p in PERCENTILES),
        "marker": _DONE,
    }


def parse(output: str, connections: int, threads: int, cpus: str | None) -> WrkResult:
    """The figures of one run, from wrk's output with the `done()` line in it."""
    line = next((ln for ln in output.splitlines() if ln.startswith(_DONE)), None)
    if line is None:
        raise ValueError(f"no figures in wrk's output: {output[-500:]!r}")
    doc = json.loads(line[len(_DONE) :])
    seconds = doc["duration_us"] / 1e6
    errors = {k: int(doc[k]) for k in ("connect", "read", "write", "timeout")}
    bad = int(doc["status"]) + sum(errors.values())
    non_2xx = _NON_2XX.search(output)
    rate = _RATE.search(output)
    return WrkResult(
        requests=int(doc["requests"]),
        seconds=round(seconds, 3),
        requests_per_s=round(float(rate[1]) if rate else doc["requests"] / seconds, 1),
        ok_per_s=round(max(0, doc["requests"] - bad) / seconds, 1),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=errors,
        latency_ms={str(k): round(v / 1000, 3) for k, v in doc["latency_us"].items()},
        connections=connections,
        threads=threads,
        cpus=cpus,
    )


def run(
    url: str,
    body: str,
    headers: dict[str, str],
    seconds: float,
    connections: int = 32,
    threads: int = 1,
    cpus: str | None = None,
) -> WrkResult:
    """wrk against `url` (scheme, host, port and path) for `seconds`; see lua_script()."""
    binary = available()
    if binary is None:
        raise FileNotFoundError("wrk is not installed: apt-get install -y wrk")
    scheme, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    with tempfile.TemporaryDirectory(prefix="fdwrk") as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(lua_script("/" + path, body, headers), encoding="utf-8")
        command = [binary, "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s"]
        command += ["--timeout", "10s", "-s", str(script), f"{scheme}://{host}/"]
        if cpus is not None and shutil.which("taskset"):
            command = ["taskset", "-c", cpus, *command]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited {done.returncode}: {done.stderr[-500:]}")
    return parse(done.stdout + done.stderr, connections, threads, cpus)


@dataclass(frozen=True, slots=True)
class Placement:
    """Which cores the measured server and the load generator (wrk, redis-server) run on."""

    server: str | None
    load: str | None

    def describe(self) -> str:
        if self.server is None:
            return "one core (or no taskset): server and load generator share it"
        return (
            f"taskset: server on cpu {self.server}; wrk and redis-server on cpu {self.load} "
            "(the other helpers' processes, if any, are not pinned)"
        )


def placement(cpus: int | None = None) -> Placement:
    """Server on cpu 0, load generator and Redis on cpu 1, when there are two cores (or more)
    and taskset; else no pinning."""
    n = cpus if cpus is not None else len(os.sched_getaffinity(0))
    if n < 2 or shutil.which("taskset") is None:
        return Placement(None, None)
    return Placement("0", "1" if n == 2 else f"1-{n - 1}")


def pin(pid: int, cpus: str | None) -> bool:
    """Move process `pid` and all its threads onto `cpus` (taskset -a -p); False if not done."""
    if cpus is None or shutil.which("taskset") is None:
        return False
    done = subprocess.run(
        ["taskset", "-a", "-p", "-c", cpus, str(pid)], capture_output=True, check=False
    )
    return done.returncode == 0
