package serve

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkStatic measures what serving by path costs per request (see
// Static): the lookup of a file two directories deep as the static server
// does it now (open the served directory, stat, open non-blocking, fstat,
// close both) against a lookup through a root opened once (open, fstat,
// close), and whole requests, in process and over HTTP from parallel
// keep-alive clients.
func BenchmarkStatic(b *testing.B) {
	site := b.TempDir()
	const name = "docs/guide/index.html"
	page := "<!doctype html><html><head><title>bench</title></head><body>" + strings.Repeat("<p>Lorem ipsum dolor sit amet.</p>\n", 50) + "</body></html>"
	for p, content := range map[string]string{name: page, "docs/guide/site.css": strings.Repeat("p { margin: 0 }\n", 100)} {
		if err := os.MkdirAll(filepath.Join(site, filepath.Dir(p)), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(site, p), []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	st, err := NewStatic(site, func() []byte { return ScriptTag("bench", 1) })
	if err != nil {
		b.Fatal(err)
	}

	b.Run("lookup/per-request-root", func(b *testing.B) {
		for b.Loop() {
			root, err := os.OpenRoot(site)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := stat(root, name); err != nil {
				b.Fatal(err)
			}
			f, _, err := openRegular(root, name)
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
			root.Close()
		}
	})
	b.Run("lookup/root-opened-once", func(b *testing.B) {
		root, err := os.OpenRoot(site)
		if err != nil {
			b.Fatal(err)
		}
		defer root.Close()
		for b.Loop() {
			f, err := root.Open(name)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.Stat(); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
	for _, bc := range []struct{ name, path string }{
		{"handler/html", "/docs/guide/"},
		{"handler/css", "/docs/guide/site.css"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", bc.path, nil)
			for b.Loop() {
				rec := httptest.NewRecorder()
				st.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("GET %s = %d", bc.path, rec.Code)
				}
			}
		})
	}
	b.Run("http/parallel", func(b *testing.B) {
		srv := httptest.NewServer(st)
		defer srv.Close()
		tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := client.Get(srv.URL + "/docs/guide/site.css")
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	})
}
