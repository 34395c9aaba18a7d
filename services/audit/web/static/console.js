// Live audit events for the operators' console: prepend rows as the server streams them.
(function () {
  "use strict";
  var body = document.getElementById("events");
  if (!body || !window.EventSource) { return; }
  var limit = parseInt(body.getAttribute("data-limit"), 10) || 50;
  var after = body.getAttribute("data-after") || "0";
  var types = (body.getAttribute("data-types") || "").split(" ").filter(Boolean);
  var skip = ["event_id", "type", "occurred_at", "source", "question_id", "seq", "recorded_at"];

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    row.appendChild(td);
    return td;
  }

  function details(e) {
    return Object.keys(e).filter(function (k) { return skip.indexOf(k) < 0 && e[k] != null; })
      .sort().map(function (k) { return k + "=" + e[k]; }).join(" ");
  }

  function add(msg) {
    var e;
    try { e = JSON.parse(msg.data); } catch (err) { return; }
    if (e.seq <= parseInt(after, 10)) { return; }
    after = String(e.seq);
    var row = document.createElement("tr");
    row.className = "fresh";
    cell(row, e.seq);
    cell(row, e.occurred_at);
    cell(row, e.type);
    var code = document.createElement("code");
    code.textContent = e.question_id || "";
    cell(row, "").appendChild(code);
    cell(row, details(e));
    body.insertBefore(row, body.firstChild);
    while (body.rows.length > limit) { body.deleteRow(body.rows.length - 1); }
  }

  var source = new EventSource("/api/v1/audit/stream?after=" + encodeURIComponent(after));
  types.forEach(function (t) { source.addEventListener(t, add); });
  source.onmessage = add;
  // The state of the live connection, for people (and tests) to see: connecting, open, retrying.
  body.setAttribute("data-live", "connecting");
  source.onopen = function () { body.setAttribute("data-live", "open"); };
  source.onerror = function () { body.setAttribute("data-live", "retrying"); };
}());
