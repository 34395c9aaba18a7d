// Quick exit: leave for a neutral site and replace this page in the history, by the button
// or by pressing Escape twice within a second. Without JavaScript the button is a plain link.
(function () {
  "use strict";
  var button = document.getElementById("quick-exit");
  if (!button) return;
  var target = button.getAttribute("href");
  function leave(event) {
    if (event) event.preventDefault();
    document.body.hidden = true;
    window.location.replace(target);
  }
  button.addEventListener("click", leave);
  var lastEscape = 0;
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var now = Date.now();
    if (now - lastEscape < 1000) leave(event);
    lastEscape = now;
  });
})();
