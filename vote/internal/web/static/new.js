// "Add option" without a round trip: a new empty field, numbered, focused.
// Without JavaScript the button posts the form and the server answers it
// with one more field.
//
// "Add option" sits under the last option, so it is the form's first
// submit button and the one Enter presses. Here Enter in a field moves to
// the next field instead (adding one after the last option, as long as
// more are allowed), and creates the poll only from the last field there
// is: nobody creates a half-typed poll by pressing Enter.
(function () {
  "use strict";
  var form = document.getElementById("new-poll");
  var add = document.getElementById("add-option");
  var create = document.getElementById("create");
  if (!form) { return; }
  var fields = document.getElementById("options");
  var max = parseInt(form.getAttribute("data-max"), 10) || 12;
  var words = form.getAttribute("data-option-label") || "%d";

  function optionInputs() {
    return fields.querySelectorAll("input[name=option]");
  }

  // addField puts a fresh, empty field after the last option and returns
  // its input, or null when the poll has as many options as it may.
  function addField() {
    var inputs = optionInputs();
    var n = inputs.length;
    if (n >= max) { return null; }
    var last = inputs[n - 1].parentNode;
    var p = last.cloneNode(true);
    // A copy of a field the server marked wrong must not inherit its error.
    p.classList.remove("invalid");
    var err = p.querySelector(".field-error");
    if (err) { err.parentNode.removeChild(err); }
    var label = p.querySelector("label");
    var input = p.querySelector("input");
    input.id = "option-" + n;
    input.value = "";
    input.removeAttribute("aria-invalid");
    input.removeAttribute("autofocus");
    input.setAttribute("aria-describedby", "options-hint");
    label.setAttribute("for", input.id);
    label.textContent = words.replace("%d", String(n + 1));
    last.parentNode.insertBefore(p, last.nextSibling);
    if (add && n + 1 >= max) { add.hidden = true; }
    return input;
  }

  function submitCreate() {
    if (!create) { return; }
    if (form.requestSubmit) { form.requestSubmit(create); } else { create.click(); }
  }

  if (add) {
    add.addEventListener("click", function (ev) {
      var input = addField();
      if (!input) { return; } // let the server say so
      ev.preventDefault();
      input.focus();
    });
  }

  function enterInField(ev) {
    var el = ev.target;
    return ev.key === "Enter" && !ev.isComposing && el.tagName === "INPUT" && el.type !== "submit";
  }

  // Some browsers (and tools that drive them) submit on keypress even
  // after the keydown was handled: that press must not reach "add" too.
  form.addEventListener("keypress", function (ev) {
    if (enterInField(ev)) { ev.preventDefault(); }
  });

  form.addEventListener("keydown", function (ev) {
    var el = ev.target;
    if (!enterInField(ev)) { return; }
    ev.preventDefault();
    if (el.name === "question") {
      optionInputs()[0].focus();
      return;
    }
    if (el.name !== "option") { submitCreate(); return; }
    var inputs = optionInputs();
    for (var i = 0; i < inputs.length - 1; i++) {
      if (inputs[i] === el) { inputs[i + 1].focus(); return; }
    }
    // The last option: one more field while the poll may have more and
    // this one is filled, else the poll is done.
    var next = el.value.trim() !== "" ? addField() : null;
    if (next) { next.focus(); } else { submitCreate(); }
  });
})();
