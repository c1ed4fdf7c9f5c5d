// "Add option" without a round trip: a new empty field, numbered, focused.
// Without JavaScript the button posts the form and the server answers it
// with one more field.
(function () {
  "use strict";
  var form = document.getElementById("new-poll");
  var add = document.getElementById("add-option");
  if (!form || !add) { return; }
  var fields = document.getElementById("options");
  var max = parseInt(form.getAttribute("data-max"), 10) || 12;
  var words = form.getAttribute("data-option-label") || "%d";

  add.addEventListener("click", function (ev) {
    var inputs = fields.querySelectorAll("input[name=option]");
    var n = inputs.length;
    if (n >= max) { return; } // let the server say so
    ev.preventDefault();
    var last = inputs[n - 1].parentNode;
    var p = last.cloneNode(true);
    var label = p.querySelector("label");
    var input = p.querySelector("input");
    input.id = "option-" + n;
    input.value = "";
    label.setAttribute("for", input.id);
    label.textContent = words.replace("%d", String(n + 1));
    last.parentNode.insertBefore(p, last.nextSibling);
    input.focus();
    if (n + 1 >= max) { add.hidden = true; }
  });
})();
