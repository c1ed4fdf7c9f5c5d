// Keeps the server-rendered results (results page and presenter view) live
// over the result server's WebSocket, on the same origin. Everything the
// script needs is in data attributes of #results: the poll, the words of
// the page's language. The poll's state (data-poll-state, set by
// LiveTally.render) shows or hides the open-only and closed-only parts
// through the stylesheet.
(function () {
  "use strict";
  var root = document.getElementById("results");
  if (!root) { return; }

  // The presenter view must fit one screen. The stylesheet sizes it for
  // the number of options and the question's length; a poll whose labels
  // and question are all near their longest may still overflow, so shrink
  // its unit (--fit) step by step until the page fits. Phones scroll.
  var wide = window.matchMedia ? window.matchMedia("(min-width: 60rem)") : null;
  function fit() {
    if (!root.classList.contains("present")) { return; }
    root.style.removeProperty("--fit");
    if (!wide || !wide.matches) { return; }
    var doc = document.documentElement, f = 1;
    for (var i = 0; i < 15 && doc.scrollHeight > window.innerHeight; i++) {
      f *= 0.95;
      root.style.setProperty("--fit", f.toFixed(3));
    }
  }
  var pending = false;
  function refit() {
    if (pending) { return; }
    pending = true;
    window.requestAnimationFrame(function () { pending = false; fit(); });
  }
  fit();
  window.addEventListener("resize", refit);

  if (!window.LiveTally || !window.WebSocket) { return; }
  var live = document.querySelectorAll("[data-live]");
  var words = {
    live: root.getAttribute("data-words-live") || "Live",
    reconnecting: root.getAttribute("data-words-reconnecting") || "Reconnecting…"
  };
  var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
    (root.getAttribute("data-base") || "") +
    "/ws?poll=" + encodeURIComponent(root.getAttribute("data-poll") || "default");
  LiveTally.connect(url, function (t) {
    LiveTally.render(root, t);
    refit();
  }, function (state) {
    for (var i = 0; i < live.length; i++) {
      live[i].textContent = words[state] || state;
      live[i].setAttribute("data-link", state);
    }
  });
})();
