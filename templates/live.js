// The request page's live window (issue 16.3): counts the time left down every second and asks
// the server every few seconds whether the request is still open. When the window closes or the
// request is decided elsewhere, the decision forms are disabled and the page says why, in the
// server's words. Served from /ui/static/live.js under `script-src 'self'`: no inline code, no
// eval. Without it the page works the same; it only learns later (on reload).
(function () {
  'use strict';
  var root = document.querySelector('[data-live]');
  if (!root) return;
  var statusUrl = root.dataset.live;
  var closesAt = root.dataset.closesAt;
  var deadline = Date.now() + Number(root.dataset.secondsLeft) * 1000;
  var notice = document.getElementById('live-status');
  var closed = false;
  var ticker = null;
  var poller = null;

  function words(seconds) {
    if (seconds <= 0) return 'window closed';
    if (seconds < 60) return seconds + ' s left';
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + ' min left';
    var rest = minutes % 60;
    return Math.floor(minutes / 60) + ' h ' + (rest < 10 ? '0' : '') + rest + ' min left';
  }

  function show(seconds) {
    document.querySelectorAll('[data-countdown]').forEach(function (element) {
      element.textContent = words(seconds);
    });
  }

  function close(message) {
    if (closed) return;
    closed = true;
    clearInterval(ticker);
    clearInterval(poller);
    show(0);
    root.classList.add('closed');
    root.querySelectorAll('form button, form input, form textarea, form select').forEach(function (element) {
      element.disabled = true;
    });
    if (notice) {
      notice.textContent = message;
      notice.hidden = false;
    }
  }

  function tick() {
    var seconds = Math.round((deadline - Date.now()) / 1000);
    if (seconds <= 0) {
      close('The approval window closed at ' + closesAt + '.');
    } else {
      show(seconds);
    }
  }

  function poll() {
    fetch(statusUrl, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (status) {
        if (status && !status.open && status.message) close(status.message);
      })
      .catch(function () { /* offline for a moment: the countdown goes on, the server still decides */ });
  }

  ticker = setInterval(tick, 1000);
  poller = setInterval(poll, 5000);
  tick();
})();
