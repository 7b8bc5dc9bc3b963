"""The supervisors' email of a service-level warning or breach (`notices.supervisors`): sent
through the notices relay when the policy's actions say notify_supervisors, once per event
(claimed like the customers' notices), text only, in `notices.language`."""

# ruff: noqa: RUF001  (Chinese text takes Chinese punctuation)

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime

from redis.exceptions import RedisError

from frontdesk.queues.events import Event, EventType
from frontdesk.queues.notices import ClaimState, NoticeLog
from frontdesk.queues.store import QueueStore, RequestRecord
from frontdesk.router.outbound.notices import mail as notice_mail
from frontdesk.router.outbound.notices.config import NoticeSettings
from frontdesk.router.outbound.sinks import RetryLater

log = logging.getLogger("frontdesk.notices")

_WORDS = {
    "en": {
        "sla.breached": "SLA breached", "sla.warning": "SLA warning",
        "body": "Request {id} ({channel}, queue {queue}, {state}{agent}): {target} of policy "
        "{policy} {what} at {due} UTC{late}.\n\nSubject: {subject}\n",
        "breached": "was due", "warning": "is due", "late": " (noticed late: no daemon ran)",
        "held": ", held by ",
    },
    "zh": {
        "sla.breached": "SLA 已超时", "sla.warning": "SLA 预警",
        "body": "请求 {id}（{channel}，队列 {queue}，{state}{agent}）：策略 {policy} 的 {target} "
        "{what} {due} UTC{late}。\n\n主题：{subject}\n",
        "breached": "应于", "warning": "将于", "late": "（发现较晚：当时没有守护进程运行）",
        "held": "，处理人 ",
    },
}  # fmt: skip


def wanted(s: NoticeSettings, event: Event) -> bool:
    return (
        event.type in (EventType.SLA_WARNING, EventType.SLA_BREACHED)
        and bool(s.supervisors)
        and s.mail is not None
        and "notify_supervisors" in event.data.get("actions", "").split(",")
    )


def message(s: NoticeSettings, event: Event, record: RequestRecord) -> EmailMessage:
    assert s.mail is not None
    words = _WORDS["zh" if s.templates.default.startswith("zh") else "en"]
    due = datetime.fromtimestamp(int(event.data.get("due", "0")) / 1000, UTC)
    target = event.data.get("target", "")
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = Address(s.mail.sender_name, addr_spec=s.mail.sender)
    msg["To"] = ", ".join(s.supervisors)
    msg["Subject"] = (
        f"[{words[event.type.value]}] {record.request.id} {target} ({event.data.get('policy', '')})"
    )
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Frontdesk-Request"] = record.request.id
    msg.set_content(
        words["body"].format(
            id=record.request.id,
            channel=record.request.channel.value,
            queue=record.request.queue,
            state=record.state.value,
            agent=words["held"] + record.agent if record.agent else "",
            target=target,
            policy=event.data.get("policy", ""),
            what=words["breached" if event.type is EventType.SLA_BREACHED else "warning"],
            due=due.strftime("%Y-%m-%d %H:%M:%S"),
            late=words["late"] if event.data.get("late") == "1" else "",
            subject=notice_mail.customer_subject(record.request),
        )
    )
    return msg


async def tell(
    s: NoticeSettings, event: Event, record: RequestRecord, store: QueueStore, budget_s: float
) -> None:
    """One email to every supervisor for `event`, claimed so that it goes once."""
    assert s.mail is not None
    notices = NoticeLog.of(store)
    once = f"supervisors:{event.id}"
    claim = await notices.claim(record.request.id, once, budget_s)
    if claim.state is ClaimState.SENT:
        return
    if claim.state is ClaimState.PENDING:
        raise RetryLater(f"the supervisors' email of {event.id} is held", claim.retry_in_s + 1)
    try:
        msg = message(s, event, record)
        for to in s.supervisors:
            await notice_mail.send(s.mail, to, msg)
    except Exception:
        with contextlib.suppress(RedisError, OSError):
            await notices.release(record.request.id, once, claim.token)
        raise
    await notices.mark_sent(record.request.id, once)
    log.info("supervisors told of %s of %s (%s)", event.type.value, record.request.id, once)
