// Live tally for the vote and result pages. Elements marked with
// data-percent, data-count, data-bar (value: option id) and data-total are
// kept up to date from the result server's WebSocket.
(function () {
  "use strict";

  var OPTIONS = ["a", "b"];

  // Whole percentages adding up to 100 (largest remainder, first option on
  // ties), or all 0 before the first vote: the same as Tally.Percentages.
  function percentages(t) {
    var p = [], rem = [], sum = 0, i;
    if (!t.total) { return OPTIONS.map(function () { return 0; }); }
    for (i = 0; i < OPTIONS.length; i++) {
      var scaled = (t.counts[OPTIONS[i]] || 0) * 100;
      p[i] = Math.floor(scaled / t.total);
      rem[i] = scaled % t.total;
      sum += p[i];
    }
    for (; sum < 100; sum++) {
      var best = 0;
      for (i = 1; i < rem.length; i++) { if (rem[i] > rem[best]) { best = i; } }
      p[best]++;
      rem[best] = -1;
    }
    return p;
  }

  function summary(total) {
    if (!total) { return "No votes yet"; }
    return total === 1 ? "1 vote" : total + " votes";
  }

  function each(root, attr, fn) {
    var els = root.querySelectorAll("[" + attr + "]");
    for (var i = 0; i < els.length; i++) { fn(els[i], els[i].getAttribute(attr)); }
  }

  function render(root, t) {
    var p = percentages(t), byOption = {};
    OPTIONS.forEach(function (o, i) { byOption[o] = p[i]; });
    each(root, "data-percent", function (el, o) { el.textContent = byOption[o] + "%"; });
    each(root, "data-count", function (el, o) { el.textContent = String(t.counts[o] || 0); });
    each(root, "data-bar", function (el, o) { el.style.width = byOption[o] + "%"; });
    each(root, "data-total", function (el) { el.textContent = summary(t.total); });
    root.setAttribute("data-version", String(t.version));
  }

  // connect opens url and calls onTally with every tally newer than the
  // last; it reconnects with growing delays (up to 5 s) when the socket
  // closes, and reports the link state to onState("live" | "reconnecting").
  function connect(url, onTally, onState) {
    var version = -1, delay = 250, ws = null;
    onState = onState || function () {};
    function open() {
      try { ws = new WebSocket(url); } catch (e) { retry(); return; }
      ws.onopen = function () { delay = 250; onState("live"); };
      ws.onmessage = function (ev) {
        var t;
        try { t = JSON.parse(ev.data); } catch (e) { return; }
        if (typeof t.version !== "number" || t.version < version) { return; }
        version = t.version;
        onTally(t);
      };
      ws.onclose = function () { ws = null; onState("reconnecting"); retry(); };
    }
    function retry() {
      setTimeout(open, delay + Math.floor(Math.random() * delay / 2));
      delay = Math.min(delay * 2, 5000);
    }
    open();
  }

  window.LiveTally = { percentages: percentages, summary: summary, render: render, connect: connect };
})();
