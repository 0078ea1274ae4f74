// The Build page (see causeway/web/recipes_views.py, recipe_build). Without this script the form
// works as a plain form: every panel shows, and each button reloads the page.
//
// With it: one panel shows at a time, the one whose node is selected on the flow; a field that
// changes is kept as the draft at once (htmx posts op=draft and swaps only the draft's note); the
// flow's steps are dragged to a new place in their list (SortableJS), which posts op=move; changing
// a type shows that type's fields. The move up and down buttons are the keyboard's way to reorder.
(function () {
  "use strict";

  function form() { return document.getElementById("build-form"); }

  // Send the form with one operation: through htmx when it is there (htmx does not take the value of a
  // button pressed by script), else as a plain submit by that button.
  function submitWith(button) {
    var f = form();
    if (!f || !button) { return; }
    if (!window.htmx) { f.requestSubmit(button); return; }
    var quiet = button.value === "draft";
    window.htmx.ajax("POST", f.getAttribute("hx-post"), {
      source: f,
      values: { op: button.value },
      target: f,
      swap: quiet ? "none" : "outerHTML",
      select: "#build-form"
    });
  }

  function select(anchor) {
    var f = form();
    if (!f) { return; }
    var panel = anchor ? document.getElementById(anchor) : null;
    if (!panel || !panel.classList.contains("panel")) { panel = document.getElementById("trigger"); }
    f.classList.add("js-panels");
    f.querySelectorAll(".panel.selected").forEach(function (p) { p.classList.remove("selected"); });
    panel.classList.add("selected");
    f.querySelectorAll("[data-select]").forEach(function (link) {
      if (link.getAttribute("href") === "#" + panel.id) {
        link.setAttribute("aria-current", "step");
      } else {
        link.removeAttribute("aria-current");
      }
    });
    if (history.replaceState) { history.replaceState(null, "", "#" + panel.id); }
  }

  function sortable() {
    if (!window.Sortable) { return; }
    document.querySelectorAll("#flow ol.flow-list").forEach(function (list) {
      window.Sortable.create(list, {
        draggable: ".flow-node",
        handle: ".drag-handle",
        animation: 120,
        onEnd: function (event) {
          var from = event.oldDraggableIndex, to = event.newDraggableIndex;
          if (from === to || from === undefined || to === undefined) { return; }
          var button = document.getElementById("move-op");
          button.value = "move:" + list.getAttribute("data-flow-list") + "[" + from + "]:" + to;
          submitWith(button);
        }
      });
    });
  }

  function setUp() {
    var f = form();
    if (!f) { return; }
    var wanted = f.getAttribute("data-selected") || window.location.hash.slice(1);
    select(wanted);
    sortable();
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-select]");
    if (link && form() && form().contains(link)) {
      event.preventDefault();
      var anchor = link.getAttribute("href").slice(1);
      select(anchor);
      var panel = document.getElementById(anchor);
      var first = panel && panel.querySelector("input, select, textarea");
      if (first) { first.focus(); }
    }
  });

  document.addEventListener("change", function (event) {
    var target = event.target;
    var f = form();
    if (!f || !f.contains(target) || target.id === "id_newtype" || target.id === "id_message") { return; }
    if (target.matches("select[data-refresh]")) {
      submitWith(document.getElementById("refresh"));
    } else if (target.name) {
      submitWith(document.getElementById("save-draft"));
    }
  });

  // A refused save answers 400 with the form and every error in it: show it like any other answer.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (event.detail.elt === form() && (status === 400 || status === 409)) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail.elt && event.detail.elt.id === "build-form") { setUp(); }
  });
  document.addEventListener("htmx:afterSwap", function () {
    var f = form();
    if (f && !f.classList.contains("js-panels")) { setUp(); }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
