"""The satisfaction survey's page: the signed link in the survey notice
(`/v1/requests/{id}/survey?token=`), in Chinese or English, a plain form that works without
JavaScript (the status page's conventions: no scripts, no referrer, nothing cached). The same
path takes the answer as JSON for other clients. One answer per request: the first wins, a
second is thanked and refused; a forged link, an unknown request or a survey whose time is over
gets a page that says so, with its 4xx status."""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from frontdesk.queues.errors import AlreadyAnswered, RequestNotFound, SurveyClosed, WrongState
from frontdesk.queues.states import State
from frontdesk.router.api import status_page
from frontdesk.router.api.keys import STORE, SURVEYS
from frontdesk.router.feedback.config import SCORE
from frontdesk.router.feedback.service import Surveys
from frontdesk.router.http.auth import public
from frontdesk.router.http.body import read_body
from frontdesk.router.http.errors import ApiError, Refusal

MAX_FORM = 16 * 1024
MAX_COMMENT = 2000
_STYLE = "fieldset{border:0;padding:0;margin:1em 0}label{margin-right:1em}textarea{width:100%}"
_TEXT = {
    "zh": {
        "title": "您对请求 {id} 的服务满意吗？", "speed": "响应速度", "attitude": "服务态度",  # noqa: RUF001
        "effectiveness": "问题解决", "overall": "总体满意度", "comment": "意见（可选）",  # noqa: RUF001
        "send": "提交", "scale": "1 = 很不满意，5 = 非常满意",  # noqa: RUF001
        "thanks": "感谢您的评价！", "answered": "您已评价过这个请求，感谢！",  # noqa: RUF001
        "closed": "评价时间已过，感谢您的关注。", "invalid": "链接无效或已失效。",  # noqa: RUF001
        "open": "请求尚未处理完毕，处理完成后可以评价。", "missing": "请为总体满意度打分（1-5）。",  # noqa: RUF001
    },
    "en": {
        "title": "How did we do with request {id}?", "speed": "Speed", "attitude": "Attitude",
        "effectiveness": "Did it solve your problem", "overall": "Overall",
        "comment": "Comment (optional)", "send": "Send", "scale": "1 = very poor, 5 = excellent",
        "thanks": "Thank you for your answer!",
        "answered": "You answered this survey already; thank you!",
        "closed": "The time to answer this survey is over; thank you all the same.",
        "invalid": "This link is not valid, or no longer.",
        "open": "The request is not resolved yet; you can rate it once it is.",
        "missing": "Please give an overall score (1-5).",
    },
}  # fmt: skip


def _surveys(request: web.Request) -> Surveys:
    found = request.app[SURVEYS]
    if found is None or not found.settings.enabled:
        raise Refusal(404, "not_found", "no surveys are configured")
    return found


def _page(
    lang: str, request_id: str, lines: list[str], form: str = "", status: int = 200
) -> web.Response:
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines) + form
    return status_page.document(
        _TEXT[lang]["title"].format(id=request_id), body, lang, status=status, style=_STYLE,
        csp="; form-action 'self'",
    )  # fmt: skip


def _form(lang: str, surveys: Surveys, action: str) -> str:
    t = _TEXT[lang]
    parts = [f'<form method="post" action="{html.escape(action)}">',
             f'<p class="note">{html.escape(t["scale"])}</p>']  # fmt: skip
    for dim in surveys.settings.dimensions:
        label = html.escape(t.get(dim, dim.replace("_", " ").capitalize()))
        choices = "".join(
            f'<label><input type="radio" name="{dim}" value="{n}"'
            f"{' required' if dim == SCORE else ''}> {n}</label>"
            for n in range(1, 6)
        )
        parts.append(f"<fieldset><legend>{label}</legend>{choices}</fieldset>")
    parts.append(f'<p><label for="comment">{html.escape(t["comment"])}</label><br>'
                 f'<textarea id="comment" name="comment" rows="4" maxlength="{MAX_COMMENT}">'
                 f'</textarea></p><p><button type="submit">{html.escape(t["send"])}</button></p>'
                 "</form>")  # fmt: skip
    return "".join(parts)


async def _checked(request: web.Request) -> tuple[Surveys, str, str, Any]:
    """The surveys, the request id, the page's language and the record; a page for a bad link."""
    surveys = _surveys(request)
    request_id = request.match_info["id"]
    token = request.query.get("token", "")
    lang = status_page.language(request)
    if len(request_id) > 64 or len(token) > 128 or not surveys.valid(request_id, token):
        raise _Answer(lang, request_id, "invalid", 403)
    record = await request.app[STORE].get(request_id)
    if record is None:
        raise _Answer(lang, request_id, "invalid", 404)
    lang = status_page.language(request, record.request.language)
    return surveys, request_id, lang, record


class _Answer(Exception):
    def __init__(self, lang: str, request_id: str, key: str, status: int) -> None:
        self.lang, self.request_id, self.key, self.status = lang, request_id, key, status

    def response(self, browser: bool) -> web.Response:
        if browser:
            return _page(
                self.lang, self.request_id, [_TEXT[self.lang][self.key]], status=self.status
            )
        codes = {"invalid": "not_found", "answered": "already_answered", "closed": "survey_closed",
                 "open": "not_completed", "missing": "invalid"}  # fmt: skip
        field = SCORE if self.key == "missing" else None
        raise ApiError(self.status, codes[self.key], _TEXT["en"][self.key], field)


@public
async def survey(request: web.Request) -> web.StreamResponse:
    """GET: the form (or a page saying why there is none); POST: the answer."""
    browser = request.method == "GET" or request.content_type != "application/json"
    try:
        surveys, request_id, lang, record = await _checked(request)
        if request.method == "GET":
            if record.state is not State.COMPLETED:
                raise _Answer(lang, request_id, "open", 409)
            if record.feedback:
                raise _Answer(lang, request_id, "answered", 409)
            action = request.path_qs
            return _page(lang, request_id, [], _form(lang, surveys, action))
        score, dims, comment = await _answer_of(request, surveys, lang, request_id)
        try:
            await surveys.answer(request_id, score, dims, comment, "page")
        except AlreadyAnswered:
            raise _Answer(lang, request_id, "answered", 409) from None
        except SurveyClosed:
            raise _Answer(lang, request_id, "closed", 410) from None
        except (WrongState, RequestNotFound):
            raise _Answer(lang, request_id, "open", 409) from None
    except _Answer as refused:
        return refused.response(browser)
    if browser:
        return _page(lang, request_id, [_TEXT[lang]["thanks"]])
    return web.json_response({"id": request_id, "score": score, "answered": True})


async def _answer_of(
    request: web.Request, surveys: Surveys, lang: str, request_id: str
) -> tuple[int, dict[str, int], str]:
    raw = await read_body(request, MAX_FORM)  # all of it (413 past the limit)
    if request.content_type == "application/json":
        try:
            doc = json.loads(raw)
        except ValueError:
            raise Refusal(400, "invalid_json", "the body is not JSON") from None
        if not isinstance(doc, dict):
            raise Refusal(400, "invalid_json", "the body must be a JSON object")
        fields: dict[str, Any] = doc
    else:
        try:
            fields = dict(parse_qsl(raw.decode("utf-8"), max_num_fields=32))
        except (UnicodeDecodeError, ValueError):
            raise Refusal(400, "invalid", "the form is not UTF-8 form data") from None
    dims: dict[str, int] = {}
    for dim in surveys.settings.dimensions:
        value = fields.get(dim)
        if value in (None, ""):
            continue
        if str(value) not in ("1", "2", "3", "4", "5"):
            raise Refusal(400, "invalid", f"{dim}: must be a whole number from 1 to 5", dim)
        dims[dim] = int(value)
    if SCORE not in dims:
        raise _Answer(lang, request_id, "missing", 400)
    comment = fields.get("comment") or ""
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
        raise Refusal(
            400, "invalid", f"comment: text of at most {MAX_COMMENT} characters", "comment"
        )
    return dims[SCORE], dims, comment.strip()


def mount(app: web.Application) -> None:
    app.router.add_route("GET", "/v1/requests/{id}/survey", survey)
    app.router.add_route("POST", "/v1/requests/{id}/survey", survey)
