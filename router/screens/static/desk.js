/* The agent desk: the agent WebSocket (opened with a one-time ticket from
   POST /v1/agents/ws-ticket), the offers and requests in hand, and the agent's actions. Each
   action is a frame on the socket; its answer (`result` or `error`) comes back in order. The view
   is desk-view.js. */
(function () {
  "use strict";
  var FD = window.FD, t = FD.t;
  var state = {
    presence: "offline", reason: "", capacity: {}, offers: {}, work: {}, selected: null,
    live: false, queues: [],
  };
  var ws = null, answers = [], retryMs = 1000, stopped = false;

  function render() { FD.deskView.render(state, actions); }
  function flash(text) { FD.deskView.flash(text); }

  // -- the socket ----------------------------------------------------------------------------
  function connect() {
    if (stopped) return;
    FD.api("POST", "/v1/agents/ws-ticket").then(function (ticket) {
      var socket = new WebSocket(location.origin.replace(/^http/, "ws") + ticket.url);
      socket.onopen = function () {
        ws = socket;
        retryMs = 1000;
        state.live = true;
        render();
      };
      socket.onmessage = function (e) {
        var frame;
        try { frame = JSON.parse(e.data); } catch (err) { return; }
        onFrame(frame);
      };
      socket.onclose = function () {
        if (ws === socket) ws = null;
        answers.splice(0).forEach(function (a) { a.reject(new Error(t("reconnecting"))); });
        state.live = false;
        render();
        later();
      };
    }, function (err) { if (err.status !== 401 && err.status !== 403) later(); });
  }
  function later() {
    if (stopped) return;
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 15000);
  }
  function act(frame) {
    return new Promise(function (resolve, reject) {
      if (!ws || ws.readyState !== 1) return reject(new Error(t("reconnecting")));
      answers.push({ resolve: resolve, reject: reject });
      ws.send(JSON.stringify(frame));
    });
  }
  function onFrame(f) {
    if (f.type === "result" || f.type === "error") {
      var waiting = answers.shift();
      if (!waiting) return;
      if (f.type === "result") waiting.resolve(f.request);
      else waiting.reject(new Error(f.message + (f.field ? " (" + f.field + ")" : "")));
      return;
    }
    if (f.type === "hello") {
      state.offers = {};
      var held = {};
      f.work.forEach(function (r) {
        if (r.state === "offered") state.offers[r.id] = r;
        else held[r.id] = true;
      });
      Object.keys(state.work).forEach(function (id) { if (!held[id]) delete state.work[id]; });
      Object.keys(held).forEach(hold);
    } else if (f.type === "offer") {
      state.offers[f.request.id] = f.request;
    } else if (f.type === "assigned") {
      hold(f.request.id);
    } else if (f.type === "gone") {
      var known = state.offers[f.request] || state.work[f.request];
      delete state.offers[f.request];
      delete state.work[f.request];
      if (state.selected === f.request) state.selected = null;
      if (known) flash(t("gone_" + f.reason, { id: f.request }));
    } else if (f.type === "presence") { // changed elsewhere: a supervisor, missed offers
      state.presence = f.presence;
      state.reason = f.reason || "";
    } else if (f.type === "message") {
      var r = state.work[f.request];
      if (r) r.thread.push({ author: f.author, body: f.body, received_at: Date.now() / 1000 });
    }
    render();
  }
  function hold(id) { // a request in hand: its thread, customer and history from the API
    FD.api("GET", "/v1/requests/" + encodeURIComponent(id) + "/messages").then(function (full) {
      state.work[id] = full;
      if (!state.selected) state.selected = id;
      render();
    }, function (err) { flash(t("failed", { m: err.message })); });
  }

  // -- the agent's actions -----------------------------------------------------------------
  function refused(err) { flash(t("failed", { m: err.message })); }
  function done(id) {
    delete state.work[id];
    if (state.selected === id) state.selected = Object.keys(state.work)[0] || null;
    render();
  }
  function update(id, record) {
    var r = state.work[id];
    if (!r) return;
    Object.keys(record).forEach(function (k) { r[k] = record[k]; });
    render();
  }
  var actions = {
    accept: function (id) {
      return act({ type: "accept", request: id }).then(function (full) {
        delete state.offers[id];
        state.work[id] = full;
        state.selected = id;
        render();
      }, refused);
    },
    reject: function (id) {
      return act({ type: "reject", request: id, reason: "declined at the desk" }).then(function () {
        delete state.offers[id];
        render();
      }, refused);
    },
    reply: function (id, text) {
      return act({ type: "messages", request: id, text: text }).then(function (record) {
        state.work[id].thread.push({ author: "agent", body: text, received_at: Date.now() / 1000 });
        update(id, record);
        return true;
      }, function (err) { refused(err); return false; });
    },
    complete: function (id, resolution, wrap) {
      var frame = { type: "complete", request: id, wrap_up_s: wrap || 0 };
      if (resolution) frame.resolution = resolution;
      return act(frame).then(function () { done(id); }, refused);
    },
    transfer: function (id, queue, toAgent, reason) {
      var frame = { type: "transfer", request: id, reason: reason || undefined };
      if (toAgent) frame.to_agent = toAgent; else frame.queue = queue;
      return act(frame).then(function () { done(id); }, refused);
    },
    escalate: function (id, note) {
      return act({ type: "escalate", request: id, note: note || undefined })
        .then(function () { done(id); }, refused);
    },
    pending: function (id, reason) {
      return act({ type: "pending", request: id, reason: reason || undefined })
        .then(function (r) { update(id, r); }, refused);
    },
    resume: function (id) {
      return act({ type: "resume", request: id }).then(function (r) { update(id, r); }, refused);
    },
    milestone: function (id, target, note) {
      return act({ type: "milestones", request: id, target: target, note: note || undefined })
        .then(function (r) { update(id, r); }, refused);
    },
    select: function (id) { state.selected = id; render(); },
    presence: function (presence, reason) {
      var path = "/v1/agents/" + encodeURIComponent(FD.me.agent) + "/presence";
      return FD.api("POST", path, { presence: presence, reason: reason || "" }).then(agent, refused);
    },
  };
  function agent(a) {
    state.presence = a.presence;
    state.reason = a.away_reason || "";
    state.capacity = a.capacity || {};
    (a.released_offers || []).forEach(function (id) { delete state.offers[id]; });
    render();
  }

  // -- keys: a accepts and r rejects the first offer; j and k move through the requests ---------
  function firstOffer() {
    var ids = Object.keys(state.offers);
    ids.sort(function (x, y) {
      return (state.offers[x].offer_deadline || "").localeCompare(state.offers[y].offer_deadline || "");
    });
    return ids[0];
  }
  document.addEventListener("keydown", function (e) {
    if (!FD.me || e.ctrlKey || e.metaKey || e.altKey) return;
    var tag = (e.target && e.target.tagName) || "";
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return;
    var offer = firstOffer();
    if (e.key === "a" && offer) { e.preventDefault(); actions.accept(offer); }
    else if (e.key === "r" && offer) { e.preventDefault(); actions.reject(offer); }
    else if (e.key === "j" || e.key === "k") {
      var ids = Object.keys(state.work);
      if (!ids.length) return;
      var at = ids.indexOf(state.selected);
      at = (at + (e.key === "j" ? 1 : ids.length - 1)) % ids.length;
      actions.select(ids[at < 0 ? 0 : at]);
    }
  });

  FD.onLang = render;
  FD.onSignedOut = function () {
    stopped = true;
    if (ws) ws.close();
  };
  document.addEventListener("DOMContentLoaded", function () {
    FD.$("#go-available").addEventListener("click", function () { actions.presence("available"); });
    FD.$("#go-away").addEventListener("click", function () {
      actions.presence("away", FD.$("#away-reason").value);
    });
    FD.boot("desk", function (who) {
      state.queues = who.queues || [];
      FD.api("GET", "/v1/agents/" + encodeURIComponent(who.agent)).then(agent, refused);
      connect();
      setInterval(function () { FD.deskView.tick(state); }, 1000);
    });
  });
})();
