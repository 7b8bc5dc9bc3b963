"""What every local stand-in for an external HTTP API does (tests/helpdesk_standins.py,
tests/notice_standins.py): an aiohttp app on 127.0.0.1 that records each call, answers the next
matching calls with an injected failure (`fail`) or hangs on them (`hang`, before or after doing
the work) until `release` is set (at the latest 30 s), checks auth, and for a strict API refuses
a POST or PUT that is not a JSON object."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

HANG_LIMIT_S = 30
BODY = web.RequestKey("body", object)  # the parsed body, read once by the middleware


@dataclass
class Received:
    """One call as the stand-in saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any  # the JSON body, the text of any other body, or None
    raw: bytes = b""


@dataclass
class Fault:
    method: str | None
    path: str | None  # a regular expression the whole path must match
    status: int = 0  # 0: hang instead of answering
    body: Any = None
    headers: dict[str, str] | None = None
    times: int = 1
    after: bool = False  # hang after the handler did its work

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or re.fullmatch(self.path, path) is not None
        )


def problem(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    if isinstance(body, str):
        return web.Response(status=status, text=body, headers=headers)
    return web.json_response(body, status=status, headers=headers)


class StandIn:
    """Record, inject faults, check auth; subclasses add the API's routes."""

    strict_json = False  # refuse a POST or PUT whose body is not a JSON object

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.faults: list[Fault] = []
        self.release = asyncio.Event()
        self.url = ""  # set once the server runs

    # -- for tests ---------------------------------------------------------------------------
    def fail(
        self,
        status: int,
        body: Any = None,
        *,
        method: str | None = None,
        path: str | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` matching calls with `status`, before doing anything."""
        body = {"error": f"stand-in failure {status}"} if body is None else body
        self.faults.append(Fault(method, path, status, body, headers or {}, times))

    def hang(
        self, *, method: str | None = None, path: str | None = None, after: bool = False
    ) -> None:
        """Never answer the next matching call in time; with `after`, do its work first."""
        self.faults.append(Fault(method, path, after=after))

    def calls(self, method: str | None = None, path: str | None = None) -> list[Received]:
        return [
            r
            for r in self.received
            if (method is None or r.method == method)
            and (path is None or re.fullmatch(path, r.path))
        ]

    # -- the app -------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        self.routes(app.router)
        return app

    def routes(self, router: web.UrlDispatcher) -> None:
        raise NotImplementedError

    def authorized(self, request: web.Request) -> bool:
        return True  # the API checks its own credentials in its handlers

    def unauthorized(self) -> web.Response:
        return problem(401, {"error": "unauthorized"})

    def not_json(self) -> web.Response:
        return problem(400, {"error": "send JSON with Content-Type: application/json"})

    def _take(self, method: str, path: str, after: bool) -> Fault | None:
        for fault in self.faults:
            if fault.after == after and fault.times > 0 and fault.matches(method, path):
                fault.times -= 1
                return fault
        return None

    async def _hang(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.release.wait(), HANG_LIMIT_S)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        raw = await request.read()
        body: Any = None
        if raw:
            body = raw.decode(errors="replace")
            if request.content_type == "application/json":
                with contextlib.suppress(ValueError):
                    body = json.loads(raw)
        seen = Received(
            request.method, request.path, dict(request.query), dict(request.headers), body, raw
        )
        self.received.append(seen)
        request[BODY] = body
        fault = self._take(request.method, request.path, after=False)
        if fault is not None:
            if fault.status == 0:
                await self._hang()
            return problem(fault.status or 504, fault.body, fault.headers)
        if not self.authorized(request):
            return self.unauthorized()
        if (
            self.strict_json
            and request.method in ("POST", "PUT")
            and (request.content_type != "application/json" or not isinstance(body, dict))
        ):
            return self.not_json()
        response = await handler(request)
        if self._take(request.method, request.path, after=True) is not None:
            await self._hang()
        return response  # type: ignore[no-any-return]
