// Forms that delete, rotate, remove or revoke ask first: a form with data-confirm="..." is sent only
// once the person has said yes to that question. Without this script the form is sent as it is.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var submitter = event.submitter;
  var question = (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
}, true);
