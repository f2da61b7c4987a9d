package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/reloadd/reloadd/internal/breakdown"
	"github.com/reloadd/reloadd/internal/testenv"
)

// saves returns the "saves" of the daemon's status.
func (d *daemonProc) saves(t *testing.T) []saveRecord {
	t.Helper()
	return savesAt(t, d.addr)
}

// savesAt returns the "saves" of the status of the daemon at addr.
func savesAt(t *testing.T, addr string) []saveRecord {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/_reloadd/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Saves []saveRecord `json:"saves"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.Saves
}

// saveOf returns build id's save from the status, failing without one.
func saveOf(t *testing.T, d *daemonProc, id int64) saveRecord {
	t.Helper()
	return saveAt(t, d.addr, id)
}

// saveAt is saveOf for the daemon at addr.
func saveAt(t *testing.T, addr string, id int64) saveRecord {
	t.Helper()
	for _, s := range savesAt(t, addr) {
		if s.Build == id {
			return s
		}
	}
	t.Fatalf("no save of build %d in the status", id)
	return saveRecord{}
}

// addsUp fails unless phases add up to total within 1 ms.
func addsUp(t *testing.T, what string, phases []breakdown.Phase, total float64) {
	t.Helper()
	sum := 0.0
	for _, p := range phases {
		if p.MS < 0 {
			t.Errorf("%s: phase %s is %v ms", what, p.Name, p.MS)
		}
		sum += p.MS
	}
	if math.Abs(sum-total) > 1 {
		t.Errorf("%s: phases %v add up to %v ms, total %v ms", what, phases, sum, total)
	}
}

// TestDashboardShowsEachSave: the dashboard open in one tab, the site in
// another; a save reloads the site's tab and the dashboard draws the new
// bar live, its phases adding up to its total, without being reloaded
// itself or counted as a client.
func TestDashboardShowsEachSave(t *testing.T) {
	ctx := testenv.Chromium(t)
	site := t.TempDir()
	index := filepath.Join(site, "index.html")
	must(t, os.WriteFile(index, page("one"), 0o644))
	d := startDaemon(t, testenv.FreeAddr(t), site)
	if !strings.Contains(d.out.String(), "reloadd: dashboard at http://"+d.addr+"/_reloadd/\n") {
		t.Errorf("the start-up lines do not give the dashboard's URL:\n%s", d.out)
	}

	// The dashboard: this tab.
	must(t, chromedp.Do(ctx, chromedp.EmulateViewport(900, 700), chromedp.Navigate("http://"+d.addr+"/_reloadd/")))
	testenv.WaitJS(t, ctx, `!!(window.__dash && __dash.connected)`)
	if injected, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.dashMarker = true, !!window.__reloadd`)); err != nil || injected {
		t.Errorf("the dashboard carries the reload client (%v)", err)
	}

	// The site: another tab of the same browser.
	siteTab, cancel := chromedp.NewContext(ctx)
	defer cancel()
	must(t, chromedp.Do(siteTab, chromedp.Navigate("http://"+d.addr+"/")))
	testenv.WaitJS(t, siteTab, `!!(window.__reloadd && window.__reloadd.connected)`)
	testenv.Eventually(t, "the site's tab, and only it, to count as a client", func() bool {
		st := d.status(t)
		return st["clients"] == float64(1) && st["dashboards"] == float64(1)
	})

	for i, title := range []string{"two", "three"} {
		must(t, os.WriteFile(index, page(title), 0o644))
		waitTitle(t, siteTab, title)
		id := int64(i + 1)
		// The bar of the new save, with its page phase (the site tab's
		// report) drawn as the page's parts.
		sel := fmt.Sprintf(`document.querySelector('details.save[data-build="%d"][data-state="ok"]')`, id)
		testenv.WaitJS(t, ctx, sel+` && `+sel+`.querySelector('.seg[data-phase="load"]') !== null`)
		type barState struct {
			Total    float64   `json:"total"`
			MS       []float64 `json:"ms"`
			Names    []string  `json:"names"`
			Widths   []float64 `json:"widths"`
			BarWidth float64   `json:"barWidth"`
		}
		bar, err := chromedp.Run(ctx, chromedp.Evaluate[barState](`(d => { const segs = [...d.querySelectorAll(".seg")];
			return {total: Number(d.dataset.total), ms: segs.map(s => Number(s.dataset.ms)), names: segs.map(s => s.dataset.phase),
				widths: segs.map(s => s.getBoundingClientRect().width), barWidth: d.querySelector(".bar").getBoundingClientRect().width}; })(`+sel+`)`))
		must(t, err)
		sum := 0.0
		for _, v := range bar.MS {
			sum += v
		}
		if math.Abs(sum-bar.Total) > 1 || bar.Total <= 0 {
			t.Errorf("save %d: the bar's phases %v %v add up to %v ms, its total is %v ms", id, bar.Names, bar.MS, sum, bar.Total)
		}
		if strings.Join(bar.Names, " ") != "settle build send reload dom load" {
			t.Errorf("save %d: bar phases %v", id, bar.Names)
		}
		// Drawn to scale: each segment's width in proportion to its time
		// (every bar shares one scale, so a faster save's bar is shorter).
		drawn := 0.0
		for _, w := range bar.Widths {
			drawn += w
		}
		if drawn < 20 || drawn > bar.BarWidth+1 {
			t.Errorf("save %d: segments %v px drawn in a %v px bar", id, bar.Widths, bar.BarWidth)
		}
		for j, w := range bar.Widths {
			if want := bar.MS[j] / bar.Total * drawn; math.Abs(w-want) > 2 {
				t.Errorf("save %d: %s is %v ms of %v, drawn %v px of %v", id, bar.Names[j], bar.MS[j], bar.Total, w, drawn)
			}
		}
		// The status says the same.
		rec := saveOf(t, d, id)
		addsUp(t, fmt.Sprintf("save %d", id), rec.Phases, rec.TotalMS)
		if math.Abs(rec.TotalMS-bar.Total) > 0.001 || len(rec.Reports) != 1 || rec.Clients != 1 {
			t.Errorf("save %d in the status: %+v (the bar says %v ms)", id, rec, bar.Total)
		}
		addsUp(t, fmt.Sprintf("save %d's report", id), rec.Reports[0].Phases, rec.Reports[0].TotalMS-rec.Reports[0].ReceivedMS)
	}
	if !savePageLine.MatchString(d.out.String()) {
		t.Errorf("no save line with the page's phase:\n%s", d.out)
	}
	if marked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!window.dashMarker`)); err != nil || !marked {
		t.Errorf("the dashboard was reloaded by a build (%v)", err)
	}

	// Fields the mounts do not have today (other parts of reloadd add
	// them) are shown as they come.
	mounts, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(async () => {
		const st = await (await fetch("/_reloadd/status")).json();
		st.mounts[0].forward_mode = "agent";
		st.mounts[0].agent = {connected: true, host: "mac"};
		__dash.apply(st);
		return document.getElementById("mounts").textContent; })()`, chromedp.EvalAwaitPromise))
	must(t, err)
	for _, want := range []string{site, "ext4", "native", "forward mode: agent", "agent: connected=true host=mac"} {
		if !strings.Contains(mounts, want) {
			t.Errorf("the mounts table lacks %q: %s", want, mounts)
		}
	}

	// A screenshot: the bars are on the screen, in their phases' colours.
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	must(t, err)
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		phase   string
		r, g, b uint8
	}{{"settle", 0xd9, 0xa4, 0x00}, {"dom", 0xf5, 0x9d, 0x4a}} {
		if n := countColour(img, c.r, c.g, c.b); n < 40 {
			t.Errorf("the screenshot has %d pixels of the %s colour, want a bar's worth", n, c.phase)
		}
	}
	if t.Failed() {
		out := filepath.Join(t.TempDir(), "dashboard.png")
		os.WriteFile(out, shot, 0o644)
		t.Logf("screenshot: %s", out)
	}
}

// countColour counts img's pixels within a small distance of (r, g, b).
func countColour(img image.Image, r, g, b uint8) int {
	n := 0
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			if near(pr>>8, r) && near(pg>>8, g) && near(pb>>8, b) {
				n++
			}
		}
	}
	return n
}

func near(v uint32, want uint8) bool { return math.Abs(float64(v)-float64(want)) <= 6 }

// TestDashboardClientIsNotReloaded: a dashboard connection over the real
// daemon gets hello and save messages only — no build message, no failure
// replay — and is not counted in the status's clients nor in a build's.
func TestDashboardClientIsNotReloaded(t *testing.T) {
	site := newSite(t)
	d := startDaemon(t, testenv.FreeAddr(t), "-build", "grep -q broken "+shq(filepath.Join(site, "index.html"))+" && exit 3 || true", site)
	testenv.Eventually(t, "the start-up build", func() bool { return strings.Contains(d.out.String(), "build 1  start-up build") })
	writeFile(t, filepath.Join(site, "index.html"), "broken")
	testenv.Eventually(t, "the failure", func() bool { return strings.Contains(d.out.String(), "FAILED") })

	dash, _, err := websocket.DefaultDialer.Dial("ws://"+d.addr+"/_reloadd/ws?dashboard=1", http.Header{"Origin": {"http://" + d.addr}})
	must(t, err)
	defer dash.Close()
	if m := readMsg(t, dash); m["type"] != "hello" {
		t.Fatalf("first message %v", m)
	}
	prog := d.dial(t)
	readType(t, prog, "hello")
	if m := readMsg(t, prog); m["type"] != "build_failed" {
		t.Errorf("a client got %v after hello, want the standing failure", m)
	}
	testenv.Eventually(t, "the status to count the program, not the dashboard", func() bool {
		st := d.status(t)
		return st["clients"] == float64(1) && st["dashboards"] == float64(1)
	})
	writeFile(t, filepath.Join(site, "index.html"), "fixed")
	readType(t, prog, "build_complete")
	var saw []string
	for {
		m := readMsg(t, dash)
		saw = append(saw, fmt.Sprint(m["type"]))
		switch m["type"] {
		case "save", "clients":
		default:
			t.Fatalf("the dashboard got %v (after %v)", m, saw)
		}
		if m["type"] != "save" {
			continue
		}
		var rec saveRecord
		b, _ := json.Marshal(m["save"])
		must(t, json.Unmarshal(b, &rec))
		if rec.Build == 3 && rec.State == stateOK {
			if rec.Clients != 1 {
				t.Errorf("build 3 reached %d clients, want 1 (the program; not the dashboard)", rec.Clients)
			}
			if m["clients"] != float64(1) {
				t.Errorf("save message says %v clients", m["clients"])
			}
			break
		}
	}
	if !strings.Contains(d.out.String(), "(1 client)") {
		t.Errorf("the save line counts the dashboard:\n%s", d.out)
	}
}

// TestPolledSaveKnowsWhenItWasWritten: on a FUSE mount (bindfs, polled), a
// change made on the backing side is seen by the poller a while after it
// was written; the save says when it was written (the file's ctime) and
// how long the poller took to notice.
func TestPolledSaveKnowsWhenItWasWritten(t *testing.T) {
	src, mnt := deafSite(t)
	d := startDaemon(t, testenv.FreeAddr(t), "-poll-interval", "200ms", mnt)
	c := d.dial(t)
	readType(t, c, "hello")
	before := time.Now()
	must(t, os.WriteFile(filepath.Join(src, "index.html"), page("two"), 0o644))
	after := time.Now()
	done := readType(t, c, "build_complete")
	id := int64(done["build"].(float64))
	var rec saveRecord
	testenv.Eventually(t, "the save's record", func() bool { rec = saveOf(t, d, id); return rec.State == stateOK })
	if rec.WrittenBy != "ctime" || len(rec.Phases) == 0 || rec.Phases[0].Name != breakdown.Seen {
		t.Fatalf("save %+v, want a seen phase from the ctime", rec)
	}
	// The ctime is the write's, to a clock tick (4 ms).
	if rec.At.Before(before.Add(-10*time.Millisecond)) || rec.At.After(after) {
		t.Errorf("written at %v, but the write was between %v and %v", rec.At, before, after)
	}
	changed := time.UnixMilli(int64(done["changed_at"].(float64)))
	if seen := rec.Phases[0].MS; math.Abs(seen-float64(changed.Sub(rec.At).Microseconds())/1000) > 1.5 {
		t.Errorf("seen phase %v ms, but changed_at is %v after the write", seen, changed.Sub(rec.At))
	}
	addsUp(t, "polled save", rec.Phases, rec.TotalMS)
	d.stop(t) // before the mount goes away in cleanup
}

// TestDashboardRoute: the page at /_reloadd/ (and /_reloadd leads there);
// other paths below /_reloadd/ are not the dashboard's.
func TestDashboardRoute(t *testing.T) {
	site := newSite(t)
	d := startDaemon(t, testenv.FreeAddr(t), site)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get("http://" + d.addr + "/_reloadd")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/_reloadd/" {
		t.Errorf("GET /_reloadd: %s, Location %q", resp.Status, resp.Header.Get("Location"))
	}
	resp, err = http.Get("http://" + d.addr + "/_reloadd/")
	must(t, err)
	body := new(bytes.Buffer)
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(body.String(), "dashboard=1") || strings.Contains(body.String(), "client.js") {
		t.Errorf("GET /_reloadd/: %s %s, %d bytes, want the dashboard without the reload client", resp.Status, resp.Header.Get("Content-Type"), body.Len())
	}
	resp, err = http.Get("http://" + d.addr + "/_reloadd/nothing")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /_reloadd/nothing: %s, want the site's 404", resp.Status)
	}
}

// TestBrowserClockSecondsOff: a browser page whose clock is 5 s ahead
// reports over the real hub, which re-bases its times; the save's page
// phases are the browser's own durations, and add up.
func TestBrowserClockSecondsOff(t *testing.T) {
	site := newSite(t)
	d := startDaemon(t, testenv.FreeAddr(t), site)
	c, _, err := dialWS(d.addr, "/_reloadd/ws", "", "http://"+d.addr) // a page reloadd serves
	must(t, err)
	defer c.Close()
	readType(t, c, "hello")
	testenv.Eventually(t, "the page to register", func() bool { return d.status(t)["clients"] == float64(1) })

	must(t, os.WriteFile(filepath.Join(site, "index.html"), []byte("<h1>two</h1>"), 0o644))
	done := readType(t, c, "build_complete")
	arrived := time.Now()
	id := int64(done["build"].(float64))
	const skew = 5000 // ms
	received := float64(arrived.UnixMilli()-int64(done["changed_at"].(float64))) + skew
	time.Sleep(30 * time.Millisecond) // the reload takes this long (the hub believes only times that passed)
	c.WriteJSON(map[string]any{"type": "reloaded", "build": id, "received": received,
		"navigation_start": received + 3, "dom_content_loaded": received + 20, "load": received + 25})
	var rec saveRecord
	testenv.Eventually(t, "the report in the save", func() bool { rec = saveOf(t, d, id); return len(rec.Reports) == 1 })
	want := []breakdown.Phase{{Name: breakdown.Reload, MS: 3}, {Name: breakdown.DOM, MS: 17}, {Name: breakdown.Load, MS: 5}}
	if got := rec.Reports[0].Phases; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("page phases %v, want %v (the browser's durations, whatever its clock)", got, want)
	}
	addsUp(t, "save", rec.Phases, rec.TotalMS)
	if last := rec.Phases[len(rec.Phases)-1]; last.Name != breakdown.Page || last.MS != 25 || rec.TotalMS > 1000 {
		t.Errorf("save phases %v, total %v ms", rec.Phases, rec.TotalMS)
	}
	testenv.Eventually(t, "the save line", func() bool {
		return strings.Contains(d.out.String(), fmt.Sprintf("· page 25 = %s ms  (1 client)\n", fmtMS(rec.TotalMS)))
	})
}
