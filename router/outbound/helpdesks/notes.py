"""What the connectors write on a ticket after creating it: each follow-up message of the
request (the customer's words and an agent's reply: public; an auto-reply or a system message:
an internal note), and an internal note for each escalation, transfer, SLA warning or breach
and reopening (the escalation's reason code forwarded).

An event applied from a helpdesk's own webhook carries `origin: helpdesk:<name>` (in its data,
or in an assignment's `why`); that helpdesk's connector never writes it back (no loop)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from frontdesk.queues.events import Event, EventType
from frontdesk.queues.request import Message

NOTED = frozenset(
    {
        EventType.ESCALATED,
        EventType.TRANSFERRED,
        EventType.SLA_WARNING,
        EventType.SLA_BREACHED,
        EventType.REOPENED,
    }
)
MAX_NOTE = 20000


@dataclass(frozen=True, slots=True)
class Note:
    """One article, comment, message or follow-up on a ticket."""

    text: str
    public: bool
    author: str = "system"  # customer, agent, system


def origin_of(event: Event) -> str:
    """Where the event's change came from: '' (frontdesk) or 'helpdesk:<name>'."""
    if event.data.get("origin"):
        return event.data["origin"]
    why = event.data.get("why")
    if why and why.startswith("{"):
        try:
            found = json.loads(why)
        except ValueError:
            return ""
        origin = found.get("origin") if isinstance(found, dict) else None
        if isinstance(origin, str):
            return origin
    return ""


def message_note(message: Message) -> Note:
    """A follow-up message as the ticket shows it: a person's words are public; an auto-reply
    (out of office, list mail) and a system message are internal notes."""
    body = message.body.strip() or "(no text)"
    if message.attachments:
        files = ", ".join(a.filename for a in message.attachments)
        body = f"{body}\n\n[attachments: {files}]"
    if message.auto:
        return Note(f"Auto-reply ({message.auto}) from the customer:\n\n{body}"[:MAX_NOTE], False)
    if message.author in ("customer", "agent"):
        return Note(body[:MAX_NOTE], True, message.author)
    return Note(body[:MAX_NOTE], False)


def note_text(event: Event) -> str:
    """The internal note for an escalation, transfer, SLA event or reopening."""
    d = event.data
    who = f" by {event.agent}" if event.agent else ""
    if event.type is EventType.ESCALATED:
        lines = [f"frontdesk: escalated{who} from {d.get('from', '?')} to {event.queue} "
                 f"(tier {d.get('tier', '?')})"]  # fmt: skip
        if d.get("reason_code") or d.get("reason"):
            lines.append(f"Reason code: {d.get('reason_code') or d['reason']}")
        if d.get("note"):
            lines.append(f"Note: {d['note']}")
    elif event.type is EventType.TRANSFERRED:
        lines = [f"frontdesk: transferred{who} from {d.get('from', '?')} to {event.queue}"]
        if d.get("reason"):
            lines.append(f"Reason: {d['reason']}")
    elif event.type is EventType.REOPENED:
        lines = [f"frontdesk: reopened by a new message of the customer (queue {event.queue})"]
    else:
        kind = "warning" if event.type is EventType.SLA_WARNING else "breached"
        lines = [f"frontdesk: SLA {kind}: {d.get('target', '?')} of policy "
                 f"{d.get('policy', '?')}, due {_instant(d.get('due', ''))}"]  # fmt: skip
    return "\n".join(lines)[:MAX_NOTE]


def _instant(ms: str) -> str:
    if not ms.isdigit() or int(ms) == 0:
        return "?"
    return datetime.fromtimestamp(int(ms) / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
