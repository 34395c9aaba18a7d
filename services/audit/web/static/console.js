// The console's live trail: when the stream says something new was stored, fetch the new lines
// as the server words them (labels, references, Amsterdam time) and put them at the top.
(function () {
  "use strict";
  var list = document.getElementById("events");
  if (!list || !window.EventSource || !window.fetch) { return; }
  var limit = 50;
  var after = parseInt(list.getAttribute("data-after"), 10) || 0;
  var show = list.getAttribute("data-show") || "all";
  var lang = list.getAttribute("data-lang") || "nl";
  var busy = false;
  var again = false;

  function pull() {
    if (busy) { again = true; return; }
    busy = true;
    var url = "/trail/lines?after=" + after + "&show=" + encodeURIComponent(show) +
      "&lang=" + encodeURIComponent(lang);
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      // A session that ran out answers with the sign-in instead: nothing to add then.
      .then(function (r) { return r.ok && !r.redirected ? r.text() : ""; })
      .then(function (html) {
        if (html.trim()) {
          var box = document.createElement("ol");
          box.innerHTML = html;
          var fresh = Array.prototype.slice.call(box.children);
          for (var i = fresh.length - 1; i >= 0; i--) {
            var seq = parseInt(fresh[i].getAttribute("data-seq"), 10) || 0;
            if (seq <= after) { continue; }
            fresh[i].className += " fresh";
            list.insertBefore(fresh[i], list.firstChild);
          }
          fresh.forEach(function (li) {
            var seq = parseInt(li.getAttribute("data-seq"), 10) || 0;
            if (seq > after) { after = seq; }
          });
          while (list.children.length > limit) { list.removeChild(list.lastElementChild); }
        }
      })
      .catch(function () { /* the next message tries again */ })
      .then(function () {
        busy = false;
        if (again) { again = false; pull(); }
      });
  }

  var source = new EventSource("/api/v1/audit/stream?after=" + encodeURIComponent(after));
  source.onmessage = pull;
  // Each record comes as an event named by its type; any of them means: look for new lines.
  var types = (list.getAttribute("data-types") || "").split(" ").filter(Boolean);
  types.forEach(function (t) { source.addEventListener(t, pull); });
  // The state of the live connection, for people (and tests) to see: connecting, open, retrying.
  list.setAttribute("data-live", "connecting");
  source.onopen = function () { list.setAttribute("data-live", "open"); };
  source.onerror = function () { list.setAttribute("data-live", "retrying"); };
}());
