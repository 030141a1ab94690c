// Live updates. The page works without this script; with it, node and job
// changes arriving on /api/events re-render the live part of the page from
// the server (same templates, same escaping: no second renderer in the browser).
// A job's progress is written by its runner without an event, so while the
// live part shows a busy job (data-busy) it is re-fetched every few seconds.
// Refreshes are throttled, and a reconnect (e.g. after a server restart)
// re-fetches the state, since events sent while disconnected are not replayed.
(function () {
  var live = document.getElementById('live');
  var badge = document.getElementById('live-status');
  if (!live || !window.EventSource || !window.fetch) return;
  var fragmentUrl = live.getAttribute('data-fragment');
  var onlyNode = live.getAttribute('data-node');
  var onlyJob = live.getAttribute('data-job');
  var MIN_INTERVAL_MS = 1000,
    STALE_MS = 30000,
    MAX_RETRY_MS = 30000,
    BUSY_POLL_MS = 3000;
  var busyTimer = null,
    timer = null,
    lastRefresh = 0,
    source = null,
    missed = false,
    retryMs = 1000;

  function setLive(on) {
    badge.setAttribute('data-state', on ? 'on' : 'off');
    badge.textContent = on ? 'live' : 'reconnecting';
  }

  function pollWhileBusy() {
    if (busyTimer || !live.querySelector('[data-busy]')) return;
    busyTimer = setTimeout(function () {
      busyTimer = null;
      schedule();
    }, BUSY_POLL_MS);
  }

  function refresh() {
    timer = null;
    lastRefresh = Date.now();
    fetch(fragmentUrl, { credentials: 'same-origin', cache: 'no-store', headers: { accept: 'text/html' } })
      .then(function (res) {
        // A login page instead of the fragment: the session ended; show it.
        if (res.redirected || res.status === 401) {
          window.location.reload();
          return null;
        }
        return res.ok ? res.text() : null;
      })
      .then(function (html) {
        if (html === null) return;
        live.innerHTML = html;
        live.setAttribute('data-refreshed', String(Date.now()));
        pollWhileBusy();
      })
      .catch(function () {
        /* server away: the reconnect will refresh */
      });
  }

  function schedule() {
    if (timer) return;
    timer = setTimeout(refresh, Math.max(0, lastRefresh + MIN_INTERVAL_MS - Date.now()));
  }

  function connect() {
    source = new EventSource('/api/events');
    source.onopen = function () {
      setLive(true);
      retryMs = 1000;
      if (missed) {
        missed = false;
        schedule();
      }
    };
    source.onmessage = function (event) {
      var change;
      try {
        change = JSON.parse(event.data);
      } catch {
        return;
      }
      if (onlyJob) {
        if (!change.job || String(change.job.id) !== onlyJob) return;
      } else if (onlyNode) {
        var id = change.node ? change.node.id : change.id;
        if (String(id) !== onlyNode) return;
      }
      schedule();
    };
    source.onerror = function () {
      setLive(false);
      missed = true;
      // The browser retries a dropped stream itself; after an HTTP error it
      // gives up (CLOSED), so start over with a backoff. A 401 there means the
      // session ended: the refresh notices and shows the login form.
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        schedule();
        setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
      }
    };
  }

  // Relative times ("5m ago") age; re-render now and then even when quiet.
  setInterval(schedule, STALE_MS);
  pollWhileBusy();
  connect();
})();
