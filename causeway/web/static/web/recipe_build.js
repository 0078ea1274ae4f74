// The Build page: changing a step's or the trigger's type shows that type's fields at once.
// Without this script the same happens when the "Show fields" button is pressed.
document.addEventListener("change", function (event) {
  var target = event.target;
  if (target.matches && target.matches("select[data-refresh]")) {
    var refresh = document.getElementById("refresh");
    if (refresh && target.form) { target.form.requestSubmit(refresh); }
  }
});
