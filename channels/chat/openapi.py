"""The web chat's REST fallback in the OpenAPI document: its operations, bodies and answers
(the WebSocket speaks the same frames; see the README)."""

from __future__ import annotations

from typing import Any

from frontdesk.channels.chat.protocol import MESSAGE_ID, NAME_CHARS, START_ID, TOPIC_CHARS

_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_MESSAGE: dict[str, Any] = {
    "type": "object",
    "required": ["seq", "from", "text", "at"],
    "properties": {
        "seq": {"type": "integer", "minimum": 1, "description": "1-based, in the request"},
        "from": {"enum": ["customer", "agent", "system"]},
        "text": {"type": "string"},
        "at": {"type": "number", "description": "when it was received, Unix seconds"},
        "id": {"type": "string", "description": "the client's id of a customer's message"},
        "agent": {"type": ["string", "null"]},
    },
}
_VIEW: dict[str, Any] = {
    "type": "object",
    "required": [
        "conversation",
        "request",
        "state",
        "position",
        "estimated_wait_s",
        "agent",
        "messages",
        "next",
    ],
    "properties": {
        "conversation": {"type": "string"},
        "request": {"type": "string", "description": "the request id, FD-<n>"},
        "state": {"enum": ["waiting", "assigned", "completed", "abandoned"]},
        "topic": {"type": "string", "description": "the opening topic (with after=0 only)"},
        "text": {"type": "string", "description": "the opening message (with after=0 only)"},
        "position": {"type": ["integer", "null"], "description": "1-based, while waiting"},
        "estimated_wait_s": {"type": ["number", "null"]},
        "agent": {"type": ["string", "null"], "description": "the agent's name, once assigned"},
        "messages": {"type": "array", "items": _MESSAGE, "description": "after `after`"},
        "next": {"type": "integer", "description": "pass as `after` on the next poll"},
    },
}
_STARTED = {**_VIEW, "required": [*_VIEW["required"], "token"],
            "properties": {**_VIEW["properties"], "token": {"type": "string"}}}  # fmt: skip
_CONTACT = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"email": {"type": "string"}, "phone": {"type": "string"}},
}
_START = {
    "type": "object",
    "required": ["text"],
    "additionalProperties": False,
    "properties": {
        "type": {"const": "start"},
        "text": {"type": "string", "description": "the first message"},
        "name": {"type": "string", "maxLength": NAME_CHARS},
        "contact": _CONTACT,
        "topic": {"type": "string", "maxLength": TOPIC_CHARS},
        "language": {"type": "string", "description": "e.g. en, zh-CN"},
        "id": {
            "type": "string",
            "pattern": START_ID.pattern,
            "description": "the client's id: the same start sent again answers the same",
        },
    },
}
_SEND = {
    "type": "object",
    "required": ["id", "text"],
    "additionalProperties": False,
    "properties": {
        "type": {"const": "message"},
        "id": {"type": "string", "pattern": MESSAGE_ID.pattern},
        "text": {"type": "string"},
    },
}


def _answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _param(name: str, where: str, description: str, schema: dict[str, Any] | None = None,
           required: bool = True) -> dict[str, Any]:  # fmt: skip
    return {"name": name, "in": where, "required": required, "description": description,
            "schema": schema or {"type": "string"}}  # fmt: skip


_SITE = _param("site", "query", "the site's public key (channels.chat.sites[].key)")
_TOKEN_PARAM = _param("token", "query", "the conversation's token, from the start")
_ID = _param("id", "path", "the conversation id, from the start")
_ERRORS = {
    "400": "Bad input; `field` names it",
    "403": "Unknown site, an Origin the site does not list, or a wrong token",
    "404": "The conversation is gone",
    "409": "The conversation has ended",
    "413": "Too large",
    "429": "Rate limited; see Retry-After",
    "503": "Storage unavailable; see Retry-After",
}


def _op(summary: str, name: str, ok: dict[str, Any], errors: str, **more: Any) -> dict[str, Any]:
    responses = dict(ok)
    for status in errors.split():
        responses[status] = _answer(_ERRORS[status], _ERROR_REF)
    return {"summary": summary, "operationId": name, "security": [], "responses": responses,
            "tags": ["chat"], **more}  # fmt: skip


def openapi_paths() -> dict[str, Any]:
    """The REST fallback for the API document. The WebSocket, GET /v1/chat/ws?site=KEY, speaks
    the same frames (see the README)."""
    one = [_ID, _SITE, _TOKEN_PARAM]
    return {
        "/v1/chat/conversations": {
            "post": _op(
                "Start a web chat conversation (customer-facing; the site key admits it)",
                "chatStart",
                {
                    "201": _answer("Started", _STARTED),
                    "200": _answer("The same start again", _STARTED),
                },
                "400 403 413 429 503",
                parameters=[_SITE],
                requestBody={"required": True, "content": {"application/json": {"schema": _START}}},
            )
        },
        "/v1/chat/conversations/{id}": {
            "get": _op(
                "Poll a conversation: its state, queue position, wait, and new messages",
                "chatPoll",
                {"200": _answer("Where the conversation stands", _VIEW)},
                "400 403 404 503",
                parameters=[
                    *one,
                    _param(
                        "after",
                        "query",
                        "messages after this seq",
                        {"type": "integer", "minimum": 0},
                        required=False,
                    ),
                ],
            )
        },
        "/v1/chat/conversations/{id}/messages": {
            "post": _op(
                "Send the customer's message (idempotent by its id)",
                "chatSend",
                {
                    "201": _answer("Appended", _SENT),
                    "200": _answer("Sent before: not appended again", _SENT),
                },
                "400 403 404 409 413 429 503",
                parameters=one,
                requestBody={"required": True, "content": {"application/json": {"schema": _SEND}}},
            )
        },
        "/v1/chat/conversations/{id}/end": {
            "post": _op(
                "The customer ends the conversation",
                "chatEnd",
                {"200": _answer("Where the conversation stands now", _VIEW)},
                "400 403 404 503",
                parameters=one,
            )
        },
    }


_SENT = {
    "type": "object",
    "required": ["id", "duplicate"],
    "properties": {"id": {"type": "string"}, "duplicate": {"type": "boolean"}},
}
