"""The web chat's REST fallback, for a client without a WebSocket: the same conversations by
plain requests, each admitted by its site key and Origin (CORS for the site's origins), refusals
rendered by json_errors.

    POST /v1/chat/conversations?site=KEY                        start
    POST /v1/chat/conversations/{id}/messages?site=KEY&token=T  send (idempotent by message id)
    POST /v1/chat/conversations/{id}/end?site=KEY&token=T       the customer ends it
    GET  /v1/chat/conversations/{id}?site=KEY&token=T&after=N   poll: state, position, messages
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from redis.exceptions import RedisError

from frontdesk.channels.chat.config import Site
from frontdesk.channels.chat.conversations import Conversation, Conversations
from frontdesk.channels.chat.protocol import ChatError, decode_send, decode_start
from frontdesk.router.http.auth import public
from frontdesk.router.http.errors import Handler, allow_origin

log = logging.getLogger("frontdesk.chat")

Method = Callable[[web.Request, Site], Awaitable[web.Response]]


class RestFallback:
    """The REST routes of one daemon's web chat."""

    def __init__(self, chats: Conversations) -> None:
        self.chats = chats
        self.settings = chats.settings

    def routes(self) -> list[web.RouteDef]:
        conversation = "/v1/chat/conversations/{id}"
        rest = ("/v1/chat/conversations", f"{conversation}/messages", f"{conversation}/end")
        return [
            web.post("/v1/chat/conversations", self._rest(self._rest_start, origin=True)),
            web.post(f"{conversation}/messages", self._rest(self._rest_send)),
            web.post(f"{conversation}/end", self._rest(self._rest_end)),
            web.get(conversation, self._rest(self._rest_poll)),
            *(web.route("OPTIONS", p, self._rest(self._preflight)) for p in (*rest, conversation)),
        ]

    def _rest(self, method: Method, origin: bool = False) -> Handler:
        """A public REST handler: site key and Origin checked (`origin`: an Origin is required
        when the site lists origins); json_errors adds the CORS headers and renders refusals."""

        async def handler(request: web.Request) -> web.StreamResponse:
            site = self.chats.site(request, origin)
            if sent := request.headers.get("Origin"):
                allow_origin(request, sent)
            try:
                return await method(request, site)
            except RedisError:  # as every chat refusal: with its field (null), as the socket's
                log.warning("Redis unavailable while serving %s %s", request.method, request.path)
                raise ChatError.unavailable() from None

        return public(handler)

    async def _preflight(self, request: web.Request, site: Site) -> web.Response:
        return web.Response(
            status=204,
            headers={
                "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                "Access-Control-Allow-Headers": "Content-Type",
                "Access-Control-Max-Age": "600",
            },
        )

    async def _body(self, request: web.Request) -> bytes:
        """The whole body, up to the frame limit (`read(n)` gives up to n bytes: loop to EOF)."""
        limit = self.settings.frame_limit
        if request.content_length is not None and request.content_length > limit:
            raise ChatError("too_large", f"the body is larger than {limit} bytes", "body")
        raw = bytearray()
        while len(raw) <= limit:
            chunk = await request.content.read(limit + 1 - len(raw))
            if not chunk:
                return bytes(raw)
            raw += chunk
        raise ChatError("too_large", f"the body is larger than {limit} bytes", "body")

    async def _conversation(self, request: web.Request) -> Conversation:
        token = request.query.get("token")
        if not token:
            raise ChatError("missing", "the conversation's token is required: ?token=T", "token")
        return await self.chats.open_conversation(request.match_info["id"], token)

    async def _rest_start(self, request: web.Request, site: Site) -> web.Response:
        frame = decode_start(await self._body(request), self.settings.max_message_bytes)
        started = await self.chats.start_conversation(site, frame, request.remote)
        view = await self.chats.view(started.conversation, 0)
        return web.json_response(
            {"token": started.token, **view}, status=201 if started.created else 200
        )

    async def _rest_send(self, request: web.Request, site: Site) -> web.Response:
        conv = await self._conversation(request)
        frame = decode_send(await self._body(request), self.settings.max_message_bytes)
        duplicate = await self.chats.send_message(conv, frame, request.remote)
        return web.json_response(
            {"id": frame.id, "duplicate": duplicate}, status=200 if duplicate else 201
        )

    async def _rest_end(self, request: web.Request, site: Site) -> web.Response:
        conv = await self._conversation(request)
        await self.chats.end_conversation(conv)
        return web.json_response(await self.chats.view(conv, 0) | {"messages": []})

    async def _rest_poll(self, request: web.Request, site: Site) -> web.Response:
        conv = await self._conversation(request)
        raw = request.query.get("after", "0")
        if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
            raise ChatError("invalid", "after must be a whole number of at least 0", "after")
        return web.json_response(await self.chats.view(conv, int(raw)))
