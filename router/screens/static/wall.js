/* The supervisor wall: the live feed (server-sent events from GET /v1/wall/stream, a snapshot
   first), drawn from the page's own model (wall-model.js), and the supervisor's actions through
   the API: force-assign, transfer, set an agent away, change capacity. */
(function () {
  "use strict";
  var FD = window.FD, el = FD.el, t = FD.t, $ = FD.$, W = null;
  var feed = null, drawQueued = false, live = false;
  var CHANNELS = ["chat", "email", "phone", "social", "form"];

  function flash(text) {
    var box = $("#flash");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(box.timer);
    box.timer = setTimeout(function () { box.hidden = true; }, 6000);
  }
  function refused(err) { flash(t("failed", { m: err.message })); }
  function badge(text, kind) { return el("span", { cls: "badge " + (kind || ""), text: text }); }
  function ago(ms) { return ms ? FD.duration((W.now() - ms) / 1000) : "> 1 h"; }

  function connect() {
    feed = new EventSource("/v1/wall/stream");
    feed.addEventListener("snapshot", function (e) {
      W.reset(JSON.parse(e.data));
      live = true;
      FD.wallChanged();
    });
    feed.addEventListener("event", function (e) {
      W.apply(JSON.parse(e.data));
      FD.wallChanged();
    });
    feed.onerror = function () {
      live = false;
      FD.wallChanged();
      if (feed.readyState === 2) { // refused: signed out, or the daemon is away
        FD.api("GET", "/screens/session?screen=wall").then(function () { setTimeout(connect, 3000); },
          function () { /* the sign-in form is shown */ });
      }
    };
  }
  FD.wallChanged = function () {
    if (drawQueued) return;
    drawQueued = true;
    setTimeout(function () { drawQueued = false; draw(); }, 100);
  };

  function dialog(title, fields, apply) {
    var box = $("#dialog");
    var form = el("form", { cls: "dialog" }, el("b", { text: title }), fields,
      el("button", { cls: "primary", type: "submit", text: t("apply") }),
      el("button", { type: "button", text: t("cancel"), onclick: function () { box.hidden = true; } }));
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      apply(form).then(function () { box.hidden = true; }, refused);
    });
    FD.fill(box, form);
    box.hidden = false;
  }
  var act = {
    away: function (a) {
      FD.api("POST", "/v1/agents/" + encodeURIComponent(a.id) + "/presence",
        { presence: "away", reason: "supervisor" }).then(null, refused);
    },
    capacity: function (a) {
      dialog(t("capacity") + " · " + a.id, CHANNELS.map(function (ch) {
        return el("label", { cls: "small" }, ch + " ", el("input", { name: ch, type: "number", min: "0",
          max: "1000", size: "3", value: String(a.capacity[ch] || 0) }));
      }), function (f) {
        var capacity = {};
        CHANNELS.forEach(function (ch) { capacity[ch] = Number(f[ch].value) || 0; });
        return FD.api("PUT", "/v1/agents/" + encodeURIComponent(a.id) + "/capacity", { capacity: capacity })
          .then(function (b) { b.holds = a.holds; b.since_ms = a.since_ms; FD.model.agents[a.id] = b; draw(); });
      });
    },
    transfer: function (id, agent) {
      dialog(t("transfer") + " · " + id, el("select", { name: "queue" }, Object.keys(FD.model.queues).map(function (q) {
        return el("option", { value: q, text: q });
      })), function (f) {
        return FD.api("POST", "/v1/requests/" + encodeURIComponent(id) + "/transfer",
          { agent: agent, queue: f.queue.value, reason: "supervisor" });
      });
    },
  };

  function draw() {
    var m = FD.model;
    $("#live").textContent = live ? "● " + t("connected") : t("reconnecting");
    if (!m) return;
    $("#sl-head").textContent = t("service_level", { s: m.threshold }) + (m.partial ? " " + t("partial") : "");
    var agents = Object.keys(m.agents).sort().map(function (id) { return m.agents[id]; });
    var names = Object.keys(m.queues).sort();
    var waiting = 0, risk = 0;
    FD.fill($("#queues"), names.map(function (q) {
      var sl = W.serviceLevel(q), oldest = W.oldest(q), n = m.queues[q].waiting, r = W.atRisk(q);
      waiting += n;
      risk += r;
      return el("tr", { "data-queue": q }, el("td", {}, el("b", { text: q })),
        el("td", { cls: "num", "data-waiting": String(n), text: String(n) }),
        el("td", { cls: "num", text: n && oldest ? FD.duration((W.now() - oldest) / 1000) : "—" }),
        el("td", { cls: "num" }, r ? badge(String(r), "warn") : "0"),
        el("td", { cls: "num" }, sl === null ? "—" : badge(Math.round(sl * 100) + "%", sl >= 0.8 ? "ok" : sl >= 0.6 ? "warn" : "bad")));
    }));
    var busy = 0, free = 0;
    FD.fill($("#agents"), agents.map(function (a) {
      var held = Object.keys(a.holds);
      if (held.length) busy += 1; else if (a.presence === "available") free += 1;
      var load = {};
      held.forEach(function (id) { var ch = a.holds[id]; load[ch] = (load[ch] || 0) + 1; });
      var loads = Object.keys(a.capacity).filter(function (ch) { return a.capacity[ch] || load[ch]; }).map(function (ch) {
        return badge(ch + " " + (load[ch] || 0) + "/" + a.capacity[ch], load[ch] ? "info" : "");
      });
      return el("tr", { "data-agent": a.id, "data-busy": held.length ? "1" : "0" },
        el("td", {}, el("b", { text: a.name || a.id }), el("div", { cls: "small muted", text: a.id })),
        el("td", {}, el("span", { cls: "dot " + a.presence }), " ", t(a.presence),
          held.length ? [" ", badge(t("busy"), "info")] : null,
          a.away_reason ? el("div", { cls: "small muted", text: a.away_reason }) : null),
        el("td", { cls: "num", text: ago(a.since_ms) }),
        el("td", {}, loads),
        el("td", {}, held.map(function (id) {
          var r = m.reqs[id] || {};
          return el("button", { type: "button", cls: "small", "data-held": id, title: t("transfer"),
            onclick: function () { act.transfer(id, a.id); } }, id + " ", badge(t(r.state || "assigned"), r.state === "offered" ? "warn" : "ok"));
        })),
        el("td", {}, el("div", { cls: "row-actions" },
          el("button", { type: "button", text: t("set_away"), disabled: a.presence !== "available", "data-act": "away",
                         onclick: function () { act.away(a); } }),
          el("button", { type: "button", text: t("capacity"), "data-act": "capacity", onclick: function () { act.capacity(a); } }))));
    }));
    FD.fill($("#tiles"), [["total_waiting", waiting], ["total_available", free], ["total_busy", busy],
      ["total_risk", risk]].map(function (x) {
      return el("div", { cls: "tile", "data-tile": x[0] }, el("span", { cls: "small muted", text: t(x[0]) }), el("b", { text: String(x[1]) }));
    }));
    var select = $("#assign-agent"), chosen = select.value;
    FD.fill(select, agents.map(function (a) { return el("option", { value: a.id, text: a.id, selected: a.id === chosen }); }));
    FD.fill($("#waiting-ids"), Object.keys(m.reqs).filter(function (id) { return m.reqs[id].state === "waiting"; })
      .map(function (id) { return el("option", { value: id }); }));
    FD.fill($("#feed"), m.feed.length ? m.feed.map(function (f) {
      return el("div", { cls: "ev " + (f.kind === "breached" ? "bad" : "warn") },
        el("b", { text: t(f.kind === "breached" ? "ev_breached" : "ev_warning") + " " }), f.req + " · " + f.target,
        el("div", { cls: "small muted", text: new Date(f.ts).toLocaleTimeString() + " · " + f.queue + (f.agent ? " · " + f.agent : "") }));
    }) : el("p", { cls: "empty", text: t("no_events") }));
  }

  FD.onLang = draw;
  FD.onSignedOut = function () { if (feed) feed.close(); };
  document.addEventListener("DOMContentLoaded", function () {
    W = FD.wallModel;
    $("#assign-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var f = e.target, id = f.request.value.trim();
      FD.api("POST", "/v1/requests/" + encodeURIComponent(id) + "/assign", { agent: f.agent.value, reason: "supervisor" })
        .then(function () { f.request.value = ""; }, refused);
    });
    FD.boot("wall", function () {
      connect();
      setInterval(draw, 1000);
    });
  });
})();
