// reloadd browser client. Injected into every HTML page reloadd serves or
// proxies as an async script at /_reloadd/client.js?v=<content hash> (which
// the browser caches), and served no-store at /_reloadd/client.js and
// /livereload.js (for pages written for LiveReload). It may run before the
// page is parsed to the end: it reads its stamp from document.currentScript
// and touches the page only to add its overlay and indicator. No
// dependencies, no build step, and no console output: a dev tool must not
// clutter the page's console.
(function () {
  "use strict";
  if (window.__reloadd) return; // loaded twice (e.g. injected into a page that includes it itself)

  var script = document.currentScript;
  var base = new URL(script ? script.src : "/_reloadd/client.js", location.href);
  // The socket is the sibling of client.js (/_reloadd/ws), which keeps
  // working behind a proxy that mounts reloadd under a prefix. Loaded as
  // /livereload.js, the client talks to the same server's /_reloadd/ws.
  var wsURL = /\/livereload\.js$/.test(base.pathname) ? new URL("/_reloadd/ws", base) : new URL("ws", base);
  wsURL.protocol = base.protocol === "https:" ? "wss:" : "ws:";

  // What this page was loaded with. The server stamps them on the script
  // tag; when it could not, the first hello stands in.
  var page = {
    epoch: (script && script.dataset.epoch) || null,
    build: script && script.dataset.build ? Number(script.dataset.build) : null
  };

  // Reconnect backoff, ms: the first retry comes fast (a restarting server
  // is usually back within a fraction of a second), then doubles up to a
  // few seconds. Each wait is jittered (half fixed, half random) so that
  // many tabs do not reconnect in lockstep.
  var MIN_DELAY = 100, MAX_DELAY = 3000;
  // The "rebuilding…" indicator appears only for builds that take longer
  // than this, so that fast builds do not flicker.
  var INDICATOR_DELAY = 150;
  // A swapped stylesheet or image that never loads is given up on after this.
  var SWAP_TIMEOUT = 5000;
  var KEY = "reloadd:pending"; // sessionStorage: timing of the reload in flight

  var delay = MIN_DELAY;
  var socket = null, timer = null, reloading = false;

  // Visible state, for tests and the curious.
  var state = {
    connected: false, // a socket is open
    paused: false,    // not reconnecting: the tab is hidden or offline
    attempts: 0,      // WebSocket connections attempted
    hellos: 0,
    cssSwaps: 0,
    imgSwaps: 0
  };
  window.__reloadd = state;

  function hidden() { return document.visibilityState === "hidden"; }
  function offline() { return navigator.onLine === false; }

  function connect() {
    timer = null;
    if (socket || reloading) return;
    if (hidden() || offline()) { state.paused = true; return; } // resumed by the listeners below
    state.paused = false;
    state.attempts++;
    var ws;
    try {
      ws = new WebSocket(wsURL.href);
    } catch (e) {
      schedule();
      return;
    }
    socket = ws;
    ws.onopen = function () { state.connected = true; };
    ws.onmessage = function (ev) {
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (msg && typeof msg.type === "string") handle(msg);
    };
    ws.onclose = function () {
      if (socket !== ws) return;
      socket = null;
      if (state.connected) delay = MIN_DELAY; // it was up: retry fast
      state.connected = false;
      indicator(false);
      schedule();
    };
    ws.onerror = function () { /* onclose follows */ };
  }

  function schedule() {
    if (timer || reloading) return;
    if (hidden() || offline()) { state.paused = true; return; } // no timer at all while paused
    var wait = delay / 2 + Math.random() * delay / 2;
    delay = Math.min(delay * 2, MAX_DELAY);
    timer = setTimeout(connect, wait);
  }

  // resume reconnects at once when the tab comes back or the network does.
  function resume() {
    if (socket || reloading || hidden() || offline()) return;
    if (timer) { clearTimeout(timer); timer = null; }
    delay = MIN_DELAY;
    connect();
  }
  document.addEventListener("visibilitychange", resume);
  window.addEventListener("online", resume);
  // A page in the back/forward cache must not hold a socket (and could not
  // be cached with one); when it comes back, it resyncs through hello.
  window.addEventListener("pagehide", function (e) {
    if (!e.persisted || !socket) return;
    var s = socket;
    socket = null;
    state.connected = false;
    s.close(1000, "page hidden");
  });
  window.addEventListener("pageshow", function (e) { if (e.persisted) resume(); });

  function handle(msg) {
    switch (msg.type) {
      case "hello":
        state.hellos++;
        delay = MIN_DELAY;
        indicator(false);
        overlay(null); // a failure still standing is sent again right after hello
        if (page.epoch === null || page.build === null) {
          page.epoch = msg.epoch;
          page.build = msg.build;
        } else if (page.epoch !== msg.epoch || page.build !== msg.build) {
          // A build finished, or reloadd restarted, while we were away.
          reload(null);
          return;
        }
        reportPending();
        break;
      case "build_start":
        indicator(true);
        break;
      case "build_complete":
        var received = Date.now();
        indicator(false);
        overlay(null);
        page.build = msg.build;
        // What to do is the server's call: it knows what the build changed.
        var action = msg.action || (msg.css_only ? "swap" : "reload");
        if (action === "none") break; // nothing this page shows changed
        var timing = { build: msg.build, changed_at: msg.changed_at, received: msg.changed_at ? received - msg.changed_at : 0 };
        if (action !== "swap" || !swapAssets(msg, timing)) reload(timing);
        break;
      case "build_failed":
        indicator(false);
        overlay(msg);
        break;
    }
  }

  function reload(timing) {
    if (reloading) return;
    reloading = true;
    if (timing && timing.changed_at) {
      try { sessionStorage.setItem(KEY, JSON.stringify(timing)); } catch (e) { /* no storage: no report */ }
    }
    if (timer) { clearTimeout(timer); timer = null; }
    if (socket) {
      var s = socket;
      socket = null;
      s.close(1000, "reloading");
    }
    location.reload();
  }

  // --- timing reports ------------------------------------------------------

  // After a reload, tell the server how long the save took to reach the
  // screen: ms since the change was first seen, by this browser's clock,
  // with the moment the message arrived so that the server can re-base the
  // figures on its own clock.
  function reportPending() {
    var p = null;
    try {
      p = JSON.parse(sessionStorage.getItem(KEY) || "null");
      sessionStorage.removeItem(KEY);
    } catch (e) { return; }
    if (!p || !p.changed_at) return;
    var send = function () {
      var nav = performance.getEntriesByType ? performance.getEntriesByType("navigation")[0] : null;
      var origin = performance.timeOrigin;
      report({
        build: p.build,
        received: p.received,
        navigation_start: origin - p.changed_at,
        dom_content_loaded: nav ? origin + nav.domContentLoadedEventEnd - p.changed_at : 0,
        load: (nav && nav.loadEventEnd ? origin + nav.loadEventEnd : origin + performance.now()) - p.changed_at
      });
    };
    // loadEventEnd is set once the load handlers have run.
    if (document.readyState === "complete") setTimeout(send, 0);
    else window.addEventListener("load", function () { setTimeout(send, 0); });
  }

  function report(r) {
    r.type = "reloaded";
    if (socket && socket.readyState === 1) {
      try { socket.send(JSON.stringify(r)); } catch (e) { /* gone */ }
    }
  }

  // --- stylesheet and image hot swap ---------------------------------------

  var CSS_RE = /\.css$/i;
  var IMG_RE = /\.(png|jpe?g|gif|webp|avif|svg|ico|bmp)$/i;
  // Style properties that can hold an image url().
  var IMG_PROPS = ["backgroundImage", "borderImageSource", "listStyleImage", "maskImage", "webkitMaskImage", "content", "cursor"];

  function pathOf(href, baseURL) {
    try { return new URL(href, baseURL || location.href).pathname; } catch (e) { return null; }
  }

  // nameOf is the file name a URL ends with ("app.css"), decoded.
  function nameOf(href, baseURL) {
    var p = pathOf(href, baseURL);
    if (p === null) return null;
    p = p.slice(p.lastIndexOf("/") + 1);
    try { return decodeURIComponent(p); } catch (e) { return p; }
  }

  function sameOrigin(href, baseURL) {
    try { return new URL(href, baseURL || location.href).origin === location.origin; } catch (e) { return false; }
  }

  var bustSeq = 0;
  function bust(href, baseURL) {
    var u = new URL(href, baseURL || location.href);
    u.searchParams.set("reloadd", Date.now().toString(36) + (bustSeq++).toString(36));
    return u.href;
  }

  function rulesOf(sheet) {
    try { return (sheet && sheet.cssRules) || null; } catch (e) { return null; } // cross-origin
  }

  // eachSheet calls fn for every stylesheet the page can read, @imported
  // ones included, with the rule that imports it (or null) and the element
  // (<link> or <style>) of the top-level sheet it belongs to.
  function eachSheet(fn) {
    var walk = function (sheet, importRule, owner) {
      var rules = rulesOf(sheet);
      if (!rules) return;
      fn(sheet, importRule, owner);
      for (var i = 0; i < rules.length; i++) {
        if (rules[i].type === 3 /* IMPORT_RULE */) walk(rules[i].styleSheet, rules[i], owner);
      }
    };
    for (var i = 0; i < document.styleSheets.length; i++) walk(document.styleSheets[i], null, document.styleSheets[i].ownerNode);
  }

  // swapAssets swaps in place the changed stylesheets and images the page
  // uses, and reports when they have loaded. msg.urls names them by site
  // path; msg.names, sent when reloadd does not know the site paths (a
  // proxied app), by file name, matched against the last segment of the
  // page's URLs. Other changed files (source maps) are nothing the page
  // shows. It returns false when the page must reload instead: nothing to
  // swap, or a changed file is not on this page (it may be used in a way we
  // cannot see) — except a stylesheet named by file name: then every
  // stylesheet of this origin is swapped, as livereload.js does (the
  // server's file name and the page's URL need not match: a .scss source,
  // a fingerprinted name).
  function swapAssets(msg, timing) {
    var byName = !!(msg.names && msg.names.length);
    var list = byName ? msg.names : (msg.urls || []);
    var css = {}, img = {}, ncss = 0, nimg = 0;
    for (var i = 0; i < list.length; i++) {
      if (CSS_RE.test(list[i])) { css[list[i]] = true; ncss++; }
      else if (IMG_RE.test(list[i])) { img[list[i]] = true; nimg++; }
    }
    if (!ncss && !nimg) return false;
    var keyOf = byName ? nameOf : pathOf;
    var wantCSS = function (href, base) { return css[keyOf(href, base)] === true; };
    var wantImg = function (href, base) { return img[keyOf(href, base)] === true; };
    var cssTargets = ncss ? findCSS(wantCSS) : null;
    if (cssTargets && !cssTargets.count && byName) {
      wantCSS = sameOrigin;
      cssTargets = findCSS(wantCSS);
    }
    var imgTargets = nimg ? findImages(wantImg) : null;
    if ((cssTargets && !cssTargets.count) || (imgTargets && !imgTargets.count)) return false;

    var pending = 1;
    var done = function () {
      if (--pending) return;
      timing.load = timing.changed_at ? Date.now() - timing.changed_at : 0;
      if (ncss) { timing.css_swap = true; state.cssSwaps++; }
      if (nimg) { timing.img_swap = true; state.imgSwaps++; }
      if (timing.load) report(timing);
    };
    var wait = function () { pending++; return once(done); };
    if (cssTargets) swapCSS(cssTargets, wantCSS, wait);
    if (imgTargets) swapImages(imgTargets, wait);
    done();
    return true;
  }

  function once(fn) {
    var called = false;
    return function () { if (!called) { called = true; fn(); } };
  }

  // findCSS finds the <link> elements and the @import rules that load a
  // stylesheet want(href, base) asks for. @imports below a link that is
  // swapped are left to swapLink, which refreshes them in the new copy.
  function findCSS(want) {
    var t = { links: [], imports: [], count: 0 };
    var links = document.querySelectorAll('link[rel~="stylesheet"][href]');
    for (var i = 0; i < links.length; i++) {
      if (!links[i].__reloaddOld && want(links[i].href)) t.links.push(links[i]);
    }
    eachSheet(function (sheet, importRule, owner) {
      if (importRule && t.links.indexOf(owner) < 0 && want(importRule.href, sheet.href)) t.imports.push(importRule);
    });
    t.count = t.links.length + t.imports.length;
    return t;
  }

  function swapCSS(t, want, wait) {
    t.links.forEach(function (link) { swapLink(link, want, wait()); });
    t.imports.forEach(function (rule) { swapImport(rule, wait()); });
  }

  // swapLink inserts a fresh copy of link right after it and removes the
  // old one once the new one has loaded, so the page never shows unstyled.
  // Changed sheets the fresh copy @imports are then refreshed too (the
  // import URLs themselves did not change).
  function swapLink(link, want, done) {
    link.__reloaddOld = true;
    var fresh = link.cloneNode(false);
    fresh.href = bust(link.href);
    var finish = once(function (ok) {
      if (ok === false) {
        // The new copy failed to load: keep the page as it was.
        if (fresh.parentNode) fresh.parentNode.removeChild(fresh);
        link.__reloaddOld = false;
        done();
        return;
      }
      if (link.parentNode) link.parentNode.removeChild(link);
      var nested = [];
      var walk = function (sheet) {
        var rules = rulesOf(sheet);
        if (!rules) return;
        for (var i = 0; i < rules.length; i++) {
          if (rules[i].type !== 3) continue;
          if (want(rules[i].href, sheet.href)) nested.push(rules[i]);
          walk(rules[i].styleSheet);
        }
      };
      walk(fresh.sheet);
      var pending = nested.length + 1;
      var one = function () { if (--pending === 0) done(); };
      nested.forEach(function (rule) { swapImport(rule, one); });
      one();
    });
    fresh.onload = function () { finish(true); };
    fresh.onerror = function () { finish(false); };
    link.parentNode.insertBefore(fresh, link.nextSibling);
    setTimeout(function () { finish(true); }, SWAP_TIMEOUT);
  }

  // swapImport replaces an @import rule by one with a fresh URL: the new
  // rule goes right after the old one (so it wins while both are there),
  // and the old one is deleted once the new sheet has loaded.
  function swapImport(rule, done) {
    var sheet = rule.parentStyleSheet;
    var index = indexOfRule(sheet, rule);
    if (index < 0) { done(); return; }
    var media = rule.media && rule.media.mediaText ? " " + rule.media.mediaText : "";
    var fresh;
    try {
      sheet.insertRule('@import url("' + bust(rule.href, sheet.href) + '")' + media + ";", index + 1);
      fresh = sheet.cssRules[index + 1];
    } catch (e) {
      done();
      return;
    }
    var started = Date.now();
    var poll = function () {
      // An imported sheet's styleSheet appears once it has loaded.
      if (fresh.styleSheet || Date.now() - started > SWAP_TIMEOUT) {
        var i = indexOfRule(sheet, rule);
        if (i >= 0) sheet.deleteRule(i);
        done();
        return;
      }
      setTimeout(poll, 10);
    };
    poll();
  }

  function indexOfRule(sheet, rule) {
    var rules = rulesOf(sheet);
    if (!rules) return -1;
    for (var i = 0; i < rules.length; i++) if (rules[i] === rule) return i;
    return -1;
  }

  // findImages finds the <img> and <source> elements and the style
  // declarations (inline and in stylesheets) that show an image
  // want(href, base) asks for.
  function findImages(want) {
    var t = { elements: [], styles: [], count: 0 };
    var els = document.querySelectorAll("img, source, input[type=image]");
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      if ((el.src && want(el.src)) || srcsetHas(el.getAttribute("srcset"), want)) t.elements.push(el);
    }
    var styled = document.querySelectorAll("[style*='url(']");
    for (var j = 0; j < styled.length; j++) {
      if (styleHas(styled[j].style, want, null)) t.styles.push({ style: styled[j].style, base: null });
    }
    var walkRules = function (rules, base) {
      for (var k = 0; k < rules.length; k++) {
        var r = rules[k];
        if (r.style && styleHas(r.style, want, base)) t.styles.push({ style: r.style, base: base });
        if (r.cssRules && r.type !== 3) walkRules(r.cssRules, base); // @media, @supports, nesting
      }
    };
    eachSheet(function (sheet) { walkRules(rulesOf(sheet), sheet.href); });
    t.want = want;
    t.count = t.elements.length + t.styles.length;
    return t;
  }

  function srcsetHas(srcset, want) {
    if (!srcset) return false;
    return srcset.split(",").some(function (c) { return want(c.trim().split(/\s+/)[0]); });
  }

  var URL_RE = /url\(\s*(["']?)([^"')]+)\1\s*\)/g;

  function styleHas(style, want, base) {
    return IMG_PROPS.some(function (p) {
      var v = style[p];
      if (!v || v.indexOf("url(") < 0) return false;
      var hit = false;
      v.replace(URL_RE, function (m, q, href) { if (want(href, base)) hit = true; return m; });
      return hit;
    });
  }

  function swapImages(t, wait) {
    var want = t.want;
    t.elements.forEach(function (el) {
      var done = wait();
      el.addEventListener("load", done, { once: true });
      el.addEventListener("error", done, { once: true });
      setTimeout(done, SWAP_TIMEOUT);
      var srcset = el.getAttribute("srcset");
      if (srcset && srcsetHas(srcset, want)) {
        el.setAttribute("srcset", srcset.split(",").map(function (c) {
          var parts = c.trim().split(/\s+/);
          if (want(parts[0])) parts[0] = bust(parts[0]);
          return parts.join(" ");
        }).join(", "));
      }
      if (el.src && want(el.src)) el.src = bust(el.src);
      if (el.tagName === "SOURCE") done(); // no load event of its own
    });
    t.styles.forEach(function (s) {
      IMG_PROPS.forEach(function (p) {
        var v = s.style[p];
        if (!v || v.indexOf("url(") < 0) return;
        var nv = v.replace(URL_RE, function (m, q, href) {
          return want(href, s.base) ? 'url("' + bust(href, s.base || location.href) + '")' : m;
        });
        if (nv !== v) s.style[p] = nv;
      });
    });
  }

  // --- indicator and error overlay -------------------------------------------
  // Both live in a shadow root, so the page's CSS cannot restyle them and
  // theirs cannot leak into the page.

  function shadowHost(tag, css) {
    var host = document.createElement(tag);
    host.style.cssText = "all:initial;position:fixed;z-index:2147483647;" + css;
    var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    return { host: host, root: root };
  }

  function mount(host) {
    (document.body || document.documentElement).appendChild(host);
  }

  var indicatorEl = null, indicatorTimer = null;
  function indicator(on) {
    if (indicatorTimer) { clearTimeout(indicatorTimer); indicatorTimer = null; }
    if (!on) {
      if (indicatorEl) { indicatorEl.remove(); indicatorEl = null; }
      return;
    }
    if (indicatorEl) return;
    indicatorTimer = setTimeout(function () {
      indicatorTimer = null;
      var s = shadowHost("reloadd-indicator", "bottom:8px;right:8px;pointer-events:none");
      s.host.id = "reloadd-indicator";
      var box = document.createElement("div");
      box.setAttribute("role", "status");
      box.textContent = "rebuilding\u2026";
      box.style.cssText = "padding:2px 8px;font:12px/1.6 system-ui,sans-serif;background:rgba(0,0,0,.65);color:#fff;border-radius:4px";
      s.root.appendChild(box);
      indicatorEl = s.host;
      mount(indicatorEl);
    }, INDICATOR_DELAY);
  }

  var overlayEl = null;
  function onKey(e) { if (e.key === "Escape") overlay(null); }
  function overlay(msg) {
    if (overlayEl) {
      overlayEl.remove();
      overlayEl = null;
      document.removeEventListener("keydown", onKey, true);
    }
    if (!msg) return;
    var s = shadowHost("reloadd-overlay", "inset:0");
    s.host.id = "reloadd-overlay";
    var panel = document.createElement("div");
    panel.setAttribute("role", "alert");
    panel.style.cssText = "box-sizing:border-box;height:100%;overflow:auto;padding:24px;background:rgba(20,0,0,.92);" +
      "color:#fdd;font:13px/1.5 ui-monospace,SFMono-Regular,Menlo,monospace";
    var close = document.createElement("button");
    close.textContent = "\u00d7";
    close.title = "Dismiss (Esc)";
    close.setAttribute("aria-label", "Dismiss");
    close.style.cssText = "position:absolute;top:8px;right:12px;font:22px/1 sans-serif;background:none;border:0;color:#fdd;cursor:pointer";
    close.onclick = function () { overlay(null); };
    var title = document.createElement("div");
    title.style.cssText = "font-weight:bold;margin-bottom:12px";
    var exit = msg.exit_code > 0 ? " (exit " + msg.exit_code + ")" : "";
    title.textContent = msg.stage === "app" ? "reloadd: the app failed" + exit : "reloadd: build " + msg.build + " failed" + exit;
    var out = document.createElement("pre");
    out.style.cssText = "margin:0;white-space:pre-wrap;word-break:break-word";
    out.textContent = msg.output || ""; // text, never HTML
    panel.appendChild(close);
    panel.appendChild(title);
    panel.appendChild(out);
    s.root.appendChild(panel);
    overlayEl = s.host;
    mount(overlayEl);
    document.addEventListener("keydown", onKey, true);
  }

  connect();
})();
