/* What both screens share: signing in and out, calling the API with the session cookie and the
   CSRF header, building elements (text is always set as text, never as HTML), and durations.
   The CSRF token lives in this page's memory only. */
(function () {
  "use strict";
  var FD = (window.FD = window.FD || {});
  FD.csrf = null;
  FD.me = null;

  FD.el = function (tag, props) {
    var el = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) {
      var v = props[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") el.textContent = v;
      else if (k === "cls") el.className = v;
      else if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : v);
    });
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      (Array.isArray(c) ? c : [c]).forEach(function (x) {
        el.appendChild(typeof x === "string" ? document.createTextNode(x) : x);
      });
    }
    return el;
  };
  FD.$ = function (sel, root) { return (root || document).querySelector(sel); };
  FD.fill = function (el) { // replace the children of el with the rest of the arguments
    el.textContent = "";
    for (var i = 1; i < arguments.length; i++) {
      (Array.isArray(arguments[i]) ? arguments[i] : [arguments[i]]).forEach(function (x) {
        if (x) el.appendChild(x);
      });
    }
  };

  FD.api = function (method, path, body) {
    var headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (FD.csrf && method !== "GET") headers["X-CSRF-Token"] = FD.csrf;
    return fetch(path, {
      method: method, headers: headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (r) {
      return r.text().then(function (t) {
        var j = null;
        try { j = t ? JSON.parse(t) : {}; } catch (e) { j = { error: { message: t } }; }
        if (r.ok) return j;
        var err = new Error((j.error && j.error.message) || r.statusText);
        err.status = r.status;
        err.code = j.error && j.error.code;
        if (r.status === 401 && FD.me) FD.signedOut(FD.t("session_over"));
        throw err;
      });
    });
  };

  FD.duration = function (s) {
    if (s === null || s === undefined || isNaN(s)) return "—";
    var neg = s < 0;
    s = Math.abs(Math.round(s));
    var out;
    if (s < 3600) out = Math.floor(s / 60) + ":" + ("0" + (s % 60)).slice(-2);
    else out = Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " m";
    return (neg ? "−" : "") + out;
  };

  function showSignin(screen, message) {
    FD.$("#app").hidden = true;
    FD.$("#signin").hidden = false;
    var error = FD.$("#signin-error");
    error.hidden = !message;
    error.textContent = message || "";
    FD.$("#signin-token").focus();
  }
  FD.signedOut = function (message) {
    FD.me = null;
    FD.csrf = null;
    if (FD.onSignedOut) FD.onSignedOut();
    showSignin(FD.screen, message);
  };

  function started(who, start) {
    FD.me = who;
    FD.csrf = who.csrf;
    FD.$("#signin").hidden = true;
    FD.$("#app").hidden = false;
    FD.$("#me").textContent = who.agent || who.name;
    start(who);
  }

  FD.boot = function (screen, start) {
    FD.screen = screen;
    FD.translate();
    FD.$("#lang").addEventListener("click", FD.switchLang);
    FD.$("#signout").addEventListener("click", function () {
      FD.api("POST", "/screens/sign-out").then(function () { location.reload(); },
        function () { location.reload(); });
    });
    FD.$("#signin-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var token = FD.$("#signin-token").value.trim();
      if (!token) return;
      FD.api("POST", "/screens/sign-in", { token: token, screen: screen }).then(function (who) {
        FD.$("#signin-token").value = "";
        started(who, start);
      }, function (err) { showSignin(screen, err.message); });
    });
    FD.api("GET", "/screens/session?screen=" + screen).then(function (who) {
      started(who, start);
    }, function (err) {
      showSignin(screen, err.status === 403 ? err.message : "");
    });
  };
})();
