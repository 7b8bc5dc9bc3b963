"""The report figures against a sequence worked out by hand: four requests over a Monday and a
Tuesday on a Shanghai desk (Mon-Fri 08:30-18:00), with the events their scripts emit, added
through the real apply script on the real Redis, then read back as every report. Each number
below is computed in the comment beside it."""

from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from frontdesk.queues.events import Event, EventType
from frontdesk.queues.reports import EventAdds, ReportStore
from frontdesk.router.conf.calendar import Calendar
from frontdesk.router.reports.figures import Basis, adds, bucket, reason_of, split
from frontdesk.router.reports.query import ReportError, parse_query
from frontdesk.router.reports.render import as_csv, as_json
from frontdesk.router.reports.tables import quantile, run

SHANGHAI = ZoneInfo("Asia/Shanghai")
H = 3600
DESK = Calendar("desk", SHANGHAI, (((8 * H + 1800, 18 * H),),) * 5 + ((), ()))
E = EventType


def at(day: int, hh: int, mm: int, ss: int = 0) -> int:
    """ms of 2026-03-<day> hh:mm:ss in Shanghai (the 2nd is a Monday)."""
    return int(datetime(2026, 3, day, hh, mm, ss, tzinfo=SHANGHAI).timestamp() * 1000)


_SEQ = iter(range(10**6))


def ev(ms: int, etype: EventType, req: str = "", agent: str = "", queue: str = "", **data: str):
    """An event as its script emits it; ids unique as a stream's (ms-seq)."""
    return Event(f"{ms}-{next(_SEQ)}", etype, req, agent, queue, ms, dict(data))


CHAT = {"channel": "chat"}
SEQUENCE = [
    # R1: a chat about an order, answered in 50 s, resolved by its first agent: FCR
    ev(at(2, 9, 0), E.ENQUEUED, "R1", "", "general", category="orders", priority="high", **CHAT),
    ev(at(2, 9, 0), E.OFFERED, "R1", "ann", "general"),
    ev(at(2, 9, 0, 20), E.ACCEPTED, "R1", "ann", "general", category="orders", wait_ms="20000",
       first="1", **CHAT),
    ev(at(2, 9, 0, 50), E.MESSAGE, "R1", "ann", "general", author="agent",
       first_response_ms="50000", category="orders", **CHAT),
    ev(at(2, 9, 0, 50), E.SLA_MET, "R1", "ann", "general", policy="chat",
       target="first_response", breached="0", **CHAT),
    ev(at(2, 9, 10), E.COMPLETED, "R1", "ann", "general", category="orders",
       resolution_ms="600000", handle_ms="580000", fcr="1", tier="1", **CHAT),
    ev(at(2, 9, 20), E.FEEDBACK, "R1", "ann", "general", score="5", comment="quick",
       category="orders", **CHAT),
    ev(at(2, 9, 30), E.REVIEW_SUBMITTED, "R1", "ann", "general",
       scores=json.dumps({"attitude": 5, "effectiveness": 4})),
    # R3: a chat abandoned after a minute, never taken
    ev(at(2, 10, 0), E.ENQUEUED, "R3", "", "general", category="orders", priority="low", **CHAT),
    ev(at(2, 10, 1), E.ABANDONED, "R3", "", "general", category="orders", wait_ms="60000",
       state="waiting", taken="0", reason="left", **CHAT),
    # R4: a chat escalated to L2 and resolved there: not FCR
    ev(at(2, 11, 0), E.ENQUEUED, "R4", "", "general", category="account", priority="medium",
       **CHAT),
    ev(at(2, 11, 0), E.OFFERED, "R4", "bob", "general"),
    ev(at(2, 11, 0, 5), E.REJECTED, "R4", "bob", "general", reason="busy"),
    ev(at(2, 11, 0, 5), E.OFFERED, "R4", "ann", "general"),
    ev(at(2, 11, 0, 10), E.ACCEPTED, "R4", "ann", "general", category="account",
       wait_ms="10000", first="1", **CHAT),
    ev(at(2, 11, 0, 40), E.MESSAGE, "R4", "ann", "general", author="agent",
       first_response_ms="40000", category="account", **CHAT),
    ev(at(2, 11, 0, 40), E.SLA_MET, "R4", "ann", "general", policy="chat",
       target="first_response", breached="0", **CHAT),
    ev(at(2, 11, 5), E.ESCALATED, "R4", "ann", "l2", category="account", tier="2",
       note="too_complex: VPN", **{"from": "general"}, **CHAT),
    ev(at(2, 11, 10), E.ACCEPTED, "R4", "dan", "l2", category="account", wait_ms="610000",
       first="0", **CHAT),
    ev(at(2, 11, 30), E.COMPLETED, "R4", "dan", "l2", category="account",
       resolution_ms="1800000", handle_ms="1200000", fcr="0", tier="2", **CHAT),
    # ann was available 08:00-12:30 (4.5 h), then went away
    ev(at(2, 12, 30), E.PRESENCE, "", "ann", "", presence="away", reason="lunch",
       previous="available", previous_ms=str(int(4.5 * H * 1000))),
    # R2: an email at 17:30, answered at 09:00 the next day: 15.5 h, 1 working hour
    ev(at(2, 17, 30), E.ENQUEUED, "R2", "", "general", category="account", priority="medium",
       channel="email"),
    ev(at(2, 17, 50), E.ASSIGNED, "R2", "bob", "general", category="account",
       wait_ms="1200000", first="1", channel="email"),
    ev(at(3, 7, 30), E.SLA_BREACHED, "R2", "bob", "general", policy="email",
       target="first_response"),
    ev(at(3, 9, 0), E.MESSAGE, "R2", "bob", "general", author="agent",
       first_response_ms=str(int(15.5 * H * 1000)), category="account", channel="email"),
    ev(at(3, 9, 0), E.SLA_MET, "R2", "bob", "general", policy="email",
       target="first_response", breached="1", channel="email"),
    ev(at(3, 9, 30), E.TRANSFERRED, "R2", "bob", "billing", category="account", reason="billing",
       channel="email", **{"from": "general"}),
    ev(at(3, 9, 31), E.OFFERED, "R2", "ann", "billing"),
    ev(at(3, 9, 32), E.EXPIRED, "R2", "ann", "billing"),
    ev(at(3, 10, 0), E.ACCEPTED, "R2", "cy", "billing", category="account",
       wait_ms=str(int(16.5 * H * 1000)), first="0", channel="email"),
    ev(at(3, 11, 0), E.COMPLETED, "R2", "cy", "billing", category="account",
       resolution_ms=str(int(17.5 * H * 1000)), handle_ms="3600000", fcr="0", tier="1",
       channel="email"),
    ev(at(3, 11, 5), E.FEEDBACK, "R2", "cy", "billing", score="2", comment="too slow",
       category="account", channel="email"),
]  # fmt: skip


@pytest.fixture
async def reports(redis, keys) -> ReportStore:
    store = ReportStore(redis, keys)
    basis = Basis(DESK)
    batch = [EventAdds(e.id, adds(e, basis)) for e in SEQUENCE]
    first = await store.apply(batch, live=False)
    assert (first.applied, first.seen_before) == (len(SEQUENCE), 0)
    again = await store.apply(batch[:5], live=False)  # delivered again: nothing is added
    assert (again.applied, again.seen_before) == (0, 5)
    return store


async def report(store: ReportStore, name: str, **params: str) -> dict:
    params = {"from": "2026-03-02", "to": "2026-03-03"} | params
    table = await run(store, parse_query(name, params, {"desk": DESK}))
    return json.loads(as_json(table))


def rows(body: dict, period: str = "all") -> list[dict]:
    return [r for r in body["rows"] if r["period"] == period]


async def test_volume_abandonment_transfers_and_escalations(reports):
    body = await report(reports, "volume")
    assert body["timezone"] == "Asia/Shanghai" and body["calendar"] == "desk"
    monday = {r["channel"]: r for r in rows(body, "2026-03-02")}
    # Monday: R1, R3, R4 by chat, R2 by email; R1 and R4 completed, R3 abandoned unanswered
    assert monday["chat"] | {"period": "-"} == {
        "period": "-", "channel": "chat", "requests": 3, "completed": 2, "abandoned": 1,
        "abandoned_waiting": 1, "abandonment_rate": 0.3333, "transferred": 0, "escalated": 1,
    }  # fmt: skip
    assert monday["email"]["requests"] == 1 and monday["email"]["completed"] == 0
    tuesday = {r["channel"]: r for r in rows(body, "2026-03-03")}
    assert (tuesday["email"]["completed"], tuesday["email"]["transferred"]) == (1, 1)
    by_queue = await report(reports, "volume", group="queue")
    # a transfer counts for the queue it left
    assert {r["queue"]: r["transferred"] for r in rows(by_queue)} == {
        "general": 1, "l2": 0, "billing": 0
    }  # fmt: skip
    by_priority = {
        r["priority"]: r["requests"]
        for r in rows(await report(reports, "volume", group="priority"))
    }
    assert by_priority == {"high": 1, "medium": 2, "low": 1}


async def test_first_contact_resolution(reports):
    body = await report(reports, "fcr")
    # R1 by ann, its first agent, no move: FCR. R4 escalated (dan completed), R2 transferred
    assert [(r["period"], r["channel"], r["completed"], r["first_contact"], r["fcr_rate"])
            for r in body["rows"]] == [
        ("2026-03-02", "chat", 2, 1, 0.5),
        ("2026-03-03", "email", 1, 0, 0.0),
        ("all", "chat", 2, 1, 0.5),
        ("all", "email", 1, 0, 0.0),
    ]  # fmt: skip
    by_agent = {
        r["agent"]: r["fcr_rate"] for r in rows(await report(reports, "fcr", group="agent"))
    }
    assert by_agent == {"ann": 1.0, "cy": 0.0, "dan": 0.0}


async def test_response_times_and_the_working_time_figure(reports):
    body = await report(reports, "response", group="category")
    account = {r["period"]: r for r in body["rows"] if r["category"] == "account"}
    # account: R4 answered in 40 s (Monday), R2 in 15.5 h = 55,800 s (Tuesday), of which
    # 17:30-18:00 and 08:30-09:00 are working time: 3,600 s
    both = account["all"]
    assert both["first_response_n"] == 2
    assert both["first_response_mean_s"] == (40 + 55800) / 2
    assert both["first_response_working_mean_s"] == (40 + 3600) / 2
    # p50: rank 1 of 2 is the top of R4's bucket (30, 60]: 30 + 30 x 1/1 = 60
    assert both["first_response_p50_s"] == 60.0
    # p90: rank 1.8, in R2's bucket (28800, 86400]: 28800 + 57600 x 0.8 = 74880
    assert both["first_response_p90_s"] == 74880.0
    # in working time R2's 3,600 s is in (1800, 3600]: 1800 + 1800 x 0.8 = 3240
    assert both["first_response_working_p90_s"] == 3240.0
    assert account["2026-03-02"]["first_response_working_mean_s"] == 40.0
    # wait to the first agent: R4 10 s, R2 1,200 s (the later takes are not waits)
    assert (both["wait_n"], both["wait_mean_s"]) == (2, 605.0)
    # resolution: R4 1,800 s, R2 63,000 s
    assert both["resolution_mean_s"] == (1800 + 63000) / 2
    orders = next(r for r in rows(body) if r["category"] == "orders")
    assert (orders["first_response_n"], orders["first_response_mean_s"]) == (1, 50.0)


async def test_sla_escalation_satisfaction_quality_and_agents(reports):
    sla = {(r["policy"], r["target"]): r for r in rows(await report(reports, "sla"))}
    assert sla["chat", "first_response"]["attainment"] == 1.0  # met twice on time
    email = sla["email", "first_response"]
    assert (email["met"], email["met_late"], email["breached"], email["attainment"]) == (
        0,
        1,
        1,
        0.0,
    )
    by_tier = rows(await report(reports, "escalation"))
    assert by_tier == [{"period": "all", "tier": "2", "escalated": 1, "requests": 4,
                        "ratio": 0.25}]  # fmt: skip
    by_reason = rows(await report(reports, "escalation", group="reason"))
    assert [(r["reason"], r["ratio"]) for r in by_reason] == [("too_complex", 0.25)]

    csat = await report(reports, "satisfaction", group="all", by="week")
    assert [
        (r["period"], r["answers"], r["average"], r["score_2"], r["score_5"]) for r in csat["rows"]
    ] == [("2026-03-02", 2, 3.5, 1, 1), ("all", 2, 3.5, 1, 1)]
    assert [(c["request"], c["score"], c["comment"]) for c in csat["comments"]] == [
        ("R2", 2, "too slow")
    ]
    quality = rows(await report(reports, "quality"))
    assert quality == [
        {"period": "all", "agent": "ann", "reviews": 1, "attitude": 5.0, "effectiveness": 4.0},
        {"period": "all", "agent": "all", "reviews": 1, "attitude": 5.0, "effectiveness": 4.0},
    ]
    agents = {r["agent"]: r for r in rows(await report(reports, "agents"))}
    ann = agents["ann"]
    # offered R1, R4 and R2 (which expired: missed); handled R1 in 580 s; available 4.5 h
    assert (ann["offered"], ann["missed"], ann["handled"], ann["handle_mean_s"]) == (3, 1, 1, 580)
    assert (ann["available_h"], ann["occupancy"]) == (4.5, round(580 / (4.5 * 3600), 4))
    assert (agents["bob"]["offered"], agents["bob"]["rejected"]) == (1, 1)


async def test_periods_by_month_and_the_csv_shape(reports):
    table = await run(reports, parse_query("volume", {"from": "2026-03-01", "to": "2026-03-31",
                                                      "by": "month"}, {"desk": DESK}))  # fmt: skip
    text = as_csv(table)
    lines = text.splitlines()
    assert lines[0] == ("period,channel,requests,completed,abandoned,abandoned_waiting,"
                        "abandonment_rate,transferred,escalated")  # fmt: skip
    assert lines[1] == "2026-03,chat,3,2,1,1,0.3333,0,1"
    assert lines[2] == "2026-03,email,1,1,0,0,0.0,1,0"
    assert lines[3:] == ["all,chat,3,2,1,1,0.3333,0,1", "all,email,1,1,0,0,0.0,1,0"]


async def test_the_overview_and_the_json_shape(reports):
    body = await report(reports, "overview")
    assert set(body) == {"report", "title", "from", "to", "by", "group", "timezone", "calendar",
                         "columns", "rows", "comments"}  # fmt: skip
    assert body["columns"][0] == "period" and all(set(r) == set(body["columns"])
                                                  for r in body["rows"])  # fmt: skip
    total = rows(body)[0]
    assert (total["requests"], total["completed"], total["fcr_rate"]) == (4, 3, 0.3333)
    assert total["sla_attainment"] == round(2 / 3, 4)  # met 2 on time, 1 breached
    assert total["satisfaction"] == 3.5 and total["abandonment_rate"] == 0.25


def test_the_pieces():
    assert bucket(30_000) == "30" and bucket(30_001) == "60" and bucket(10**12) == "inf"
    assert reason_of("Too  Complex: the VPN") == "too complex"
    assert reason_of("service level breached") == "service level breached"
    assert reason_of("") == "-"
    assert list(split(3_000_000, 7_300_000)) == [(0, 600_000), (1, 3_600_000), (2, 100_000)]
    assert quantile([(10.0, 0), (20.0, 4), (float("inf"), 0)], 0.5) == 15.0
    assert quantile([(10.0, 1), (float("inf"), 1)], 0.9) == 10.0
    assert quantile([(10.0, 0)], 0.5) is None


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("nope", {}, "name"),
        ("volume", {"from": "2026-3-2"}, "from"),
        ("volume", {"from": "2026-03-04", "to": "2026-03-03"}, "from"),
        ("volume", {"by": "year"}, "by"),
        ("volume", {"group": "agent"}, "group"),
        ("volume", {"calendar": "moon"}, "calendar"),
        ("volume", {"from": "2020-01-01", "to": "2026-01-01"}, "to"),
    ],
)
def test_a_bad_parameter_is_named(name, params, field):
    with pytest.raises(ReportError) as refused:
        parse_query(name, params, {"desk": DESK}, today=date(2026, 3, 3))
    assert refused.value.field == field
