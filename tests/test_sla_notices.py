"""What a service-level breach tells people (router/outbound/notices): the customer's `late`
notice on their own channel, once per target, in their language; the supervisors' email through
the same relay; nothing when the policy does not ask. Real events from a real breach (the SLA
timer on real Redis), a real SMTP relay on loopback."""

# ruff: noqa: F811  (the fixtures of test_notices, imported, are the tests' arguments)
from __future__ import annotations

import asyncio

import pytest
from conftest import FRONT_CONFIG
from test_notices import (  # noqa: F401  (fixtures)
    SMTP_SECTION,
    context,
    customer_mail,
    mailed,
    notices_yaml,
    plain,
    sink_for,
    sinks,
)

from frontdesk.queues.events import Event, EventLog, EventType
from frontdesk.queues.store import QueueStore
from frontdesk.router.conf.yaml import ConfigError
from frontdesk.router.daemon.settings import Settings, parse_settings
from frontdesk.router.sla.timer import SlaTimer, timer_settings

POLICY = """\
sla:
  tick: 50ms
  policies:
    - name: email
      when: {{channel: email}}
      targets:
        first_response: {{within: 300ms, warning_at: 50%}}
      on_warning: [{warning}]
      on_breach: [{breach}]
"""


def with_policy(warning: str, breach: str) -> Settings:
    text = FRONT_CONFIG + SMTP_SECTION + POLICY.format(warning=warning, breach=breach)
    return parse_settings(text, "front.yaml")


@pytest.fixture
def front_settings(request) -> Settings:
    warning, breach = getattr(request, "param", ("notify_customer", "notify_customer"))
    return with_policy(warning, breach)


async def fired(store: QueueStore, settings: Settings, request_id: str) -> list[Event]:
    """The request's warning and breach, fired by a real SLA timer."""
    timer = SlaTimer(store.sla, store, lambda: timer_settings(settings))
    await timer.publish(force=True)
    log = EventLog(store.redis, store.keys)
    wanted = (EventType.SLA_WARNING, EventType.SLA_BREACHED)
    for _ in range(200):
        await timer.step()
        found = [e for e in await log.range() if e.request == request_id and e.type in wanted]
        if len(found) == 2:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError("the timer fired no warning and breach")


SUPERVISORS = "  supervisors: [lead@example.com, duty@example.com]\n"


@pytest.mark.parametrize(
    "front_settings", [("notify_customer", "notify_customer, notify_supervisors")], indirect=True
)
async def test_the_customer_hears_once_and_the_supervisors_hear_of_the_breach(
    front, store, context, relay, sink_for, front_settings
) -> None:
    sink = sink_for(notices_yaml(relay, SUPERVISORS))
    rid = await mailed(front, customer_mail())
    warning, breach = await fired(store, front_settings, rid)
    assert sink.wants(warning) and sink.wants(breach)
    await sink.deliver(warning, context)
    await sink.deliver(breach, context)
    await sink.deliver(breach, context)  # delivered again: nothing more
    to_customer = [m for m in relay.received if "fang@example.net" in m.rcpt_tos]
    to_leads = [m for m in relay.received if "fang@example.net" not in m.rcpt_tos]
    assert len(to_customer) == 1  # one late notice per target: the warning's
    body = plain(to_customer[0].message)
    assert "first reply" in body and rid in body and "is late" in body
    assert sorted(r for m in to_leads for r in m.rcpt_tos) == [
        "duty@example.com",
        "lead@example.com",
    ]
    lead = to_leads[0].message
    assert lead["Subject"] == f"[SLA breached] {rid} first_response (email)"
    assert lead["Auto-Submitted"] == "auto-generated"
    assert "first_response of policy email was due at" in plain(lead)


@pytest.mark.parametrize("front_settings", [("raise_priority", "escalate")], indirect=True)
async def test_nothing_is_sent_when_the_policy_does_not_ask(
    front, store, context, relay, sink_for, front_settings
) -> None:
    sink = sink_for(notices_yaml(relay, SUPERVISORS))
    rid = await mailed(front, customer_mail())
    warning, breach = await fired(store, front_settings, rid)
    assert not sink.wants(warning) and not sink.wants(breach)
    await sink.deliver(breach, context)
    assert [m for m in relay.received if "fang@example.net" in m.rcpt_tos] == []


@pytest.mark.parametrize("front_settings", [("notify_customer", "escalate")], indirect=True)
async def test_the_late_notice_is_in_chinese_for_a_chinese_request(
    front, store, context, relay, sink_for, front_settings
) -> None:
    sink = sink_for(notices_yaml(relay))
    rid = await mailed(front, customer_mail(subject="无法登录", body="我的密码重置链接无效。"))
    warning, _ = await fired(store, front_settings, rid)
    await sink.deliver(warning, context)
    (mail,) = relay.received
    body = plain(mail.message)
    assert "首次回复" in body and rid in body


def test_supervisors_must_be_addresses_and_need_the_relay() -> None:
    from test_notices import problems

    found = problems(notices_yaml(None, "  supervisors: [lead@example.com, not-an-address]\n"))
    assert any("notices.supervisors[1]" in p and "not an email address" in p for p in found)
    assert any("needs from and smtp" in p for p in found)
    with pytest.raises(ConfigError):
        with_policy("notify_customer", "nonsense")
