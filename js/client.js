// reloadd browser client. Served at /_reloadd/client.js and injected into
// every HTML page reloadd serves or proxies. No dependencies, no build step.
(function () {
  "use strict";
  if (window.__reloadd) return; // injected twice (e.g. a page that includes it itself)

  var script = document.currentScript;
  var base = new URL(script ? script.src : "/_reloadd/client.js", location.href);
  var wsURL = new URL("ws", base); // sibling of client.js: /_reloadd/ws
  wsURL.protocol = base.protocol === "https:" ? "wss:" : "ws:";

  // What this page was loaded with. The server stamps them on the script tag;
  // when it could not, the first hello stands in.
  var page = {
    epoch: script && script.dataset.epoch || null,
    build: script && script.dataset.build ? Number(script.dataset.build) : null
  };

  var KEY = "reloadd:pending";
  var MIN_DELAY = 100, MAX_DELAY = 3000; // backoff bounds, ms
  var delay = MIN_DELAY;
  var socket = null, timer = null, reloading = false, failures = 0;

  var state = { connected: false, hellos: 0, reconnects: 0, cssSwaps: 0, imgSwaps: 0 };
  window.__reloadd = state; // for tests and the curious

  function connect() {
    timer = null;
    if (socket || reloading) return;
    if (document.visibilityState === "hidden" || navigator.onLine === false) return; // resumed by listeners
    var ws;
    try {
      ws = new WebSocket(wsURL.href);
    } catch (e) {
      schedule();
      return;
    }
    socket = ws;
    ws.onopen = function () {
      state.connected = true;
    };
    ws.onmessage = function (ev) {
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (msg && typeof msg.type === "string") handle(msg);
    };
    ws.onclose = function () {
      if (socket !== ws) return;
      socket = null;
      if (state.connected) {
        state.connected = false;
        delay = MIN_DELAY;
      }
      failures++;
      schedule();
    };
    ws.onerror = function () { /* onclose follows; no console noise */ };
  }

  // schedule the next attempt: exponential backoff with full jitter, the
  // first retry fast, capped at a few seconds.
  function schedule() {
    if (timer || reloading) return;
    var wait = Math.random() * delay;
    delay = Math.min(delay * 2, MAX_DELAY);
    timer = setTimeout(function () { state.reconnects++; connect(); }, wait);
  }

  function resume() {
    if (socket || reloading) return;
    if (timer) { clearTimeout(timer); timer = null; }
    delay = MIN_DELAY;
    connect();
  }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") resume();
  });
  window.addEventListener("online", resume);

  function handle(msg) {
    switch (msg.type) {
      case "hello":
        state.hellos++;
        failures = 0;
        delay = MIN_DELAY;
        if (page.epoch === null) {
          page.epoch = msg.epoch;
          page.build = msg.build;
        } else if (page.epoch !== msg.epoch || page.build !== msg.build) {
          reload(null, msg.build); // a build finished, or reloadd restarted, while we were away
        }
        reportPending();
        break;
      case "build_start":
        indicator(true);
        break;
      case "build_complete":
        indicator(false);
        overlay(null);
        page.build = msg.build;
        if (msg.css_only && swapCSS(msg.urls || [])) {
          report({ build: msg.build, changed_at: msg.changed_at, css_swap: true });
        } else if (onlyImages(msg) && swapImages(msg.urls)) {
          report({ build: msg.build, changed_at: msg.changed_at, css_swap: true });
        } else {
          reload(msg.changed_at, msg.build);
        }
        break;
      case "build_failed":
        indicator(false);
        page.build = msg.build;
        overlay(msg);
        break;
    }
  }

  function reload(changedAt, build) {
    if (reloading) return;
    reloading = true;
    try {
      sessionStorage.setItem(KEY, JSON.stringify({ changed_at: changedAt, build: build }));
    } catch (e) { /* storage disabled: no timing report */ }
    if (socket) socket.close(1000, "reloading");
    location.reload();
  }

  // After a reload, tell the server how long the save took to reach the
  // screen, in ms since the change was first seen.
  function reportPending() {
    var raw = null;
    try { raw = sessionStorage.getItem(KEY); sessionStorage.removeItem(KEY); } catch (e) { return; }
    if (!raw) return;
    var p;
    try { p = JSON.parse(raw); } catch (e) { return; }
    if (!p || !p.changed_at) return;
    var send = function () {
      var nav = performance.getEntriesByType ? performance.getEntriesByType("navigation")[0] : null;
      var origin = performance.timeOrigin;
      report({
        build: p.build,
        changed_at: p.changed_at,
        navigation_start: origin - p.changed_at,
        dom_content_loaded: nav ? origin + nav.domContentLoadedEventEnd - p.changed_at : 0,
        load: nav && nav.loadEventEnd ? origin + nav.loadEventEnd - p.changed_at : performance.now() + origin - p.changed_at
      });
    };
    if (document.readyState === "complete") setTimeout(send, 0);
    else window.addEventListener("load", function () { setTimeout(send, 0); });
  }

  function report(r) {
    if (r.css_swap && r.changed_at) {
      r.load = Date.now() - r.changed_at;
    }
    r.type = "reloaded";
    if (socket && socket.readyState === 1) {
      try { socket.send(JSON.stringify(r)); } catch (e) { /* gone */ }
    }
  }

  // --- stylesheet and image hot swap -------------------------------------

  function pathOf(href) {
    try { return new URL(href, location.href).pathname; } catch (e) { return null; }
  }

  function bust(href) {
    var u = new URL(href, location.href);
    u.searchParams.set("reloadd", Date.now().toString(36));
    return u.href;
  }

  // swapCSS replaces every stylesheet whose path is in urls (or that
  // @imports one) with a fresh copy; the old one is removed once the new one
  // has loaded, so the page never flashes unstyled. It returns false when no
  // stylesheet matched, so the caller reloads instead.
  function swapCSS(urls) {
    var want = {};
    urls.forEach(function (u) { want[u] = true; });
    var links = document.querySelectorAll('link[rel~="stylesheet"][href]');
    var swapped = 0;
    for (var i = 0; i < links.length; i++) {
      var link = links[i];
      if (want[pathOf(link.href)] || importsAny(link.sheet, want)) {
        swapLink(link);
        swapped++;
      }
    }
    // <style> blocks that @import a changed sheet.
    var styles = document.querySelectorAll("style");
    for (var j = 0; j < styles.length; j++) {
      if (importsAny(styles[j].sheet, want)) {
        styles[j].textContent = styles[j].textContent.replace(/@import\s+(url\()?\s*["']?([^"')\s]+)["']?\s*\)?/g, function (m, u, href) {
          return '@import url("' + bust(href) + '")';
        });
        swapped++;
      }
    }
    if (swapped) state.cssSwaps++;
    return swapped > 0;
  }

  function importsAny(sheet, want) {
    var rules;
    try { rules = sheet && sheet.cssRules; } catch (e) { return false; } // cross-origin
    if (!rules) return false;
    for (var i = 0; i < rules.length; i++) {
      var r = rules[i];
      if (r.type === 3 /* IMPORT_RULE */ && (want[pathOf(r.href)] || (r.styleSheet && want[pathOf(r.styleSheet.href)]) || importsAny(r.styleSheet, want))) {
        return true;
      }
    }
    return false;
  }

  function swapLink(link) {
    var fresh = link.cloneNode(false);
    fresh.href = bust(link.href);
    var done = false;
    var finish = function () {
      if (done) return;
      done = true;
      if (link.parentNode) link.parentNode.removeChild(link);
    };
    fresh.onload = finish;
    fresh.onerror = finish;
    link.parentNode.insertBefore(fresh, link.nextSibling);
    setTimeout(finish, 5000); // never keep both forever
  }

  // onlyImages: every changed file is an image the page can fetch by URL.
  function onlyImages(msg) {
    var urls = msg.urls || [], paths = msg.paths || [];
    if (!urls.length || urls.length !== paths.length) return false;
    return urls.every(function (u) { return /\.(png|jpe?g|gif|webp|avif|svg|ico|bmp)$/i.test(u); });
  }

  function swapImages(urls) {
    var want = {};
    urls.forEach(function (u) { want[u] = true; });
    var n = 0;
    var imgs = document.images;
    for (var i = 0; i < imgs.length; i++) {
      if (want[pathOf(imgs[i].src)]) { imgs[i].src = bust(imgs[i].src); n++; }
    }
    var all = document.querySelectorAll("[style*='url(']");
    for (var k = 0; k < all.length; k++) {
      var el = all[k];
      var bg = el.style.backgroundImage;
      bg.replace(/url\(["']?([^"')]+)["']?\)/g, function (m, href) {
        if (want[pathOf(href)]) { el.style.backgroundImage = 'url("' + bust(href) + '")'; n++; }
      });
    }
    if (n) state.imgSwaps++;
    return n > 0;
  }

  // --- indicator and error overlay -----------------------------------------

  var indicatorEl = null;
  function indicator(on) {
    if (on && !indicatorEl && document.body) {
      indicatorEl = document.createElement("div");
      indicatorEl.id = "reloadd-indicator";
      indicatorEl.setAttribute("role", "status");
      indicatorEl.textContent = "rebuilding\u2026";
      indicatorEl.style.cssText = "position:fixed;bottom:8px;right:8px;z-index:2147483647;padding:2px 8px;" +
        "font:12px/1.6 system-ui,sans-serif;background:rgba(0,0,0,.6);color:#fff;border-radius:4px;pointer-events:none";
      document.body.appendChild(indicatorEl);
    } else if (!on && indicatorEl) {
      indicatorEl.remove();
      indicatorEl = null;
    }
  }

  var overlayEl = null;
  function overlay(msg) {
    if (overlayEl) { overlayEl.remove(); overlayEl = null; }
    if (!msg || !document.body) return;
    overlayEl = document.createElement("div");
    overlayEl.id = "reloadd-overlay";
    overlayEl.setAttribute("role", "alert");
    overlayEl.style.cssText = "position:fixed;inset:0;z-index:2147483647;overflow:auto;padding:24px;" +
      "background:rgba(20,0,0,.92);color:#fdd;font:13px/1.5 ui-monospace,monospace;white-space:pre-wrap";
    var close = document.createElement("button");
    close.textContent = "\u00d7";
    close.title = "Dismiss";
    close.style.cssText = "position:fixed;top:8px;right:12px;font:20px sans-serif;background:none;border:0;color:#fdd;cursor:pointer";
    close.onclick = function () { overlay(null); };
    var title = document.createElement("div");
    title.style.cssText = "font-weight:bold;margin-bottom:12px";
    title.textContent = "Build " + msg.build + " failed" + (msg.exit_code ? " (exit " + msg.exit_code + ")" : "");
    var out = document.createElement("pre");
    out.style.cssText = "margin:0;white-space:pre-wrap";
    out.textContent = msg.output || ""; // text, never HTML
    overlayEl.appendChild(close);
    overlayEl.appendChild(title);
    overlayEl.appendChild(out);
    document.body.appendChild(overlayEl);
  }

  connect();
})();
