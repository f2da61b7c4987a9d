package main

import (
	"encoding/json"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/reloadd/reloadd/internal/testenv"
	"github.com/reloadd/reloadd/serve"
)

// TestBrowserNeverSeesTheAppRestarting runs reloadd in front of a real app
// (-proxy, -run) that takes longer to listen after each restart than the
// proxy waits for a dead upstream (serve.DefaultWait): every page the
// browser loads, through two rebuilds, is the app's new page — never
// reloadd's waiting page, never a connection error — because build_complete
// is only sent once the new app accepts connections.
func TestBrowserNeverSeesTheAppRestarting(t *testing.T) {
	ctx := testenv.Chromium(t)
	p := newAppProject(t)
	version := p.version
	d := startDaemonProxy(t, testenv.FreeAddr(t), p.proxy,
		"-build", "cp "+shq(p.version)+" "+shq(p.built),
		"-run", appCommand(t, p.appAddr, p.built, serve.DefaultWait+500*time.Millisecond), p.src)
	ws := dialLog(t, d.addr)
	waitStartupBuild(t, ws)

	// Log every document the tab loads, from its first script on.
	if _, err := chromedp.Call(ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: `
		addEventListener("DOMContentLoaded", function () {
			var log = JSON.parse(sessionStorage.getItem("loads") || "[]");
			var h = document.getElementById("title");
			log.push(document.title + "|" + (h ? h.textContent : ""));
			sessionStorage.setItem("loads", JSON.stringify(log));
		});`}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+d.addr+"/")); err != nil {
		t.Fatal(err)
	}
	waitTitle(t, ctx, "v1")
	want := []string{"app|v1"}
	for _, v := range []string{"v2", "v3"} {
		testenv.WaitJS(t, ctx, `!!(window.__reloadd && window.__reloadd.connected)`)
		writeFile(t, version, v)
		waitTitle(t, ctx, v)
		want = append(want, "app|"+v)
	}
	raw, err := testenv.EvalString(ctx, `sessionStorage.getItem("loads") || "[]"`)
	if err != nil {
		t.Fatal(err)
	}
	var loads []string
	must(t, json.Unmarshal([]byte(raw), &loads))
	if len(loads) != len(want) {
		t.Fatalf("the tab loaded %q, want exactly %q", loads, want)
	}
	for i := range want {
		if loads[i] != want[i] {
			t.Errorf("load %d was %q, want %q (all loads: %q)", i, loads[i], want[i], loads)
		}
	}
}
