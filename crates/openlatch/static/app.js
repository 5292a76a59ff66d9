// OpenLatch web UI script. Every page works without it; it only adds
// live approvals, confirmation dialogs and copy buttons. No inline code:
// pages pass what it needs in data-* attributes.
"use strict";

document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) return;
  var source = document.getElementById(button.getAttribute("data-copy"));
  if (source && navigator.clipboard) {
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      button.textContent = "Copied";
    });
  }
});

function setupApprovals(list) {
  var empty = document.getElementById("approvals-empty");
  function refreshEmpty() {
    if (empty) empty.hidden = list.children.length > 0;
  }
  function removeExpired() {
    var now = Date.now() / 1000;
    Array.prototype.forEach.call(list.querySelectorAll("[data-expires]"), function (item) {
      if (Number(item.getAttribute("data-expires")) <= now) item.remove();
    });
    refreshEmpty();
  }
  var source = new EventSource(list.getAttribute("data-stream"));
  source.addEventListener("pending", function (event) {
    var template = document.createElement("template");
    template.innerHTML = event.data;
    var item = template.content.firstElementChild;
    if (!item) return;
    var existing = document.getElementById(item.id);
    if (existing) existing.replaceWith(item); else list.prepend(item);
    refreshEmpty();
  });
  source.addEventListener("decided", function (event) {
    var item = document.getElementById(event.data);
    if (item) item.remove();
    refreshEmpty();
  });
  source.addEventListener("resync", function () {
    window.location.reload();
  });
  window.setInterval(removeExpired, 1000);
}

document.addEventListener("DOMContentLoaded", function () {
  var list = document.getElementById("approvals");
  if (list && window.EventSource) setupApprovals(list);
});
