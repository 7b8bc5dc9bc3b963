"""The OpenAPI 3.1 document served at /v1/openapi.json."""

from __future__ import annotations

from typing import Any

from frontdesk.router import __version__

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _status(value: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string", "const": value}},
    }


_REQUEST = {
    "type": "object",
    "required": ["id", "state", "queue", "channel", "priority", "tier"],
    "properties": {
        "id": {"type": "string"},
        "state": {"enum": ["waiting", "offered", "assigned", "completed", "abandoned"]},
        "queue": {"type": "string"},
        "channel": {"enum": ["email", "chat", "phone", "social", "form"]},
        "priority": {"enum": ["high", "medium", "low"]},
        "tier": {"type": "integer", "minimum": 1, "maximum": 3},
        "category": {"type": ["string", "null"]},
        "skills": {"type": "array", "items": {"type": "object"}},
        "agent": {"type": ["string", "null"]},
        "subject": {"type": "string"},
        "customer": {"type": "object"},
        "enqueued_at": {"type": ["string", "null"], "format": "date-time"},
        "offer_deadline": {"type": ["string", "null"], "format": "date-time"},
        "messages": {"type": "integer"},
        "resolution": {"type": ["string", "null"]},
        "position": {"type": ["integer", "null"], "description": "1-based, while waiting"},
        "estimated_wait_s": {"type": ["number", "null"]},
        "routing": {
            "type": ["object", "null"],
            "description": "Why the last offer or assignment went where it went: queue, "
            "assignment mode, seconds waited, the score and each weighted term, the weights, "
            "the relaxation steps in force, and the size of the decision window.",
        },
    },
}


def document() -> dict[str, Any]:
    unavailable = _json("Redis does not answer; retry after the Retry-After seconds", _ERROR)
    refused = {
        "401": _json("No valid bearer token", _ERROR),
        "403": _json("The token's scope does not allow this", _ERROR),
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "frontdesk", "version": __version__},
        "paths": {
            "/healthz": {
                "get": {
                    "summary": "The process is up",
                    "operationId": "healthz",
                    "responses": {"200": _json("Alive", _status("ok"))},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Ready to take requests (Redis answers)",
                    "operationId": "readyz",
                    "responses": {"200": _json("Ready", _status("ready")), "503": unavailable},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "operationId": "metrics",
                    "responses": {
                        "200": {
                            "description": "Prometheus text exposition format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/v1/requests/{id}": {
                "get": {
                    "summary": "A request, where it stands, and why it went where it went",
                    "operationId": "getRequest",
                    "security": [{"bearer": []}],
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": _json("The request", _REQUEST),
                        **refused,
                        "404": _json("No such request (or not this agent's)", _ERROR),
                        "503": unavailable,
                    },
                }
            },
        },
        "components": {
            "schemas": {"Error": _ERROR, "Request": _REQUEST},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
