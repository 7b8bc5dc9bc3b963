/* frontdesk web chat widget: dependency-free, no build step.

   <script src="https://desk.example.com/chat/chat.js" data-site="SITE-KEY" async></script>

   data-site       the site key from channels.chat.sites (required)
   data-server     the daemon's base URL (default: where this script was loaded from)
   data-title      the panel's title (default "Chat with us")
   data-open       "true": open the panel at once
   data-transport  "rest": skip the WebSocket and poll the REST fallback

   The conversation (id, token, last message seen, unsent messages) is kept in sessionStorage, so
   a reload resumes the same request. Without a working WebSocket the widget polls over REST.
   window.FrontdeskChat = {open(), close(), transport(), state()} for the page that embeds it. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.FrontdeskChat) return;
  var site = script.getAttribute("data-site");
  if (!site) {
    console.error("frontdesk chat: the script tag needs data-site");
    return;
  }
  var src = new URL(script.src, location.href);
  var base = (script.getAttribute("data-server") ||
    src.origin + src.pathname.replace(/\/chat\/chat\.js$/, "")).replace(/\/+$/, "");
  var title = script.getAttribute("data-title") || "Chat with us";
  var forceRest = script.getAttribute("data-transport") === "rest";
  var KEY = "frontdesk-chat:" + site;
  var POLL_MS = 3000;
  var WS_TRIES = 2; // sockets that never open before falling back to REST

  // -- what survives a reload ------------------------------------------------------------------
  function load() {
    try {
      return JSON.parse(sessionStorage.getItem(KEY)) || {};
    } catch (e) {
      return {};
    }
  }
  var saved = load(); // {conversation, token, start: {id, ...}, pending: [{id, text}]}
  saved.pending = saved.pending || [];
  function save() {
    try {
      sessionStorage.setItem(KEY, JSON.stringify(saved));
    } catch (e) { /* private mode: the chat still works, it just does not survive a reload */ }
  }
  function forget() {
    saved = { pending: [] };
    try {
      sessionStorage.removeItem(KEY);
    } catch (e) { /* nothing kept */ }
  }
  function randomId(bytes) {
    var a = new Uint8Array(bytes);
    crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  // -- the panel ---------------------------------------------------------------------------------
  var host = document.createElement("div");
  host.setAttribute("data-frontdesk-chat", "");
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  root.innerHTML =
    "<style>" +
    ":host{all:initial}" +
    ".fd{position:fixed;right:20px;bottom:20px;z-index:2147483000;font:14px/1.4 system-ui,sans-serif;color:#1d2733}" +
    ".launch{background:#1f6feb;color:#fff;border:0;border-radius:24px;padding:12px 18px;font:inherit;cursor:pointer;box-shadow:0 2px 8px rgba(0,0,0,.25)}" +
    ".panel{display:none;flex-direction:column;width:340px;max-width:calc(100vw - 40px);height:480px;max-height:calc(100vh - 40px);background:#fff;border-radius:12px;box-shadow:0 4px 24px rgba(0,0,0,.25);overflow:hidden}" +
    ".open .panel{display:flex}.open .launch{display:none}" +
    "header{background:#1f6feb;color:#fff;padding:10px 12px;display:flex;align-items:center;gap:8px}" +
    "header b{flex:1}header button{background:none;border:0;color:#fff;font:inherit;cursor:pointer;padding:2px 6px}" +
    ".status{padding:6px 12px;background:#eef3fb;font-size:13px;min-height:18px}" +
    ".status.err{background:#fdecea;color:#8a1c12}" +
    ".retry{margin:6px 12px 0;align-self:flex-start;background:#fff;border:1px solid #8a1c12;color:#8a1c12;border-radius:6px;padding:5px 12px;font:inherit;cursor:pointer}" +
    ".log{flex:1;overflow-y:auto;padding:10px 12px;display:flex;flex-direction:column;gap:6px}" +
    ".msg{max-width:80%;padding:7px 10px;border-radius:10px;white-space:pre-wrap;word-wrap:break-word}" +
    ".customer{align-self:flex-end;background:#1f6feb;color:#fff}.customer.sending{opacity:.6}" +
    ".agent{align-self:flex-start;background:#f0f1f3}" +
    ".system{align-self:center;background:#fff8e1;font-size:13px}" +
    ".who{font-size:11px;color:#5b6470;margin-bottom:2px}" +
    "form{display:flex;flex-direction:column;gap:6px;padding:10px 12px;border-top:1px solid #e3e6ea}" +
    "input,textarea{font:inherit;padding:7px 8px;border:1px solid #c9ced6;border-radius:6px;resize:none}" +
    "form button{background:#1f6feb;color:#fff;border:0;border-radius:6px;padding:8px;font:inherit;cursor:pointer}" +
    "form button:disabled{opacity:.5}[hidden]{display:none!important}" +
    "</style>" +
    '<div class="fd"><button class="launch" type="button"></button>' +
    '<div class="panel" role="dialog"><header><b class="title"></b>' +
    '<button class="end" type="button" hidden>End chat</button>' +
    '<button class="hide" type="button" aria-label="Minimize">&#x2013;</button></header>' +
    '<div class="status" role="status" aria-live="polite"></div>' +
    '<button class="retry" type="button" hidden>Try again</button>' +
    '<div class="log" aria-live="polite"></div>' +
    '<form class="start"><input name="name" placeholder="Your name" maxlength="100" autocomplete="name">' +
    '<input name="email" type="email" placeholder="Email (optional)" maxlength="254" autocomplete="email">' +
    '<textarea name="text" rows="3" placeholder="How can we help?" required></textarea>' +
    '<button type="submit">Start chat</button></form>' +
    '<form class="compose" hidden><textarea name="text" rows="2" placeholder="Type a message" required></textarea>' +
    '<button type="submit">Send</button></form>' +
    '<form class="again" hidden><button type="submit">Start a new chat</button></form>' +
    "</div></div>";
  var $ = function (sel) { return root.querySelector(sel); };
  var box = $(".fd"), log = $(".log"), status = $(".status");
  var startForm = $(".start"), compose = $(".compose"), again = $(".again"), endButton = $(".end");
  var retryButton = $(".retry");
  var refusedStart = null; // a start the server refused: sent again only when the customer asks
  $(".launch").textContent = title;
  $(".title").textContent = title;

  var shown = {}; // message keys already on screen: "s<seq>" or "c<client id>"
  var lastSeq = 0;
  var phase = "idle"; // idle, starting, open, closed

  function setStatus(text, isError) {
    status.textContent = text || "";
    status.className = "status" + (isError ? " err" : "");
  }
  function show(form) {
    startForm.hidden = form !== startForm;
    compose.hidden = form !== compose;
    again.hidden = form !== again;
    endButton.hidden = form !== compose;
  }
  function bubble(from, text, key, who) {
    if (key && shown[key]) return shown[key];
    var el = document.createElement("div");
    el.className = "msg " + (from === "agent" || from === "system" ? from : "customer");
    if (who) {
      var name = document.createElement("div");
      name.className = "who";
      name.textContent = who;
      el.appendChild(name);
    }
    el.appendChild(document.createTextNode(text));
    log.appendChild(el);
    log.scrollTop = log.scrollHeight;
    if (key) shown[key] = el;
    return el;
  }
  function rating() {
    var el = document.createElement("div");
    el.className = "msg system rating";
    el.appendChild(document.createTextNode("How did we do? 1 = very poor, 5 = excellent"));
    var note = document.createElement("input");
    note.type = "text";
    note.maxLength = 2000;
    note.placeholder = "A comment (optional)";
    for (var n = 1; n <= 5; n++) {
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = String(n);
      b.onclick = (function (score) {
        return function () {
          transport.send({ type: "rate", score: score, comment: note.value });
          el.querySelectorAll("button").forEach(function (x) { x.disabled = true; });
        };
      })(n);
      el.appendChild(b);
    }
    el.appendChild(note);
    log.appendChild(el);
    log.scrollTop = log.scrollHeight;
  }
  function minutes(seconds) {
    if (seconds === null || seconds === undefined) return "";
    if (seconds < 60) return " · less than a minute";
    return " · about " + Math.round(seconds / 60) + " min";
  }

  // -- frames from the server (the REST answers are turned into the same frames) ----------------
  function onFrame(f) {
    switch (f.type) {
      case "started":
        saved.conversation = f.conversation;
        saved.token = f.token;
        delete saved.start;
        save();
        phase = "open";
        show(compose);
        flush();
        break;
      case "resumed":
        phase = "open";
        if (f.text && !shown.opening) bubble("customer", f.text, "opening");
        show(compose);
        flush();
        break;
      case "queue":
        setStatus("You are number " + f.position + " in the queue" + minutes(f.estimated_wait_s));
        break;
      case "assigned":
        setStatus("You are chatting with " + (f.agent || "an agent"));
        break;
      case "message":
        if (f.seq > lastSeq) lastSeq = f.seq;
        if (f.from === "agent") bubble("agent", f.text, "s" + f.seq, f.agent);
        else if (f.from === "system") bubble("system", f.text, "s" + f.seq);
        else if (!(f.id && shown["c" + f.id])) bubble("customer", f.text, f.id ? "c" + f.id : "s" + f.seq);
        break;
      case "ack":
        saved.pending = saved.pending.filter(function (m) { return m.id !== f.id; });
        save();
        if (shown["c" + f.id]) shown["c" + f.id].classList.remove("sending");
        break;
      case "survey": // a completed chat asks how it went before it closes (WebSocket only)
        rating();
        break;
      case "rated":
        setStatus(f.accepted ? "Thank you for your rating!" : "Thank you!");
        break;
      case "closed":
        phase = "closed";
        forget();
        setStatus("This chat has ended. Thank you!");
        show(again);
        transport.stop();
        break;
      case "error":
        onError(f);
        break;
    }
  }
  // A start that failed is said so in words, with a button to try again; it is no longer kept,
  // so that the next visit does not send it again unasked.
  function startFailed(reason) {
    refusedStart = saved.start || refusedStart;
    forget();
    phase = "idle";
    setStatus("We could not start the chat" + (reason ? ": " + reason : "") +
      ". Please try again in a moment.", true);
    retryButton.hidden = !refusedStart;
    show(refusedStart ? null : startForm);
  }
  function onError(f) {
    if (phase === "starting" && !saved.conversation && f.code !== "rate_limited" &&
        f.code !== "unavailable") {
      startFailed(f.message);
    } else if (f.code === "bad_token" || f.code === "not_found") {
      forget();
      phase = "idle";
      show(startForm);
      setStatus("Your earlier chat could not be found; start a new one.", true);
    } else if (f.code === "rate_limited" || f.code === "unavailable") {
      setStatus("Please wait a moment; we will send it again.", true);
      setTimeout(flush, Math.max(1, f.retry_after_s || 5) * 1000);
    } else if (f.code === "closed") {
      onFrame({ type: "closed" });
    } else {
      setStatus(f.message || "Something went wrong.", true);
    }
  }
  function viewToFrames(v) { // a REST answer: where the conversation stands
    if (v.text && !shown.opening) bubble("customer", v.text, "opening");
    (v.messages || []).forEach(function (m) {
      onFrame({ type: "message", seq: m.seq, from: m.from, text: m.text, id: m.id, agent: v.agent });
    });
    if (v.state === "waiting" && v.position) {
      onFrame({ type: "queue", position: v.position, estimated_wait_s: v.estimated_wait_s });
    } else if (v.state === "assigned") {
      onFrame({ type: "assigned", agent: v.agent });
    } else if (v.state === "completed" || v.state === "abandoned") {
      onFrame({ type: "closed", state: v.state });
    }
  }

  // -- transports --------------------------------------------------------------------------------
  var transport = { kind: null, stop: function () {} };

  function useSocket() {
    var failures = 0, backoff = 1000, stopped = false, ws = null;
    transport = {
      kind: "websocket",
      send: function (frame) {
        if (ws && ws.readyState === 1) ws.send(JSON.stringify(frame));
      },
      stop: function () {
        stopped = true;
        if (ws) ws.close();
      },
    };
    function open() {
      var opened = false;
      ws = new WebSocket(base.replace(/^http/, "ws") + "/v1/chat/ws?site=" + encodeURIComponent(site));
      ws.onopen = function () {
        opened = true;
        failures = 0;
        backoff = 1000;
        greet();
      };
      ws.onmessage = function (e) {
        var f;
        try { f = JSON.parse(e.data); } catch (err) { return; }
        onFrame(f);
      };
      ws.onclose = function () {
        ws = null;
        if (stopped || phase === "closed") return;
        if (!opened && ++failures >= WS_TRIES) return useRest();
        setStatus("Reconnecting…");
        setTimeout(open, backoff);
        backoff = Math.min(backoff * 2, 30000);
      };
    }
    open();
  }

  function useRest() {
    var timer = null, stopped = false;
    var api = base + "/v1/chat/conversations";
    function q(extra) {
      return "?site=" + encodeURIComponent(site) +
        (saved.token ? "&token=" + encodeURIComponent(saved.token) : "") + (extra || "");
    }
    function call(method, path, body) {
      return fetch(api + path, {
        method: method,
        headers: body ? { "Content-Type": "application/json" } : {},
        body: body ? JSON.stringify(body) : undefined,
      }).then(function (r) {
        return r.json().then(function (j) { return { status: r.status, body: j }; });
      });
    }
    function refused(answer) {
      if (answer.status < 400) return false;
      var e = answer.body.error || {};
      var retry = e.code === "rate_limited" || e.code === "unavailable" ? 5 : undefined;
      onError({ code: e.code, message: e.message, retry_after_s: retry });
      return true;
    }
    function poll() {
      if (stopped || !saved.conversation) return;
      call("GET", "/" + saved.conversation + q("&after=" + lastSeq)).then(function (a) {
        if (!refused(a)) viewToFrames(a.body);
      }, function () {
        setStatus("Reconnecting…");
      }).then(function () {
        if (!stopped && phase !== "closed") timer = setTimeout(poll, POLL_MS);
      });
    }
    transport = {
      kind: "rest",
      send: function (frame) {
        if (frame.type === "start") {
          call("POST", q(), frame).then(function (a) {
            if (refused(a)) return;
            onFrame({ type: "started", conversation: a.body.conversation, token: a.body.token });
            viewToFrames(a.body);
            clearTimeout(timer);
            timer = setTimeout(poll, POLL_MS);
          }, function () { startFailed("the chat service did not answer"); });
        } else if (frame.type === "message") {
          call("POST", "/" + saved.conversation + "/messages" + q(), frame).then(function (a) {
            if (!refused(a)) onFrame({ type: "ack", id: frame.id });
          }, function () { /* kept in pending: sent again with the next flush */ });
        } else if (frame.type === "end") {
          call("POST", "/" + saved.conversation + "/end" + q()).then(function (a) {
            if (!refused(a)) viewToFrames(a.body);
          });
        }
      },
      poll: function () {
        clearTimeout(timer);
        poll();
      },
      stop: function () {
        stopped = true;
        clearTimeout(timer);
      },
    };
    greet();
  }

  // On every new connection: resume the stored conversation, or resend an unanswered start
  // (same client id: the server answers it with the same conversation).
  function greet() {
    if (saved.conversation) {
      if (transport.kind === "websocket") {
        transport.send({ type: "resume", conversation: saved.conversation, token: saved.token,
                         after: lastSeq });
      } else {
        phase = "open";
        show(compose);
        flush();
        transport.poll(); // replays what is not on screen yet
      }
    } else if (saved.start) {
      phase = "starting";
      transport.send(saved.start);
    }
  }
  function flush() { // send what was typed but not acknowledged, in order
    if (phase !== "open") return;
    saved.pending.forEach(function (m) {
      transport.send({ type: "message", id: m.id, text: m.text });
    });
  }
  function connect() {
    if (transport.kind) return;
    if (forceRest || !window.WebSocket) useRest(); else useSocket();
  }

  // -- the customer's actions --------------------------------------------------------------------
  startForm.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = startForm.text.value.trim();
    if (!text) return;
    var frame = { type: "start", id: randomId(16), text: text };
    if (startForm.name.value.trim()) frame.name = startForm.name.value.trim();
    if (startForm.email.value.trim()) frame.contact = { email: startForm.email.value.trim() };
    if (navigator.language) frame.language = navigator.language;
    saved = { start: frame, pending: [] };
    save();
    phase = "starting";
    bubble("customer", text, "opening");
    startForm.text.value = "";
    show(null);
    setStatus("Connecting…");
    if (transport.kind) transport.send(frame); else connect();
  });
  compose.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = compose.text.value.trim();
    if (!text) return;
    var m = { id: "m" + randomId(8), text: text };
    saved.pending.push(m);
    save();
    bubble("customer", text, "c" + m.id).classList.add("sending");
    compose.text.value = "";
    transport.send({ type: "message", id: m.id, text: m.text });
  });
  compose.text.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      compose.requestSubmit ? compose.requestSubmit() : compose.dispatchEvent(new Event("submit"));
    }
  });
  endButton.addEventListener("click", function () {
    if (phase === "open") transport.send({ type: "end" });
  });
  again.addEventListener("submit", function (e) {
    e.preventDefault();
    log.textContent = "";
    shown = {};
    lastSeq = 0;
    phase = "idle";
    transport.stop();
    transport = { kind: null, stop: function () {} };
    setStatus("");
    show(startForm);
  });
  retryButton.addEventListener("click", function () {
    if (!refusedStart) return;
    retryButton.hidden = true;
    saved = { start: refusedStart, pending: [] }; // the same id: a start that did arrive is not doubled
    save();
    phase = "starting";
    setStatus("Connecting…");
    if (transport.kind) transport.send(refusedStart); else connect();
  });
  $(".launch").addEventListener("click", function () { api.open(); });
  $(".hide").addEventListener("click", function () { api.close(); });

  var api = {
    open: function () {
      box.classList.add("open");
      if (saved.conversation || saved.start) connect();
    },
    close: function () { box.classList.remove("open"); },
    transport: function () { return transport.kind; },
    state: function () {
      return { phase: phase, conversation: saved.conversation || null, lastSeq: lastSeq,
               pending: saved.pending.length, status: status.textContent };
    },
  };
  window.FrontdeskChat = api;

  function mount() {
    document.body.appendChild(host);
    show(saved.conversation || saved.start ? null : startForm);
    if (!saved.conversation && !saved.start) setStatus("Tell us how we can help; an agent will join you.");
    if (saved.conversation || saved.start) {
      setStatus("Reconnecting…");
      api.open();
    } else if (script.getAttribute("data-open") === "true") {
      api.open();
    }
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
