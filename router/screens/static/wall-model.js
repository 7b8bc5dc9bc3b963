/* The wall's own model of the floor: painted from the feed's snapshot, then moved by each event
   after it (GET /v1/wall/stream). A request's state is kept by id, so that the waiting counts move
   only on real transitions; a request the page never saw is taken to be waiting (every held
   request is in the snapshot). The service level is the share of the requests of the last hour
   answered within the threshold, out of those answered or abandoned, by minute. */
(function () {
  "use strict";
  var FD = window.FD;
  var HOUR = 3600000;
  var m = null;

  function reset(s) {
    m = { queues: {}, agents: {}, reqs: s.requests, atRisk: s.at_risk, feed: m ? m.feed : [],
          buckets: {}, open: s.hour.open, threshold: s.hour.threshold_s, partial: s.hour.partial,
          skew: s.now_ms - Date.now() };
    s.queues.forEach(function (q) { m.queues[q.name] = { name: q.name, waiting: q.waiting }; });
    s.agents.forEach(function (a) { m.agents[a.id] = a; });
    Object.keys(s.hour.buckets).forEach(function (q) {
      m.buckets[q] = {};
      s.hour.buckets[q].forEach(function (b) { m.buckets[q][b[0]] = [b[1], b[2]]; });
    });
    FD.model = m;
  }
  function queue(name) {
    if (!m.queues[name]) m.queues[name] = { name: name, waiting: 0 };
    return m.queues[name];
  }
  function unhold(id, agent) {
    Object.keys(m.agents).forEach(function (a) {
      if ((!agent || a === agent) && m.agents[a].holds[id] !== undefined) delete m.agents[a].holds[id];
    });
  }
  function leave(id, q) { // the request is no longer waiting (if it was)
    var r = m.reqs[id];
    if (!r) { queue(q).waiting = Math.max(0, queue(q).waiting - 1); return; }
    if (r.state === "waiting") queue(r.queue).waiting = Math.max(0, queue(r.queue).waiting - 1);
  }
  function wait(id, q, ts, channel) { // the request waits in q
    var r = m.reqs[id];
    if (r && r.state === "waiting" && r.queue === q) return;
    if (r && r.state === "waiting") queue(r.queue).waiting = Math.max(0, queue(r.queue).waiting - 1);
    queue(q).waiting += 1;
    m.reqs[id] = { state: "waiting", queue: q, agent: null, channel: (r && r.channel) || channel || null,
                   enqueued_ms: (r && r.enqueued_ms) || ts };
  }
  function take(id, e, state) {
    leave(id, e.queue);
    var r = m.reqs[id] || { queue: e.queue, channel: null, enqueued_ms: null };
    r.state = state;
    r.agent = e.agent;
    m.reqs[id] = r;
    if (m.agents[e.agent]) m.agents[e.agent].holds[id] = r.channel || "?";
  }
  function answered(e, abandoned) {
    var o = m.open[e.req];
    if (!o) return;
    delete m.open[e.req];
    var minute = Math.floor(e.ts / 60000) * 60000;
    var b = (m.buckets[o[1]] = m.buckets[o[1]] || {});
    b[minute] = b[minute] || [0, 0];
    b[minute][0] += !abandoned && e.ts - o[0] <= m.threshold * 1000 ? 1 : 0;
    b[minute][1] += 1;
  }
  function note(e, kind) {
    m.feed.unshift({ kind: kind, req: e.req, queue: e.queue, agent: e.agent, ts: e.ts,
                     target: e.data.target || "" });
    m.feed.length = Math.min(m.feed.length, 50);
  }

  function apply(e) {
    var id = e.req, r = m.reqs[id];
    switch (e.type) {
      case "enqueued":
        wait(id, e.queue, e.ts, e.data.channel);
        if (!m.open[id]) m.open[id] = [e.ts, e.queue];
        break;
      case "offered": take(id, e, "offered"); break;
      case "assigned": take(id, e, "assigned"); answered(e, false); break;
      case "accepted":
        if (r) r.state = "assigned"; else take(id, e, "assigned");
        answered(e, false);
        break;
      case "rejected": case "expired": case "requeued": case "transferred": case "escalated":
        unhold(id, e.type === "rejected" || e.type === "expired" ? e.agent : null);
        wait(id, e.queue, e.ts);
        break;
      case "pending": if (r) r.state = "pending_customer"; break;
      case "resumed": if (r) r.state = "assigned"; break;
      case "completed": case "abandoned":
        if (e.type === "abandoned") { leave(id, e.queue); answered(e, true); }
        unhold(id, null);
        delete m.reqs[id];
        delete m.atRisk[id];
        break;
      case "presence":
        if (m.agents[e.agent]) {
          m.agents[e.agent].presence = e.data.presence;
          m.agents[e.agent].away_reason = e.data.reason || "";
          m.agents[e.agent].since_ms = e.ts;
        }
        break;
      case "agent_created": case "agent_updated":
        FD.api("GET", "/v1/agents/" + encodeURIComponent(e.agent)).then(function (a) {
          var known = m.agents[a.id] || { holds: {}, since_ms: null };
          a.holds = known.holds;
          a.since_ms = known.since_ms;
          m.agents[a.id] = a;
          FD.wallChanged();
        }, function () { /* shown at the next snapshot */ });
        break;
      case "sla.warning": m.atRisk[id] = Number(e.data.due) || e.ts; note(e, "warning"); break;
      case "sla.breached": delete m.atRisk[id]; note(e, "breached"); break;
      case "sla.met": delete m.atRisk[id]; break;
    }
  }

  FD.wallModel = {
    reset: reset,
    apply: apply,
    now: function () { return Date.now() + (m ? m.skew : 0); },
    serviceLevel: function (q) {
      var from = this.now() - HOUR, within = 0, total = 0, b = m.buckets[q] || {};
      Object.keys(b).forEach(function (minute) {
        if (Number(minute) >= from) { within += b[minute][0]; total += b[minute][1]; }
      });
      return total ? within / total : null;
    },
    oldest: function (q) {
      var oldest = null;
      Object.keys(m.reqs).forEach(function (id) {
        var r = m.reqs[id];
        if (r.state === "waiting" && r.queue === q && r.enqueued_ms && (!oldest || r.enqueued_ms < oldest)) oldest = r.enqueued_ms;
      });
      return oldest;
    },
    atRisk: function (q) {
      return Object.keys(m.atRisk).filter(function (id) { return m.reqs[id] && m.reqs[id].queue === q; }).length;
    },
  };
})();
