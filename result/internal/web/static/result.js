// Keeps the server-rendered results (results page and presenter view) live
// over the result server's WebSocket, on the same origin. Everything the
// script needs is in data attributes of #results: the poll, the words of
// the page's language.
(function () {
  "use strict";
  var root = document.getElementById("results");
  if (!root || !window.LiveTally || !window.WebSocket) { return; }
  var live = document.querySelectorAll("[data-live]");
  var words = {
    live: root.getAttribute("data-words-live") || "Live",
    reconnecting: root.getAttribute("data-words-reconnecting") || "Reconnecting…"
  };
  var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
    "/ws?poll=" + encodeURIComponent(root.getAttribute("data-poll") || "default");
  LiveTally.connect(url, function (t) {
    LiveTally.render(root, t);
  }, function (state) {
    for (var i = 0; i < live.length; i++) {
      live[i].textContent = words[state] || state;
      live[i].setAttribute("data-link", state);
    }
  });
})();
