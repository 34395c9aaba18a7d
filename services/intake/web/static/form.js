// After a refused submit, move focus to the error summary so it is read out first.
(function () {
  "use strict";
  var summary = document.getElementById("errors");
  if (!summary) return;
  summary.setAttribute("tabindex", "-1");
  summary.focus();
})();
