/* The agent desk's view: draws the state desk.js keeps. Countdowns are elements with a
   data-due attribute (ms since the epoch), refreshed by tick() each second without redrawing. */
(function () {
  "use strict";
  var FD = window.FD, el = FD.el, t = FD.t, $ = FD.$;
  var drafts = {}; // request id -> the reply being typed
  var drawn = null; // the request whose detail is on screen, and how much of its thread

  function ms(iso) { return iso ? Date.parse(iso) : null; }
  function badge(text, kind) { return el("span", { cls: "badge " + (kind || ""), text: text }); }
  function stateName(s) { return t(s === "waiting" ? "waiting_state" : s); }
  function channelBadge(r) { return badge(r.channel, "info"); }
  function nextDue(r) {
    var due = null;
    ((r.sla && r.sla.targets) || []).forEach(function (c) {
      var at = c.state === "running" ? ms(c.due_at) : null;
      if (at && (due === null || at < due)) due = at;
    });
    return due;
  }

  function offerCard(r, actions) {
    var deadline = ms(r.offer_deadline);
    r.seen = r.seen || Date.now(); // when the offer came: the bar's full length
    var created = r.seen;
    return el("div", { cls: "offer", "data-offer": r.id },
      el("div", { cls: "line" }, el("b", { text: r.id }), channelBadge(r),
        el("span", { cls: "grow muted", text: r.customer.name || r.customer.email || "" })),
      el("div", { text: r.subject || "" }),
      el("div", { cls: "bar" }, el("i", { "data-bar": deadline, "data-from": created })),
      el("div", { cls: "line" },
        el("span", { cls: "small muted", "data-due": deadline, "data-kind": "offer" }),
        el("span", { cls: "grow" }),
        el("div", { cls: "actions" },
          el("button", { cls: "primary", type: "button", "data-act": "accept",
                         onclick: function () { actions.accept(r.id); } },
            t("accept") + " ", el("kbd", { text: "a" })),
          el("button", { type: "button", "data-act": "reject",
                         onclick: function () { actions.reject(r.id); } },
            t("reject") + " ", el("kbd", { text: "r" })))));
  }

  function workItem(r, state, actions) {
    var due = nextDue(r);
    return el("div", { cls: "item" + (state.selected === r.id ? " selected" : ""), "data-work": r.id,
                       onclick: function () { actions.select(r.id); } },
      el("div", { cls: "line" }, el("b", { text: r.id }), channelBadge(r),
        el("span", { cls: "grow", text: r.customer.name || r.customer.email || "" }),
        badge(stateName(r.state), r.state === "assigned" ? "ok" : "warn")),
      el("div", { cls: "line small muted" }, el("span", { cls: "grow", text: r.subject || "" }),
        due ? el("span", { "data-due": due, "data-kind": "clock" }) : null));
  }

  function message(m, r) {
    var who = m.author === "agent" ? (FD.me.agent || "") : m.author === "customer"
      ? (r.customer.name || t("customer")) : m.author;
    return el("div", { cls: "msg " + (m.author === "agent" ? "agent" : m.author === "customer" ? "customer" : "system") },
      el("div", { cls: "who", text: who }), m.body);
  }

  function tool(name, fields, submit) {
    var form = el("form", { "data-tool": name }, fields, el("button", { cls: "primary", type: "submit", text: t("do_it") }));
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      submit(form);
    });
    return el("details", {}, el("summary", { text: t(name) }), form);
  }

  function detail(r, state, actions) {
    var box = $("#detail");
    var area = $("#reply", box);
    if (drawn && area) drafts[drawn.id] = area.value;
    if (!r) {
      drawn = null;
      FD.fill(box, el("p", { cls: "empty", text: t("pick_request") }));
      return;
    }
    var reply = el("textarea", { id: "reply", rows: "3", placeholder: t("reply_ph") });
    reply.value = drafts[r.id] || "";
    var send = function () {
      var text = reply.value.trim();
      if (!text) return;
      drafts[r.id] = "";
      reply.value = "";
      actions.reply(r.id, text).then(function (ok) { // refused: the text comes back to edit
        var area = $("#reply");
        if (!ok && area && !area.value) area.value = text;
      });
    };
    reply.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); send(); }
    });
    var thread = el("div", { cls: "thread", id: "thread" },
      message({ author: "customer", body: r.body || "" }, r),
      r.thread.map(function (m) { return message(m, r); }));
    var targets = ((r.sla && r.sla.targets) || []).filter(function (c) { return !c.met_at; });
    var queues = el("select", { name: "queue" }, state.queues.map(function (q) {
      return el("option", { value: q, text: q, selected: q === r.queue });
    }));
    var tools = el("div", { cls: "tools" },
      tool("complete", [el("input", { name: "resolution", placeholder: t("resolution"), maxlength: "200" }),
        el("input", { name: "wrap", type: "number", min: "0", max: "3600", value: "0", "aria-label": t("wrap_up") })],
        function (f) { actions.complete(r.id, f.resolution.value.trim(), Number(f.wrap.value) || 0); }),
      tool("transfer", [queues, el("input", { name: "agent", placeholder: t("to_agent") }),
        el("input", { name: "reason", placeholder: t("reason") })],
        function (f) { actions.transfer(r.id, f.queue.value, f.agent.value.trim(), f.reason.value.trim()); }),
      tool("escalate", [el("input", { name: "note", placeholder: t("note") })],
        function (f) { actions.escalate(r.id, f.note.value.trim()); }),
      r.state === "pending_customer"
        ? el("button", { type: "button", text: t("resume"), onclick: function () { actions.resume(r.id); } })
        : tool("pending", [el("input", { name: "reason", placeholder: t("reason") })],
          function (f) { actions.pending(r.id, f.reason.value.trim()); }),
      targets.length ? tool("milestone", [el("select", { name: "target" }, targets.map(function (c) {
        return el("option", { value: c.target, text: c.target });
      })), el("input", { name: "note", placeholder: t("note") })],
      function (f) { actions.milestone(r.id, f.target.value, f.note.value.trim()); }) : null);
    var focused = document.activeElement && document.activeElement.id === "reply";
    FD.fill(box,
      el("div", { cls: "head" }, el("h1", { text: r.subject || (r.body || "").split("\n")[0].slice(0, 60) || r.id }),
        badge(r.id),
        channelBadge(r), badge("→ " + r.queue), badge(r.priority, r.priority === "high" ? "bad" : ""),
        badge(stateName(r.state), r.state === "assigned" ? "ok" : "warn")),
      thread,
      el("div", { cls: "compose" }, reply,
        el("button", { cls: "primary", type: "button", id: "send", text: t("send"), onclick: send })),
      tools);
    thread.scrollTop = thread.scrollHeight;
    if (focused || !drawn || drawn.id !== r.id) reply.focus();
    drawn = { id: r.id };
  }

  function side(r) {
    if (!r) {
      FD.fill($("#customer"), el("p", { cls: "empty", text: "—" }));
      FD.fill($("#clocks"), null);
      FD.fill($("#history"), null);
      return;
    }
    var c = r.customer || {};
    FD.fill($("#customer"), el("dl", { cls: "facts" },
      el("dt", { text: t("name") }), el("dd", { text: c.name || "—" }),
      c.email ? [el("dt", { text: t("email") }), el("dd", { text: c.email })] : null,
      c.phone ? [el("dt", { text: t("phone") }), el("dd", { text: c.phone })] : null,
      (c.addresses || []).length ? [el("dt", { text: "@" }), el("dd", { text: c.addresses.join(", ") })] : null,
      el("dt", { text: "id" }), el("dd", { text: c.id || "—" })));
    var targets = (r.sla && r.sla.targets) || [];
    FD.fill($("#clocks"), targets.length ? targets.map(function (k) {
      var right;
      if (k.met_at) right = badge(t("met"), "ok");
      else if (k.state === "paused") right = badge(t("paused") + " " + FD.duration(k.remaining_s), "warn");
      else if (k.state === "running") right = el("span", { "data-due": ms(k.due_at), "data-kind": "clock" });
      else right = badge(k.state);
      return el("div", { cls: "clock" }, el("span", {}, k.target + " ", k.breached ? badge(t("breached"), "bad") : null), right);
    }) : el("p", { cls: "empty", text: t("no_sla") }));
    var others = r.customer_requests || [];
    FD.fill($("#history"), others.length ? others.map(function (p) {
      return el("div", { cls: "line" }, el("b", { text: p.id }),
        el("span", { cls: "grow", text: p.subject || "" }), badge(stateName(p.state),
          p.state === "completed" || p.state === "abandoned" ? "" : "info"));
    }) : el("p", { cls: "empty", text: t("none") }));
  }

  FD.deskView = {
    render: function (state, actions) {
      $("#presence-dot").className = "dot " + state.presence;
      $("#presence-label").textContent = t(state.presence) + (state.reason ? " · " + state.reason : "");
      $("#go-available").disabled = state.presence === "available";
      $("#live").textContent = state.live ? "● " + t("connected") : t("reconnecting");
      var held = {};
      Object.keys(state.work).forEach(function (id) {
        var ch = state.work[id].channel;
        held[ch] = (held[ch] || 0) + 1;
      });
      $("#load").textContent = Object.keys(state.capacity).map(function (ch) {
        return ch + " " + t("capacity_of", { load: held[ch] || 0, cap: state.capacity[ch] });
      }).join(" · ");
      var offers = Object.keys(state.offers).map(function (id) { return offerCard(state.offers[id], actions); });
      FD.fill($("#offers"), offers.length ? offers : el("p", { cls: "empty", text: t("no_offers") }));
      var work = Object.keys(state.work).map(function (id) { return workItem(state.work[id], state, actions); });
      FD.fill($("#work"), work.length ? work : el("p", { cls: "empty", text: t("no_work") }));
      var r = state.selected && state.work[state.selected];
      detail(r || null, state, actions);
      side(r || null);
      this.tick(state);
    },
    tick: function () {
      var now = Date.now();
      document.querySelectorAll("[data-due]").forEach(function (node) {
        var due = Number(node.getAttribute("data-due"));
        var left = (due - now) / 1000;
        if (node.getAttribute("data-kind") === "offer") node.textContent = t("seconds_left", { n: Math.max(0, Math.ceil(left)) });
        else node.textContent = left >= 0 ? FD.duration(left) + " " + t("left") : FD.duration(-left) + " " + t("overdue");
        node.classList.toggle("late", left < 0);
      });
      document.querySelectorAll("[data-bar]").forEach(function (bar) {
        var due = Number(bar.getAttribute("data-bar")), from = Number(bar.getAttribute("data-from"));
        var span = Math.max(due - from, 1000);
        bar.style.width = Math.max(0, Math.min(100, ((due - now) / span) * 100)) + "%";
      });
    },
    flash: function (text) {
      var box = $("#flash");
      box.textContent = text;
      box.hidden = false;
      clearTimeout(box.timer);
      box.timer = setTimeout(function () { box.hidden = true; }, 6000);
    },
  };
})();
