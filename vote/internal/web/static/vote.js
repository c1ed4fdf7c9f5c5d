// Votes without reloading the page and shows the live tally. Without
// JavaScript the form posts to / and the server answers with the page.
(function () {
  "use strict";
  var form = document.getElementById("ballot");
  var choice = document.getElementById("choice");
  var error = document.getElementById("error");
  var tally = document.getElementById("tally");

  function mark(option, label) {
    var buttons = form.querySelectorAll("button[name=vote]");
    for (var i = 0; i < buttons.length; i++) {
      var on = buttons[i].value === option;
      buttons[i].classList.toggle("chosen", on);
      buttons[i].setAttribute("aria-pressed", on ? "true" : "false");
    }
    choice.innerHTML = "";
    choice.appendChild(document.createTextNode("You voted for "));
    var strong = document.createElement("strong");
    strong.textContent = label;
    choice.appendChild(strong);
    choice.appendChild(document.createTextNode("."));
  }

  form.addEventListener("submit", function (ev) {
    var button = ev.submitter;
    if (!button || !window.fetch) { return; } // let the form post
    ev.preventDefault();
    error.textContent = "";
    fetch("/api/vote", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify({ vote: button.value })
    }).then(function (res) {
      return res.json().then(function (body) {
        if (res.status !== 202) { throw new Error(body.error || ("status " + res.status)); }
        mark(body.vote, button.textContent);
      });
    }).catch(function (e) {
      error.textContent = "Your vote was not recorded: " + e.message;
    });
  });

  LiveTally.connect(document.body.getAttribute("data-socket"), function (t) {
    LiveTally.render(tally, t);
  }, function (state) {
    tally.setAttribute("data-state", state);
  });
})();
