// unyo console: the live status of the page and small helpers. No build
// step; runs after htmx.min.js and sse.min.js (all deferred).
(function () {
  "use strict";
  // Event types the live stream sends (web/hub.go). A page listens with
  // hx-trigger="sse:<type>"; add a type here so the status follows it.
  var TYPES = ["incident", "target", "run", "job", "agent", "rollout", "refresh", "ping"];
  var lastId = null, lastMsg = Date.now(), open = false, behind = false, failed = false;
  var main = document.getElementById("main");
  if (main && main.dataset.eventId) lastId = main.dataset.eventId;

  // The page's live state, for a look from the developer tools (and the
  // benchmark): state, last event id, when the last event came (ms epoch).
  var live = window.unyoLive = { state: "connecting", lastId: lastId, lastEventAt: 0 };

  function show() {
    var el = document.getElementById("live");
    if (!el) return;
    var s = !open ? "reconnecting" : (behind || failed) ? "behind" : "live";
    live.state = s;
    el.dataset.state = s;
    el.textContent = s;
  }

  // Reconnect from the last event seen, not from when the page was drawn.
  htmx.createEventSource = function (url) {
    if (lastId) url = url.replace(/([?&])since=[^&]*/, "$1since=" + encodeURIComponent(lastId));
    var src = new EventSource(url, { withCredentials: true });
    TYPES.forEach(function (t) {
      src.addEventListener(t, function (e) {
        lastMsg = Date.now();
        if (e.lastEventId) lastId = live.lastId = e.lastEventId;
        if (t !== "ping") live.lastEventAt = Date.now();
        if (t !== "ping" && document.querySelector(".region")) {
          behind = true; // until the regions have been drawn again
          settle(t);
          show();
        }
      });
    });
    return src;
  };

  document.addEventListener("htmx:sseOpen", function () { open = true; lastMsg = Date.now(); show(); });
  document.addEventListener("htmx:sseError", function () { open = false; show(); });

  // A heavy region (data-settle="ms", data-events="incident target")
  // redraws at most once per that many ms, and always after the last
  // event: its hx-trigger listens for "unyo:redraw", not the stream.
  function settle(type) {
    document.querySelectorAll(".region[data-settle]").forEach(function (elt) {
      if ((" " + elt.dataset.events + " ").indexOf(" " + type + " ") < 0 && type !== "refresh") return;
      if (elt._unyoTimer) return; // the redraw already planned will show this event too
      elt._unyoTimer = setTimeout(function () {
        elt._unyoTimer = null;
        htmx.trigger(elt, "unyo:redraw");
      }, Number(elt.dataset.settle) || 1000);
    });
  }
  function planned(except) {
    var n = 0;
    document.querySelectorAll(".region").forEach(function (elt) {
      if (elt !== except && (elt._unyoTimer || elt.classList.contains("htmx-request"))) n++;
    });
    return n > 0;
  }

  function isRegion(e) { return e.detail && e.detail.elt && e.detail.elt.classList && e.detail.elt.classList.contains("region"); }
  document.addEventListener("htmx:afterRequest", function (e) {
    if (!isRegion(e)) return;
    if (e.detail.successful) {
      failed = false;
      var id = e.detail.xhr && e.detail.xhr.getResponseHeader("X-Unyo-Event-Id");
      if ((!id || !lastId || id === lastId || newer(id, lastId)) && !planned(e.detail.elt)) behind = false;
    } else {
      failed = true; // try again shortly; the badge says "behind" meanwhile
      var elt = e.detail.elt;
      setTimeout(function () { htmx.trigger(elt, "unyo:retry"); }, 3000);
    }
    show();
  });
  function newer(a, b) {
    var x = a.split("-"), y = b.split("-");
    return x[0] === y[0] && Number(x[1]) >= Number(y[1]);
  }

  // Keep the rows a user has ticked across a live redraw.
  var ticked = null;
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (!isRegion(e)) return;
    ticked = {};
    e.detail.elt.querySelectorAll("input[type=checkbox][name=id]:checked").forEach(function (c) { ticked[c.value] = true; });
  });
  document.addEventListener("htmx:afterSwap", function (e) {
    if (!isRegion(e) || !ticked) return;
    e.detail.elt.querySelectorAll("input[type=checkbox][name=id]").forEach(function (c) { if (ticked[c.value]) c.checked = true; });
    ticked = null;
  });

  // "all" ticks every row of its form.
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (!t || !t.dataset || !t.dataset.selectAll) return;
    t.form.querySelectorAll("input[type=checkbox][name=" + t.dataset.selectAll + "]").forEach(function (c) { c.checked = t.checked; });
  });

  // A stream that sent nothing (not even a ping) for 45 s is dead even if
  // the browser has not noticed: say so, and redraw the page when nothing
  // is being typed.
  setInterval(function () {
    if (!open || Date.now() - lastMsg < 45000) return;
    open = false;
    show();
    var a = document.activeElement;
    if (!a || !/^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName)) location.reload();
  }, 5000);
  show();
})();
