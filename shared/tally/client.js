// Live tally for the vote and result pages, for any number of options.
//
// LiveTally.connect(url, onTally, onState) follows one poll's tallies on
// the result server's WebSocket (url ends in ?poll=<id>; none means the
// default poll), reconnecting with growing delays, keeping the highest
// version of the database history it holds (the tally's epoch) and
// ignoring messages of other polls. A tally of another epoch is taken
// whatever its version: the database was restored or replaced, and the
// result server sends only its database's epoch.
//
// LiveTally.render(root, t) updates the elements under root:
//   [data-percent=<option id>]  text "N%"
//   [data-count=<option id>]    text: the option's count
//   [data-bar=<option id>]      a <progress>/<meter>: value = N; else style.width = "N%"
//   [data-total]                the total in words, from root's
//                               data-words-none, data-words-one and
//                               data-words-many ("%d" is the number), so the
//                               page's language is used (English otherwise)
// and sets root's data-poll-state (open/closed) and data-version.
// Percentages are those of Tally.Percentages in Go: whole numbers adding up
// to 100 by largest remainder, in option order (a, b, c, …), first option
// first on ties.
(function () {
  "use strict";

  var DEFAULT_POLL = "default";

  // The option ids of a tally in order: a, b, c, … sort as strings.
  function optionIDs(t) {
    return Object.keys(t.counts || {}).sort();
  }

  // percentages returns {optionID: whole percent} for tally t.
  function percentages(t) {
    var ids = optionIDs(t), total = t.total || 0, out = {}, rem = [], sum = 0, i;
    for (i = 0; i < ids.length; i++) { out[ids[i]] = 0; }
    if (total <= 0) { return out; }
    for (i = 0; i < ids.length; i++) {
      var scaled = (t.counts[ids[i]] || 0) * 100;
      out[ids[i]] = Math.floor(scaled / total);
      rem[i] = scaled % total;
      sum += out[ids[i]];
    }
    // Hand the points lost to rounding down to the largest remainders.
    for (; sum < 100 && ids.length > 0; sum++) {
      var best = 0;
      for (i = 1; i < rem.length; i++) { if (rem[i] > rem[best]) { best = i; } }
      if (rem[best] <= 0) { break; }
      out[ids[best]]++;
      rem[best] = -1;
    }
    return out;
  }

  // summary words total with the words on root (or English).
  function summary(total, root) {
    function words(name, fallback) {
      var w = root && root.getAttribute && root.getAttribute("data-words-" + name);
      return w || fallback;
    }
    if (!total) { return words("none", "No votes yet"); }
    if (total === 1) { return words("one", "1 vote").replace("%d", "1"); }
    return words("many", "%d votes").replace("%d", String(total));
  }

  function each(root, attr, fn) {
    var els = root.querySelectorAll("[" + attr + "]");
    for (var i = 0; i < els.length; i++) { fn(els[i], els[i].getAttribute(attr)); }
  }

  function setText(el, text) {
    // Only real changes, so screen readers announce what changed.
    if (el.textContent !== text) { el.textContent = text; }
  }

  function render(root, t) {
    var pct = percentages(t), counts = t.counts || {};
    each(root, "data-percent", function (el, o) { setText(el, (pct[o] || 0) + "%"); });
    each(root, "data-count", function (el, o) { setText(el, String(counts[o] || 0)); });
    each(root, "data-bar", function (el, o) {
      var p = pct[o] || 0, tag = el.tagName;
      if (tag === "PROGRESS" || tag === "METER") {
        el.value = p;
        setText(el, p + "%");
      } else {
        el.style.width = p + "%";
      }
    });
    each(root, "data-total", function (el) { setText(el, summary(t.total, root)); });
    if (t.state) { root.setAttribute("data-poll-state", t.state); }
    root.setAttribute("data-version", String(t.version));
  }

  // pollOf returns the poll a WebSocket URL follows.
  function pollOf(url) {
    var m = /[?&]poll=([^&#]*)/.exec(url);
    return m ? decodeURIComponent(m[1]) : DEFAULT_POLL;
  }

  // takes reports whether tally t replaces held (the last one taken, or
  // null): a tally of another epoch always does (none counts as ""), one
  // of the same epoch when its version is not lower (equal too, as after a
  // reconnection).
  function takes(t, held) {
    if (!held) { return true; }
    if ((t.epoch || "") !== held.epoch) { return true; }
    return t.version >= held.version;
  }

  // connect opens url and calls onTally with every tally of its poll that
  // takes() the place of the last one; it reconnects with growing delays
  // (up to 5 s) when the socket closes and reports the link to
  // onState("live" | "reconnecting").
  function connect(url, onTally, onState) {
    var poll = pollOf(url), held = null, delay = 250;
    onState = onState || function () {};
    function open() {
      var ws;
      try { ws = new WebSocket(url); } catch (e) { retry(); return; }
      ws.onopen = function () { delay = 250; onState("live"); };
      ws.onmessage = function (ev) {
        var t;
        try { t = JSON.parse(ev.data); } catch (e) { return; }
        if (!t || typeof t.version !== "number" || typeof t.counts !== "object") { return; }
        if (t.epoch !== undefined && typeof t.epoch !== "string") { return; }
        var p = t.poll || DEFAULT_POLL; // a tally of version 1 has no poll
        if (p !== poll) { return; }
        if (!takes(t, held)) { return; }
        held = { epoch: t.epoch || "", version: t.version };
        onTally(t);
      };
      ws.onclose = function () { onState("reconnecting"); retry(); };
    }
    function retry() {
      setTimeout(open, delay + Math.floor(Math.random() * delay / 2));
      delay = Math.min(delay * 2, 5000);
    }
    open();
  }

  window.LiveTally = { percentages: percentages, summary: summary, render: render, connect: connect };
})();
