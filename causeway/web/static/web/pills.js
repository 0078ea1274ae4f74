// Data pills on the Build page (see causeway/web/templates/web/recipes/_pills.html): a pill puts its
// expression into the text field last edited, at the caret; typing "{{" in a field offers the
// expressions of the same tree as completions (arrow keys to choose, Enter or Tab to take, Escape to
// close). The inserted text is a change of the field like any other, so it is kept in the draft.
(function () {
  "use strict";

  var lastField = null;
  var box = null;
  var choices = [];
  var active = -1;

  function isTemplateField(element) {
    return element && element.closest && element.closest("#build-form .panel") &&
      (element.tagName === "TEXTAREA" || (element.tagName === "INPUT" && element.type === "text"));
  }

  function expressions() {
    var data = document.getElementById("pill-completions");
    try { return data ? JSON.parse(data.textContent) : []; } catch (e) { return []; }
  }

  function changed(field) {
    field.dispatchEvent(new Event("input", { bubbles: true }));
    field.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function insert(field, text, from) {
    var start = from === undefined ? field.selectionStart : from;
    var end = field.selectionEnd;
    field.value = field.value.slice(0, start) + text + field.value.slice(end);
    var caret = start + text.length;
    field.focus();
    field.setSelectionRange(caret, caret);
  }

  function close() {
    if (box) { box.remove(); box = null; }
    choices = [];
    active = -1;
    if (lastField) { lastField.removeAttribute("aria-activedescendant"); }
  }

  function typed(field) {
    var before = field.value.slice(0, field.selectionStart);
    var match = /\{\{\s*([\w.\[\]"]*)$/.exec(before);
    return match ? { partial: match[1], at: field.selectionStart - match[1].length } : null;
  }

  function take(index) {
    var field = lastField, found = field && typed(field);
    if (!found || !choices[index]) { close(); return; }
    field.setSelectionRange(found.at, field.selectionStart);
    var rest = field.value.slice(field.selectionEnd);
    insert(field, choices[index] + (/^\s*\}\}/.test(rest) ? "" : " }}"), found.at);
    close();
    changed(field);
  }

  function mark() {
    if (!box) { return; }
    box.querySelectorAll("[role=option]").forEach(function (option, i) {
      option.setAttribute("aria-selected", i === active ? "true" : "false");
    });
    if (active >= 0) { lastField.setAttribute("aria-activedescendant", "pill-option-" + active); }
  }

  function offer(field) {
    var found = typed(field);
    if (!found) { close(); return; }
    var wanted = found.partial.toLowerCase();
    choices = expressions().filter(function (e) { return e.toLowerCase().indexOf(wanted) !== -1; }).slice(0, 8);
    if (!choices.length) { close(); return; }
    if (!box) {
      box = document.createElement("ul");
      box.id = "pill-complete";
      box.setAttribute("role", "listbox");
      box.setAttribute("aria-label", "Fields of the latest test run");
      field.insertAdjacentElement("afterend", box);
      field.setAttribute("aria-controls", "pill-complete");
    }
    box.textContent = "";
    choices.forEach(function (choice, i) {
      var option = document.createElement("li");
      option.id = "pill-option-" + i;
      option.setAttribute("role", "option");
      option.textContent = choice;
      option.addEventListener("mousedown", function (event) { event.preventDefault(); take(i); });
      box.appendChild(option);
    });
    active = 0;
    mark();
  }

  document.addEventListener("focusin", function (event) {
    if (isTemplateField(event.target)) {
      if (event.target !== lastField) { close(); }
      lastField = event.target;
    }
  });

  document.addEventListener("input", function (event) {
    if (isTemplateField(event.target) && event.isTrusted) { lastField = event.target; offer(event.target); }
  });

  document.addEventListener("keydown", function (event) {
    if (!box || event.target !== lastField) { return; }
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      active = (active + (event.key === "ArrowDown" ? 1 : choices.length - 1)) % choices.length;
      mark();
    } else if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      take(active);
    } else if (event.key === "Escape") {
      close();
    }
  });

  document.addEventListener("focusout", function (event) {
    if (event.target === lastField) { close(); }
  });

  document.addEventListener("click", function (event) {
    var pill = event.target.closest && event.target.closest("button[data-pill]");
    if (!pill) { return; }
    var field = lastField && document.body.contains(lastField) ? lastField : null;
    if (!field) {
      var note = document.getElementById("pills-heading");
      if (note) { note.setAttribute("data-hint", "Select a field first"); }
      return;
    }
    insert(field, pill.getAttribute("data-pill"));
    changed(field);
  });
})();
