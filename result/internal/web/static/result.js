// Keeps the server-rendered results live over the result server's
// WebSocket (same origin).
(function () {
  "use strict";
  var root = document.getElementById("results");
  var live = document.getElementById("live");
  var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  LiveTally.connect(url, function (t) {
    LiveTally.render(root, t);
  }, function (state) {
    live.textContent = state === "live" ? "Live" : "Reconnecting…";
    live.className = "live " + state;
  });
})();
