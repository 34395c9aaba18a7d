// After a refused submit, move focus to the error summary so it is read out first.
// On the question form, the language link re-sends the form to itself in the other language,
// so what was typed stays (in the request body, never in an address or in storage).
(function () {
  "use strict";
  var summary = document.getElementById("errors");
  if (summary) {
    summary.setAttribute("tabindex", "-1");
    summary.focus();
  }
  var link = document.getElementById("lang-switch");
  var form = document.getElementById("question-form");
  var flag = document.getElementById("switch");
  if (!link || !form || !flag) return;
  flag.value = "";
  window.addEventListener("pageshow", function () { flag.value = ""; }); // Back from a switch
  link.addEventListener("click", function (event) {
    event.preventDefault();
    flag.value = "1";
    form.setAttribute("action", link.getAttribute("data-action"));
    form.submit();
  });
})();
