"""The customer's status page: what `GET /v1/requests/{id}/status?token=` shows a browser (the
link in every notice), in the request's language (Chinese or English), refreshed every 30 s
while the request is open. API clients asking for JSON get the JSON view."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from aiohttp import web

REFRESH_S = 30
_TEXT = {
    "zh": {
        "title": "您的请求 {id}",
        "waiting": "正在排队：您是第 {position} 位。",
        "waiting_unknown": "正在排队，客服会尽快处理。",
        "wait": "预计等待约 {minutes} 分钟。",
        "call_at": "我们将在 {when} 给您回电。",
        "offered": "一位客服即将接手您的请求。",
        "assigned": "{agent} 正在处理您的请求。",
        "assigned_anonymous": "客服正在处理您的请求。",
        "completed": "您的请求已处理完毕。",
        "abandoned": "您的请求已关闭。",
        "pending_customer": "我们在等您的回复：回复后即继续处理。",
        "due": "{target}：承诺于 {when} 前完成。",
        "met": "{target}：已完成。",
        "late": "{target}：已超时，我们正在加急处理。",
        "first_response": "首次回复",
        "next_response": "下一次回复",
        "resolution": "解决",
        "investigation_started": "开始调查",
        "investigation_done": "调查完成",
        "final_answer": "最终答复",
        "refresh": "本页每 30 秒自动刷新。",
        "not_found": "找不到这个请求，或者链接已失效。",
    },
    "en": {
        "title": "Your request {id}",
        "waiting": "In the queue: you are number {position}.",
        "waiting_unknown": "In the queue; an agent will be with you soon.",
        "wait": "Estimated wait: about {minutes} min.",
        "call_at": "We will call you at {when}.",
        "offered": "An agent is about to pick up your request.",
        "assigned": "{agent} is working on your request.",
        "assigned_anonymous": "An agent is working on your request.",
        "completed": "Your request has been resolved.",
        "abandoned": "Your request has been closed.",
        "pending_customer": "We are waiting for your reply; we carry on as soon as you answer.",
        "due": "{target}: promised by {when}.",
        "met": "{target}: done.",
        "late": "{target}: overdue; we are hurrying it along.",
        "first_response": "First reply",
        "next_response": "Next reply",
        "resolution": "Resolution",
        "investigation_started": "Investigation started",
        "investigation_done": "Investigation done",
        "final_answer": "Final answer",
        "refresh": "This page refreshes every 30 seconds.",
        "not_found": "No such request, or the link is no longer valid.",
    },
}
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36em;margin:3em auto;padding:0 1em;"
    "color:#222}h1{font-size:1.4em}p{font-size:1.1em;line-height:1.5}.note{color:#777;"
    "font-size:.9em}"
)


def wants_html(request: web.Request) -> bool:
    """A browser following a link: it asks for text/html before JSON."""
    accept = request.headers.get("Accept", "")
    html_at, json_at = accept.find("text/html"), accept.find("application/json")
    return html_at >= 0 and (json_at < 0 or html_at < json_at)


def language(request: web.Request, preferred: str | None = None) -> str:
    """zh or en: the request's own language, else the browser's first choice."""
    for tag in (preferred or "", request.headers.get("Accept-Language", "")):
        if tag.strip().lower().startswith("zh"):
            return "zh"
        if tag.strip():
            return "en"
    return "en"


def page(view: dict[str, Any], lang: str) -> web.Response:
    """The status page for `view` (the JSON view: id, state, position, estimated_wait_s,
    call_at, agent, service_levels)."""
    t = _TEXT[lang]
    state = view["state"]
    lines: list[str] = []
    if state == "waiting":
        position = view.get("position")
        lines.append(t["waiting"].format(position=position) if position else t["waiting_unknown"])
        wait = view.get("estimated_wait_s")
        if view.get("call_at"):  # a held phone callback: when, rather than how long
            when = datetime.fromisoformat(view["call_at"]).strftime("%Y-%m-%d %H:%M UTC")
            lines.append(t["call_at"].format(when=when))
        elif wait is not None:
            lines.append(t["wait"].format(minutes=max(1, round(wait / 60))))
    elif state == "assigned":
        agent = view.get("agent")
        lines.append(t["assigned"].format(agent=agent) if agent else t["assigned_anonymous"])
    else:
        lines.append(t.get(state, t["waiting_unknown"]))
    for promise in view.get("service_levels") or ():
        lines.append(_promise(t, promise))
    open_ = state in ("waiting", "offered", "assigned", "pending_customer")
    return _document(t["title"].format(id=view["id"]), lines, lang, refresh=open_, note=open_)


def _promise(t: dict[str, str], promise: dict[str, Any]) -> str:
    """One service-level promise in words; `when` is local to its calendar (`local_due`)."""
    target = t.get(promise["target"], promise["target"].replace("_", " ").capitalize())
    if promise["state"] == "met":
        return t["met"].format(target=target)
    if promise.get("breached"):
        return t["late"].format(target=target)
    return t["due"].format(target=target, when=promise.get("local_due") or promise["due_at"])


def not_found(lang: str) -> web.Response:
    t = _TEXT[lang]
    response = _document(t["title"].format(id=""), [t["not_found"]], lang, False, False)
    response.set_status(404)
    return response


def _document(title: str, lines: list[str], lang: str, refresh: bool, note: bool) -> web.Response:
    t = _TEXT[lang]
    head = f'<meta http-equiv="refresh" content="{REFRESH_S}">' if refresh else ""
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    if note:
        body += f'<p class="note">{html.escape(t["refresh"])}</p>'
    return document(title, body, lang, head=head)


def document(
    title: str, body: str, lang: str, *, status: int = 200, head: str = "", style: str = "",
    csp: str = "",
) -> web.Response:  # fmt: skip
    """A customer's page (the status page, the survey): `body` is HTML already escaped; no
    scripts, nothing cached, no referrer (the token is in the address); `csp` adds directives
    (a form's `form-action 'self'`)."""
    text = (
        f'<!doctype html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head>'
        f'<meta charset="utf-8"><meta name="viewport" content="width=device-width">{head}'
        f"<title>{html.escape(title)}</title><style>{_STYLE}{style}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(
        text=text,
        status=status,
        content_type="text/html",
        headers={
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'" + csp,
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )
