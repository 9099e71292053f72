// asyncjobs dashboard: live counters by short polling of a small JSON endpoint; no library.
(function () {
  "use strict";
  var body = document.body;
  var every = parseInt(body.getAttribute("data-poll-ms"), 10) || 1000;
  var box = document.querySelector("[data-live-url]");
  if (!box) { return; }
  var url = box.getAttribute("data-live-url");
  var tick = 0;

  function apply(row, data) {
    row.querySelectorAll("[data-live]").forEach(function (el) {
      var key = el.getAttribute("data-live");
      if (!(key in data)) { return; }
      if (key === "paused") { el.hidden = !data.paused; return; }
      var text = String(data[key]);
      if (el.textContent !== text) { el.textContent = text; }
    });
    if (data.chart) {
      row.querySelectorAll("[data-live-chart]").forEach(function (el) { el.innerHTML = data.chart; });
    }
  }

  function rowFor(name) {
    var rows = document.querySelectorAll("[data-queue]");
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute("data-queue") === name) { return rows[i]; }
    }
    return null;
  }

  function poll() {
    tick += 1;
    var charts = tick % 15 === 0;
    var target = url + (charts ? (url.indexOf("?") < 0 ? "?" : "&") + "charts=1" : "");
    fetch(target, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        if (data.queues) {
          data.queues.forEach(function (q) { var row = rowFor(q.name); if (row) { apply(row, q); } });
        } else {
          apply(document, data);
        }
        body.setAttribute("data-live-at", String(Date.now()));
      })
      .catch(function () { /* the next poll tries again */ })
      .then(function () { setTimeout(poll, every); });
  }
  setTimeout(poll, every);
}());
