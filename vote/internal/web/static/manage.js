// The manage page's "Copy link" button (it needs the clipboard, so it
// stays hidden without JavaScript: the link can be selected by hand).
(function () {
  "use strict";
  var button = document.getElementById("copy");
  var status = document.getElementById("copy-status");
  if (!button || !navigator.clipboard) { return; }
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(button.getAttribute("data-url")).then(function () {
      status.textContent = button.getAttribute("data-copied");
    });
  });
})();
