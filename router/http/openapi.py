"""The OpenAPI 3.1 document served at /v1/openapi.json. Channel modules add their own routes'
descriptions (a module-level `OPENAPI` dict of paths)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from frontdesk.router import __version__

Schema = dict[str, Any]

ERROR: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": ["string", "null"], "description": "the field refused"},
            },
        }
    },
}
_NULLABLE_TEXT: Schema = {"type": ["string", "null"]}
REQUEST: Schema = {
    "type": "object",
    "required": ["id", "state", "queue", "channel", "priority", "tier"],
    "properties": {
        "id": {"type": "string"},
        "state": {
            "enum": ["waiting", "offered", "assigned", "pending_customer", "completed", "abandoned"]
        },
        "queue": {"type": "string"},
        "channel": {"enum": ["email", "chat", "phone", "social", "form"]},
        "priority": {"enum": ["high", "medium", "low"]},
        "tier": {"type": "integer", "minimum": 1, "maximum": 3},
        "category": _NULLABLE_TEXT,
        "skills": {"type": "array", "items": {"type": "object"}},
        "agent": _NULLABLE_TEXT,
        "subject": {"type": "string"},
        "customer": {"type": "object"},
        "enqueued_at": {"type": ["string", "null"], "format": "date-time"},
        "offer_deadline": {"type": ["string", "null"], "format": "date-time"},
        "messages": {"type": "integer"},
        "attachments": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["filename", "content_type", "size", "url"],
                "properties": {
                    "filename": {"type": "string"},
                    "content_type": {"type": "string"},
                    "size": {"type": "integer"},
                    "url": {
                        "type": ["string", "null"],
                        "description": "GET it for the content; null: over the channel's limit",
                    },
                    "source": {
                        "type": ["string", "null"],
                        "description": "the platform's reference when the desk keeps no copy",
                    },
                },
            },
        },
        "resolution": _NULLABLE_TEXT,
        "sla": {
            "type": ["object", "null"],
            "description": "The service-level clocks: the policy, and per target its state "
            "(idle, running, paused, met, stopped), due_at, remaining_s, breached, met_at",
        },
        "feedback": {
            "type": ["object", "null"],
            "description": "The customer's survey answer: score 1-5, dimensions, comment, via "
            "(page, chat, email, social), at",
        },
        "follow_up_of": {"type": ["string", "null"], "description": "a follow-up: the request"},
        "follow_up": {
            "type": ["object", "null"],
            "description": "A follow-up call's outcome: reached, verdict, note, agent, of, at",
        },
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
AGENT: Schema = {
    "type": "object",
    "required": ["id", "name", "presence", "capacity", "load"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "presence": {"enum": ["available", "away", "offline"]},
        "capacity": {"type": "object", "additionalProperties": {"type": "integer"}},
        "load": {"type": "object", "additionalProperties": {"type": "integer"}},
        "skills": {"type": "object", "additionalProperties": {"type": "integer"}},
    },
}


def json_content(description: str, schema: Schema) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def operation(
    summary: str, operation_id: str, ok: Schema, *, path_params: tuple[str, ...] = (),
    body: Schema | None = None, secured: bool = True, errors: tuple[int, ...] = (),
) -> Schema:  # fmt: skip
    """One operation with the error answers every secured call can give."""
    responses: Schema = {"200": ok}
    if secured:
        responses["401"] = json_content("No valid bearer token", ERROR)
        responses["403"] = json_content("The token's scope does not allow this", ERROR)
    for status in errors:
        responses[str(status)] = json_content("Refused; the error names the field or reason", ERROR)
    responses["503"] = json_content("Redis does not answer; retry after Retry-After", ERROR)
    op: Schema = {"summary": summary, "operationId": operation_id, "responses": responses}
    if secured:
        op["security"] = [{"bearer": []}]
    if path_params:
        op["parameters"] = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in path_params
        ]
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def _obj(**props: Schema) -> Schema:
    return {"type": "object", "properties": props, "additionalProperties": False}


_TEXT: Schema = {"type": "string"}
_ACTIONS: dict[str, tuple[str, Schema]] = {
    "accept": (
        "Accept an offer (or, idempotent, a request the agent holds already: an assign-mode "
        "queue's); answers with the whole request and thread",
        _obj(agent=_TEXT),
    ),
    "reject": (
        "Turn an offer down; it goes to the next best agent",
        _obj(agent=_TEXT, reason=_TEXT),
    ),
    "messages": ("Reply to the customer on the request's channel", _obj(agent=_TEXT, text=_TEXT)),
    "complete": (
        "Finish; with wrap_up_s the agent takes no new work for that long. resolution: a code "
        "(at most 200 characters; one of notices.resolutions when configured), told to the "
        "customer in words; summary: the agent's own words for the customer's notice",
        _obj(
            agent=_TEXT,
            resolution={"type": "string", "maxLength": 200},
            summary={"type": "string", "maxLength": 1000},
            wrap_up_s={"type": "number", "minimum": 0},
        ),
    ),
    "transfer": (
        "Move to another queue, or to a named colleague (age kept)",
        _obj(agent=_TEXT, queue=_TEXT, to_agent=_TEXT, reason=_TEXT),
    ),
    "escalate": (
        "Up one tier, into the queue's escalate_to queue; reason_code one of escalation.reasons",
        _obj(agent=_TEXT, note=_TEXT, reason_code=_TEXT),
    ),
    "reclassify": (
        "Holder or supervisor: correct category, priority, skills (a waiting request is routed "
        "again)",
        _obj(
            agent=_TEXT,
            category=_TEXT,
            priority={"enum": ["high", "medium", "low"]},
            skills={"type": "array", "items": {"type": ["string", "object"]}},
        ),
    ),
    "call-attempts": (
        "Agent: a phone callback's call attempt and its outcome; a missed one waits "
        "callbacks.retry_after, the last (or a wrong number) completes the request",
        _obj(
            agent=_TEXT,
            outcome={"enum": ["reached", "no_answer", "busy", "wrong_number"]},
            note=_TEXT,
        ),
    ),
    "pending": (
        "Wait on the customer: the request's service-level clocks pause until they answer",
        _obj(agent=_TEXT, reason=_TEXT),
    ),
    "resume": ("Take a pending request up again (its clocks run again)", _obj(agent=_TEXT)),
    "milestones": (
        "Mark a stage of the request's service level done (a complaint's investigation_done)",
        _obj(agent=_TEXT, target=_TEXT, note=_TEXT),
    ),
}


def _core_paths() -> dict[str, Schema]:
    plain = {"description": "text", "content": {"text/plain": {"schema": {"type": "string"}}}}
    status = {"type": "object", "properties": {"status": {"type": "string"}}}
    paths: dict[str, Schema] = {
        "/healthz": {"get": operation("The process is up", "healthz",
                                      json_content("Alive", status), secured=False)},
        "/readyz": {"get": operation("Ready: Redis answers", "readyz",
                                     json_content("Ready", status), secured=False)},
        "/metrics": {"get": operation("Prometheus metrics", "metrics", plain, secured=False)},
        "/v1/requests/{id}": {"get": operation(
            "A request, where it stands, why it went where it went, and its thread (body, "
            "thread: author, at, attachments, auto; attributes)", "getRequest",
            json_content("The request", REQUEST), path_params=("id",), errors=(404,))},
        "/v1/requests/{id}/attachments/{ref}": {"get": operation(
            "An attachment's content, as a download (its `url` in the request)", "getAttachment",
            {"description": "The content, with its content type",
             "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
            path_params=("id", "ref"), errors=(404, 410))},
        "/v1/requests/{id}/assign": {"post": operation(
            "Supervisor: assign now to the named agent (never past capacity)", "assignRequest",
            json_content("The request", REQUEST), path_params=("id",),
            body=_obj(agent=_TEXT, reason=_TEXT), errors=(400, 404, 409))},
        "/v1/agents": {"get": operation(
            "Supervisor: every agent, live", "listAgents",
            json_content("Agents", {"type": "object", "properties": {
                "agents": {"type": "array", "items": AGENT}}}))},
        "/v1/agents/ws-ticket": {"post": operation(
            "Agent: a one-time ticket (30 s) to open the agent WebSocket from a browser",
            "issueWsTicket",
            {"description": "The ticket", "content": {"application/json": {"schema": {
                "type": "object", "required": ["ticket", "expires_in_s", "url"],
                "properties": {"ticket": _TEXT, "expires_in_s": {"type": "integer"},
                               "url": _TEXT}}}}})},
        "/v1/agents/{agent}": {"get": operation(
            "An agent and the work it holds", "getAgent", json_content("The agent", AGENT),
            path_params=("agent",), errors=(404,))},
        "/v1/agents/{agent}/presence": {"post": operation(
            "Available, away or offline; going away hands back offers", "setPresence",
            json_content("The agent", AGENT), path_params=("agent",),
            body=_obj(presence={"enum": ["available", "away", "offline"]}, reason=_TEXT),
            errors=(400, 404))},
        "/v1/agents/{agent}/capacity": {"put": operation(
            "Supervisor: capacity per channel", "setCapacity", json_content("The agent", AGENT),
            path_params=("agent",), body=_obj(capacity={"type": "object"}),
            errors=(400, 404, 409))},
        "/v1/agents/{agent}/skills": {"put": operation(
            "Supervisor: skills with proficiency 1-5", "setSkills",
            json_content("The agent", AGENT), path_params=("agent",),
            body=_obj(skills={"type": "object"}), errors=(400, 404, 409))},
        "/v1/queues": {"get": operation(
            "Every queue, live", "listQueues",
            json_content("Queues", {"type": "object",
                                    "properties": {"queues": {"type": "array"}}}))},
        "/v1/sla/at-risk": {"get": operation(
            "Supervisor: open requests nearest to a breach, soonest first (limit, within: s)",
            "slaAtRisk",
            json_content("At risk", {"type": "object", "properties": {
                "at_risk": {"type": "array"}, "now": {"type": "string"}}}),
            errors=(400,))},
    }  # fmt: skip
    paths.update(_care_paths())
    paths.update(_survey_paths())
    paths["/v1/requests/{id}/follow-up"] = {"post": operation(
        "Agent: the outcome of a follow-up call (reached, verdict: satisfied, unsatisfied, none; "
        "note), once", "recordFollowUp", json_content("The follow-up", REQUEST),
        path_params=("id",), errors=(400, 403, 404, 409),
        body=_obj(agent=_TEXT, reached={"type": "boolean"},
                  verdict={"enum": ["satisfied", "unsatisfied", "none"]}, note=_TEXT))}  # fmt: skip
    for action, (summary, body) in _ACTIONS.items():
        paths[f"/v1/requests/{{id}}/{action}"] = {
            "post": operation(
                summary,
                f"{action.split('-')[0]}{''.join(w.title() for w in action.split('-')[1:])}Request",
                json_content("The request", REQUEST),
                path_params=("id",),
                body=body,
                errors=(400, 404, 409, 422) if action == "milestones" else (400, 404, 409),
            )
        }
    paths["/v1/requests/{id}/messages"]["get"] = operation(
        "The request with its thread, the customer and the customer's other requests (open "
        "first), as accepting it answers: for its agent, a supervisor or an integration",
        "getRequestMessages", json_content("The request and its thread", REQUEST),
        path_params=("id",), errors=(404,))  # fmt: skip
    return paths


_CARE_ENTRY: Schema = {"type": "object", "properties": {
    "customer": _TEXT, "key": _TEXT, "until": {"type": ["string", "null"]}, "source": _TEXT,
    "reason": {"type": ["string", "null"]}, "since": {"type": ["string", "null"]}}}  # fmt: skip


_MERGED: Schema = {
    "type": "object",
    "properties": {
        "merged": _TEXT,
        "addresses_moved": {"type": "integer"},
        "customer": {"type": "object"},
    },
}


def _import() -> Schema:
    op = operation(
        "Supervisor: import a customer directory and its care lists (JSON or CSV); each row "
        "all or nothing, the bad ones reported by line", "importCustomers",
        json_content("Imported", {"type": "object", "properties": {
            "created": {"type": "integer"}, "updated": {"type": "integer"},
            "unchanged": {"type": "integer"}, "refused": {"type": "array"}}}),
        errors=(400, 413, 415))  # fmt: skip
    op["requestBody"] = {"required": True, "content": {
        "application/json": {"schema": {"type": ["array", "object"]}},
        "text/csv": {"schema": _TEXT}}}  # fmt: skip
    return op


def _care_paths() -> dict[str, Schema]:
    """The care lists (router/api/care.py)."""
    entry = ("id", "list")
    put = operation(
        "Supervisor: put a customer on a care list (for: 30d, or until: ISO 8601; neither: for "
        "ever), or change how long", "putCareEntry", json_content("Updated", _CARE_ENTRY),
        path_params=entry, errors=(400, 404),
        body=_obj(**{"for": _TEXT, "until": _TEXT, "reason": _TEXT}),
    )  # fmt: skip
    put["requestBody"]["required"] = False
    put["responses"]["201"] = json_content("Put on the list", _CARE_ENTRY)
    delete = operation(
        "Supervisor: take a customer off a care list",
        "deleteCareEntry",
        {"description": "Taken off"},
        path_params=entry,
        errors=(400, 404),
    )
    delete["responses"]["204"] = delete["responses"].pop("200")
    return {
        "/v1/care-lists/{list}": {"get": operation(
            "Supervisor: everyone on a care list (important, low_satisfaction) now",
            "listCare", json_content("The list", {"type": "object", "properties": {
                "list": _TEXT, "entries": {"type": "array", "items": _CARE_ENTRY}}}),
            path_params=("list",), errors=(404,))},
        "/v1/customers/{id}/lists/{list}": {
            "get": operation("Supervisor: a customer's entry on a care list", "getCareEntry",
                             json_content("On the list", _CARE_ENTRY), path_params=entry,
                             errors=(400, 404)),
            "put": put,
            "delete": delete,
        },
        "/v1/customers/{id}/merge": {"post": operation(
            "Supervisor: merge customer {id} into another (into): its addresses, requests and "
            "care-list standing follow", "mergeCustomer", json_content("Merged", _MERGED),
            path_params=("id",), errors=(400, 404, 409), body=_obj(into=_TEXT))},
        "/v1/customers/import": {"post": _import()},
    }  # fmt: skip


def _survey_paths() -> dict[str, Schema]:
    """The satisfaction survey's page (router/api/survey_page.py): customer-facing, signed."""
    page = {"description": "The survey page (text/html), or the JSON answer",
            "content": {"text/html": {"schema": _TEXT}, "application/json": {"schema": {
                "type": "object"}}}}  # fmt: skip
    token = {"name": "token", "in": "query", "required": True, "schema": _TEXT}
    ops: dict[str, Schema] = {}
    for method, summary, errors in (
        ("get", "Customer: the satisfaction survey's form", (403, 404, 409)),
        ("post", "Customer: answer the survey (form post or JSON: overall 1-5, the other "
         "dimensions, comment); the first answer wins", (400, 403, 404, 409, 410, 413)),
    ):  # fmt: skip
        op = operation(summary, f"{method}Survey", page, path_params=("id",), secured=False,
                       errors=errors)  # fmt: skip
        op["parameters"].append(token)
        if method == "post":
            op["requestBody"] = {"required": True, "content": {
                "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
                "application/json": {"schema": {"type": "object"}}}}  # fmt: skip
        ops[method] = op
    return {"/v1/requests/{id}/survey": ops}


_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")


def from_routes(channel: str, routes: list[web.RouteDef]) -> dict[str, Schema]:
    """Plain descriptions of a channel's routes (customer-facing: no bearer token), for a channel
    that does not describe its own."""
    paths: dict[str, Schema] = {}
    for route in routes:
        if route.method in ("*", "HEAD"):
            continue
        path = _PARAM.sub(lambda m: "{" + m[1] + "}", route.path)
        name = re.sub(r"\W+", "_", f"{channel}_{route.method}_{path}").strip("_")
        answer = {"description": "Accepted (the channel's own success body)"}
        op = operation(f"{channel} channel: {route.method} {path}", name, answer,
                       path_params=tuple(_PARAM.findall(path)), secured=False,
                       errors=(400, 401, 403, 404, 413, 429))  # fmt: skip
        paths.setdefault(path, {})[route.method.lower()] = op
    return paths


def document(extra_paths: dict[str, Schema] | None = None) -> Schema:
    """The whole document; `extra_paths` are the enabled channels' routes."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "frontdesk",
            "version": __version__,
            "description": "Omnichannel intake and skills-based routing. The agent WebSocket is "
            "GET /v1/agents/ws with an agent token, or with ?ticket= from POST "
            "/v1/agents/ws-ticket in a browser (see the README for its frames).",
        },
        "paths": _core_paths() | (extra_paths or {}),
        "components": {
            "schemas": {"Error": ERROR, "Request": REQUEST, "Agent": AGENT},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
