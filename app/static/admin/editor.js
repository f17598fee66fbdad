// Post editor: live Markdown preview through POST /api/preview (the server's renderer and
// sanitiser, so the preview is what the public page shows) and the "Publish at" field in the
// browser's local time. Plain script, no build step; the form works without it.
(function () {
  'use strict';
  var form = document.getElementById('post-form');
  if (!form) return;
  var csrf = form.querySelector('input[name="_csrf"]').value;

  var content = document.getElementById('content');
  var target = document.getElementById(content.getAttribute('data-preview-target'));
  var timer = null;
  var sent = 0;
  function refresh() {
    var mine = ++sent;
    fetch('/api/preview', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify({ content: content.value }),
    }).then(function (res) {
      if (!res.ok) throw new Error('preview failed: HTTP ' + res.status);
      return res.json();
    }).then(function (body) {
      if (mine === sent) target.innerHTML = body.html; // sanitized by the server
    }).catch(function (err) {
      if (mine === sent) target.textContent = String(err.message || err);
    });
  }
  content.addEventListener('input', function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  });
  if (content.value) refresh();

  // The stored time is UTC; show it in local time and send it back as an ISO instant.
  var when = document.getElementById('scheduled_at');
  var iso = document.getElementById('scheduled_at_iso');
  var pad = function (n) { return String(n).padStart(2, '0'); };
  var utc = when.getAttribute('data-utc');
  if (utc) {
    var d = new Date(utc);
    if (!isNaN(d.getTime())) {
      when.value = d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' + pad(d.getHours()) + ':' + pad(d.getMinutes());
    }
  }
  form.addEventListener('submit', function () {
    var local = when.value ? new Date(when.value) : null; // datetime-local parses as local time
    iso.value = local && !isNaN(local.getTime()) ? local.toISOString() : '';
  });
})();
