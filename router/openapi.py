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


def document() -> dict[str, Any]:
    unavailable = _json("Redis does not answer; retry after the Retry-After seconds", _ERROR)
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
        },
        "components": {"schemas": {"Error": _ERROR}},
    }
