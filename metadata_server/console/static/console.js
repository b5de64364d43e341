// Hearth console: live statuses from the project's event stream (Server-Sent Events through
// the cookie-authorised /console/stream/<project>; EventSource resumes with Last-Event-ID).
(function () {
  "use strict";
  var body = document.body;
  var url = body.getAttribute("data-stream");
  if (!url || !window.EventSource) { return; }
  var pageStack = body.getAttribute("data-page-stack");
  var since = body.getAttribute("data-since") || "0";
  var live = document.getElementById("live-status");
  var ACTIONS = ["INIT", "CREATE", "UPDATE", "DELETE", "ROLLBACK", "SUSPEND", "RESUME", "ADOPT",
    "CHECK", "SNAPSHOT", "RESTORE", "SIGNAL", "ABANDON"];
  var STATES = ["IN_PROGRESS", "COMPLETE", "FAILED"];

  function tone(status) {
    if (/FAILED$/.test(status)) { return "failed"; }
    if (/IN_PROGRESS$/.test(status)) { return "progress"; }
    if (/COMPLETE$/.test(status)) { return "complete"; }
    return "other";
  }

  function setStatus(scope, event) {
    if (!scope) { return; }
    var cells = scope.querySelectorAll("[data-field=status]");
    for (var i = 0; i < cells.length; i++) {
      cells[i].textContent = event.resource_status;
      if (cells[i].classList.contains("status")) { cells[i].className = "status " + tone(event.resource_status); }
    }
    if (scope.classList && scope.classList.contains("node")) { scope.setAttribute("class", "node " + tone(event.resource_status)); }
    var reason = scope.querySelector("[data-field=reason]");
    if (reason) { reason.textContent = event.resource_status_reason || ""; }
    var updated = scope.querySelector("[data-field=updated]");
    if (updated) { updated.textContent = event.event_time || ""; }
  }

  function cell(text, className) {
    var td = document.createElement("td");
    if (className) {
      var span = document.createElement("span");
      span.className = className;
      span.textContent = text;
      td.appendChild(span);
    } else {
      td.textContent = text;
    }
    return td;
  }

  function addEvent(event) {
    var table = document.querySelector("#events tbody");
    if (!table) { return; }
    var row = document.createElement("tr");
    row.appendChild(cell(event.event_time || ""));
    row.appendChild(cell(event.resource_name || ""));
    row.appendChild(cell(event.resource_status, "status " + tone(event.resource_status)));
    row.appendChild(cell(event.resource_status_reason || ""));
    table.insertBefore(row, table.firstChild);
  }

  function onEvent(message) {
    var event;
    try { event = JSON.parse(message.data); } catch (e) { return; }
    var stackEvent = event.physical_resource_id === event.stack_id;
    if (stackEvent) {
      var rows = document.querySelectorAll("[data-stack-id=\"" + CSS.escape(event.stack_id) + "\"]");
      for (var i = 0; i < rows.length; i++) { setStatus(rows[i], event); }
    }
    if (pageStack && event.stack_id === pageStack) {
      if (!stackEvent) {
        var name = CSS.escape(event.resource_name || "");
        var parts = document.querySelectorAll("[data-resource=\"" + name + "\"], [data-deployment-resource=\"" + name + "\"]");
        for (var j = 0; j < parts.length; j++) { setStatus(parts[j], event); }
      }
      addEvent(event);
    }
    if (live) { live.textContent = "Live: " + (event.stack_name || "") + " " + (event.resource_name || "") + " " + event.resource_status; }
  }

  var source = new EventSource(url + "?since=" + encodeURIComponent(since));
  ACTIONS.forEach(function (action) {
    STATES.forEach(function (state) { source.addEventListener(action + "_" + state, onEvent); });
  });
  source.addEventListener("error", function (message) {
    if (message.data) { source.close(); if (live) { live.textContent = "Live updates stopped: sign in again."; } }
  });
  source.addEventListener("open", function () { if (live) { live.textContent = "Live"; } });
  // A page kept in the back/forward cache would hold its stream open, and a browser gives a
  // host only six HTTP/1.1 connections: close it on leaving, start afresh on coming back.
  window.addEventListener("pagehide", function () { source.close(); });
  window.addEventListener("pageshow", function (event) { if (event.persisted) { window.location.reload(); } });
}());
