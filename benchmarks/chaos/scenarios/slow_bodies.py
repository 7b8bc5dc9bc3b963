"""slow-bodies: uploads that send their headers and part of the body and then stall, uploads
that send half and close, and URLs over 8 KB, against every intake endpoint. After the stall
the daemon must have closed the stalled connections (408 or a close) and released their
descriptors, and its log must carry no ERROR and no traceback: a client's fault is an INFO."""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import time
from typing import Any

from ..report import Row
from ..world import open_fds
from .base import Context, world

NAME = "slow-bodies"
PATHS = ("/v1/requests", "/v1/webhooks/generic/bench", "/v1/callbacks", "/v1/webhooks/telegram")
LENGTH = 20_000


def request_head(path: str, port: int) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json"
            f"\r\nContent-Length: {LENGTH}\r\n\r\n").encode()  # fmt: skip


def released(s: socket.socket) -> bool:
    """The server closed the connection or answered (a 408) on it."""
    readable, _, _ = select.select([s], [], [], 0)
    if not readable:
        return False
    with contextlib.suppress(OSError):
        s.recv(65536)
    return True


def first_status(s: socket.socket) -> int | None:
    s.settimeout(5)
    try:
        data = s.recv(4096)
    except OSError:
        return None
    parts = data.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


async def run(ctx: Context) -> Row:
    stalled_n, halves_n, long_n = ctx.size(40, 2000), ctx.size(40, 500), ctx.size(5, 50)
    stall_s = ctx.size(12.0, 90.0)
    async with world(ctx, 1, 0) as w:
        d = w.daemons[0]
        pid = d.proc.proc.pid
        fds_before = open_fds(pid)
        stalled: list[socket.socket] = []
        statuses: dict[str, int] = {}
        five = 0
        try:
            for n in range(stalled_n):
                s = socket.create_connection(("127.0.0.1", d.http_port))
                path = PATHS[n % len(PATHS)]
                s.sendall(request_head(path, d.http_port) + b'{"text": "' + b"x" * 100)
                stalled.append(s)
            for n in range(halves_n):
                with socket.create_connection(("127.0.0.1", d.http_port)) as s:
                    s.sendall(
                        request_head(PATHS[n % len(PATHS)], d.http_port) + b"x" * (LENGTH // 2)
                    )
                if n % 50 == 49:
                    await asyncio.sleep(0)
            for _ in range(long_n):
                with socket.create_connection(("127.0.0.1", d.http_port)) as s:
                    s.sendall(f"GET /v1/requests/{'a' * 9000} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                    code = await asyncio.to_thread(first_status, s)
                    statuses[f"long url {code}"] = statuses.get(f"long url {code}", 0) + 1
                    five += code is not None and code >= 500
            await asyncio.sleep(1.0)
            fds_peak = open_fds(pid)
            t0 = time.monotonic()
            closed_at: dict[int, float] = {}
            while time.monotonic() - t0 < stall_s and len(closed_at) < len(stalled):
                for n, s in enumerate(stalled):
                    if n not in closed_at and released(s):
                        closed_at[n] = time.monotonic() - t0
                await asyncio.sleep(0.25)
            still_open = len(stalled) - len(closed_at)
        finally:
            for s in stalled:
                s.close()
        await asyncio.sleep(1.0)
        fds_after = open_fds(pid)
        logs = w.log_counts()
    row = Row(
        NAME, sent=stalled_n + halves_n + long_n, http_5xx=five, tracebacks=logs["tracebacks"]
    )
    details: dict[str, Any] = {
        "stalled": stalled_n, "halves_then_closed": halves_n, "long_urls": long_n,
        "stall_wait_s": stall_s, "still_open_after_wait": still_open,
        "closed_by_server_max_s": round(max(closed_at.values()), 2) if closed_at else None,
        "fds": {"before": fds_before, "peak": fds_peak, "after_release": fds_after},
        "answers": statuses, "log": logs,
    }  # fmt: skip
    row.details = details
    row.note = (f"{still_open} of {stalled_n} stalled uploads still open after {stall_s:g} s; fds "
                f"{fds_before}->{fds_peak} (peak); ERROR lines {logs['error_lines']}")  # fmt: skip
    return row
