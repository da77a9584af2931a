// Follows the agent's state: the server sends each card that changed over
// one event stream; a card replaces the one with its id. The current
// wait's clock ticks here between events.
(function () {
  "use strict";
  function human(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + " s";
    var m = Math.floor(s / 60); s = s % 60;
    if (m < 60) return s ? m + " m " + s + " s" : m + " m";
    var h = Math.floor(m / 60); m = m % 60;
    return m ? h + " h " + m + " m" : h + " h";
  }
  function tick() {
    document.querySelectorAll(".wait[data-started]").forEach(function (el) {
      var since = Date.now() - Number(el.dataset.started);
      var e = el.querySelector(".elapsed");
      if (e) e.textContent = human(since);
      var m = el.querySelector("meter"), limit = Number(el.dataset.limit);
      if (m && limit > 0) m.value = Math.min(100, 100 * since / limit);
    });
  }
  if (!window.EventSource) return;
  var live = document.getElementById("live");
  var es = new EventSource("/events");
  es.onopen = function () { if (live) live.hidden = false; };
  es.onerror = function () { if (live) live.hidden = true; };
  es.addEventListener("card", function (ev) {
    var t = document.createElement("template");
    t.innerHTML = ev.data.trim();
    var next = t.content.firstElementChild;
    if (!next || !next.id) return;
    var cur = document.getElementById(next.id);
    if (!cur) {
      // A page of one card (its actions) shows that card only.
      if (!document.body.hasAttribute("data-single")) document.querySelector("main").appendChild(next);
      return;
    }
    // Keep what the reader opened or closed.
    cur.querySelectorAll("details[class]").forEach(function (d) {
      var n = next.querySelector("details." + d.className.split(" ")[0]);
      if (n) n.open = d.open;
    });
    // Keep a token or a reason being typed, and where the cursor was.
    var focus = null;
    ["token", "reason"].forEach(function (name) {
      var a = cur.querySelector("input[name=" + name + "]"), b = next.querySelector("input[name=" + name + "]");
      if (a && b) b.value = a.value;
      if (a && b && document.activeElement === a) focus = b;
    });
    cur.replaceWith(next);
    if (focus) focus.focus();
    document.body.dataset.events = String(Number(document.body.dataset.events || 0) + 1);
  });
  setInterval(tick, 1000);
})();
