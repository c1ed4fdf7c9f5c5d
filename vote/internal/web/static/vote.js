// Votes without reloading the page and follows the live tally. Without
// JavaScript the form posts to the page and the server answers with it.
// The words come from the page (data-* attributes), in its language; the
// options come from the page's buttons, so any number of them works.
(function () {
  "use strict";
  var form = document.getElementById("ballot");
  var choice = document.getElementById("choice");
  var error = document.getElementById("error");
  var closed = document.getElementById("closed");
  var tally = document.getElementById("tally");

  function buttons() {
    return form ? form.querySelectorAll("button[name=vote]") : [];
  }

  function labelOf(button) {
    var l = button.querySelector(".option-label");
    return l ? l.textContent : button.textContent;
  }

  function mark(option) {
    var list = buttons(), label = "";
    for (var i = 0; i < list.length; i++) {
      var on = list[i].value === option;
      list[i].classList.toggle("chosen", on);
      list[i].setAttribute("aria-pressed", on ? "true" : "false");
      var m = list[i].querySelector(".mark");
      if (m) { m.hidden = !on; }
      if (on) { label = labelOf(list[i]); }
    }
    choice.textContent = "";
    choice.appendChild(document.createTextNode(form.getAttribute("data-chose") + " "));
    var strong = document.createElement("strong");
    strong.textContent = label;
    choice.appendChild(strong);
    choice.appendChild(document.createTextNode("."));
  }

  // showClosed turns the ballot off (or on again after a reopen).
  function showClosed(isClosed) {
    if (!form) { return; }
    closed.hidden = !isClosed;
    var list = buttons();
    for (var i = 0; i < list.length; i++) { list[i].disabled = isClosed; }
  }

  // retryAfter is a 429's Retry-After in whole seconds, at least 1.
  function retryAfter(res) {
    var s = parseInt(res.headers.get("Retry-After"), 10);
    return s >= 1 ? s : 1;
  }

  // send posts the vote; over the rate limit (429) it says so and sends it
  // once more after Retry-After, then gives up with the page's message.
  function send(option, retried) {
    // The default poll's route is version 1's /api/vote.
    var api = form.getAttribute("data-api") || "/api/vote";
    fetch(api, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify({ vote: option })
    }).then(function (res) {
      if (res.status === 409) {
        showClosed(true);
        error.textContent = form.getAttribute("data-closed");
        return;
      }
      if (res.status === 429) {
        var wait = retryAfter(res);
        if (retried) {
          error.textContent = form.getAttribute("data-limited").replace("%d", wait);
          return;
        }
        error.textContent = form.getAttribute("data-retrying").replace("%d", wait);
        setTimeout(function () {
          error.textContent = "";
          send(option, true);
        }, wait * 1000);
        return;
      }
      return res.json().then(function (body) {
        if (res.status !== 202) { throw new Error(body.error || ("status " + res.status)); }
        mark(body.vote);
      });
    }).catch(function (e) {
      error.textContent = form.getAttribute("data-error") + " " + e.message;
    });
  }

  if (form) {
    form.addEventListener("submit", function (ev) {
      var button = ev.submitter;
      if (!button || !window.fetch) { return; } // let the form post
      ev.preventDefault();
      error.textContent = "";
      send(button.value, false);
    });
  }

  if (tally && window.LiveTally) {
    LiveTally.connect(tally.getAttribute("data-socket"), function (t) {
      LiveTally.render(tally, t);
      showClosed(t.state === "closed");
    }, function (state) {
      tally.setAttribute("data-link", state);
    });
  }
})();
