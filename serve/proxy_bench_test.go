package serve

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// benchPage is a small HTML page, about 2 kB.
var benchPage = `<!doctype html><html><head><meta charset="utf-8"><title>bench</title>` +
	`<link rel="stylesheet" href="/site.css"></head><body>` + strings.Repeat("<p>Lorem ipsum dolor sit amet.</p>\n", 50) +
	`</body></html>`

// BenchmarkProxyOverheadSmallHTML measures, over keep-alive connections,
// the latency of a small HTML page fetched from the app directly and
// through the proxy (with injection), and reports the p50 of each and the
// difference. Target: overhead p50 ≤ 0.5 ms.
func BenchmarkProxyOverheadSmallHTML(b *testing.B) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(benchPage)))
		io.WriteString(w, benchPage)
	}))
	defer app.Close()
	p, srv := benchProxy(b, app.URL)
	defer p.Close()
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	get := func(url string) time.Duration {
		start := time.Now()
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(start)
	}
	direct, proxied := app.URL+"/", srv.URL+"/"
	get(direct) // open the connections
	get(proxied)
	var ds, ps []time.Duration
	b.ResetTimer()
	for b.Loop() {
		ds = append(ds, get(direct))
		ps = append(ps, get(proxied))
	}
	b.StopTimer()
	d50, p50 := median(ds), median(ps)
	b.ReportMetric(float64(d50.Microseconds()), "direct-p50-µs")
	b.ReportMetric(float64(p50.Microseconds()), "proxied-p50-µs")
	b.ReportMetric(float64((p50 - d50).Microseconds()), "overhead-p50-µs")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkProxyThroughput100MB downloads a 100 MB body from the app,
// directly and through the proxy, over loopback. Target: ≥ 1 GB/s
// through the proxy.
func BenchmarkProxyThroughput100MB(b *testing.B) {
	const size = 100 << 20
	var chunk [256 << 10]byte
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(size))
		for n := size; n > 0; n -= len(chunk) {
			if _, err := w.Write(chunk[:min(n, len(chunk))]); err != nil {
				return
			}
		}
	}))
	defer app.Close()
	p, srv := benchProxy(b, app.URL)
	defer p.Close()
	defer srv.Close()
	for _, bc := range []struct{ name, url string }{{"direct", app.URL}, {"proxied", srv.URL}} {
		b.Run(bc.name, func(b *testing.B) {
			tr := &http.Transport{DisableCompression: true, ReadBufferSize: 64 << 10}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			b.SetBytes(size)
			for b.Loop() {
				resp, err := client.Get(bc.url + "/big")
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || n != size {
					b.Fatalf("%d bytes, %v", n, err)
				}
			}
		})
	}
}

func benchProxy(b *testing.B, upstream string) (*Proxy, *httptest.Server) {
	b.Helper()
	u, _ := url.Parse(upstream)
	p, err := NewProxy(u, ProxyOptions{Tag: func() []byte { return ScriptTag("bench", 1) }})
	if err != nil {
		b.Fatal(err)
	}
	return p, httptest.NewServer(testMux(p))
}
