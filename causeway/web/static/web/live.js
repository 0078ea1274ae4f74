// Live pages (see causeway/web/live.py): a page in a hidden tab does not poll, and catches up at
// once when it is shown again.
document.addEventListener("htmx:beforeRequest", function (event) {
  if (document.hidden && event.detail.elt.hasAttribute("data-live")) {
    event.preventDefault();
  }
});
document.addEventListener("visibilitychange", function () {
  if (document.hidden || !window.htmx) {
    return;
  }
  document.querySelectorAll("[data-live]").forEach(function (element) {
    window.htmx.trigger(element, "live:refresh");
  });
});
