package serve

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

const testTag = `<script src="/_reloadd/client.js"></script>`

func TestInject(t *testing.T) {
	const T = testTag
	tests := []struct{ name, in, want string }{
		{"head", "<html><head><title>x</title></head><body>b</body></html>",
			"<html><head><title>x</title>" + T + "</head><body>b</body></html>"},
		{"upper case", "<HTML><HEAD></HEAD></HTML>", "<HTML><HEAD>" + T + "</HEAD></HTML>"},
		{"first head", "<head></head><p></head>", "<head>" + T + "</head><p></head>"},
		{"head with space", "<head></head \n>", "<head>" + T + "</head \n>"},
		{"head elements stay in the head", `<html lang=en><head><meta charset=utf-8><base href=/><link rel=stylesheet href=a.css><style>p{}</style><script>var a</script><noscript><p>x</p></noscript><title>t</title></head>`,
			`<html lang=en><head><meta charset=utf-8><base href=/><link rel=stylesheet href=a.css><style>p{}</style><script>var a</script><noscript><p>x</p></noscript><title>t</title>` + T + `</head>`},
		// No </head>: the first element that cannot be in a head ends it.
		{"body start tag", "<html><head><title>x</title><body><p>b", "<html><head><title>x</title>" + T + "<body><p>b"},
		{"body element", `<meta charset="utf-8"><div id=app>`, `<meta charset="utf-8">` + T + `<div id=app>`},
		{"custom element", `<title>t</title><my-app-shell-element>`, `<title>t</title>` + T + `<my-app-shell-element>`},
		{"svg", `<link rel=icon href=x><svg><title>icon</title></svg>`, `<link rel=icon href=x>` + T + `<svg><title>icon</title></svg>`},
		{"header is not head", "<body><header>h</header><p>x</p></body>", T + "<body><header>h</header><p>x</p></body>"},
		{"fragment", "<p>fragment</p>", T + "<p>fragment</p>"},
		{"body end tag", "<title>t</title></body>", "<title>t</title>" + T + "</body>"},
		{"html end tag", "<title>t</title></html>", "<title>t</title>" + T + "</html>"},
		{"br end tag", "<title>t</title></br>", "<title>t</title>" + T + "</br>"},
		{"other end tags do not end the head", "<title>t</title></p></div></header><p>x", "<title>t</title></p></div></header>" + T + "<p>x"},
		{"template content", "<head><template><p>x</p><template><div></div></template></head></template><meta></head>",
			"<head><template><p>x</p><template><div></div></template></head></template><meta>" + T + "</head>"},
		{"stray template end", "</template><p>x", "</template>" + T + "<p>x"},
		{"element in a comment", "<!-- <p> </head> --><title>t</title><p>x", "<!-- <p> </head> --><title>t</title>" + T + "<p>x"},
		{"head in a comment", "<!-- </head> -->text", "<!-- </head> -->text" + T},
		{"head in a script", `<head><script>var s = "</head><p>";</script></head>`, `<head><script>var s = "</head><p>";</script>` + T + `</head>`},
		{"script end tag case", `<head><SCRIPT>x="</head>"</Script ></head>`, `<head><SCRIPT>x="</head>"</Script >` + T + `</head>`},
		{"head in a style", `<style>/* </head> <p> */</style></head>`, `<style>/* </head> <p> */</style>` + T + `</head>`},
		{"head in a title", `<title></head><p></title></head>`, `<title></head><p></title>` + T + `</head>`},
		{"body in a title", `<title></body></title>`, `<title></body></title>` + T},
		{"head in an attribute", `<meta content="</head><p>"></head>`, `<meta content="</head><p>">` + T + `</head>`},
		{"single quotes", `<link title='</head>' b=c></head>`, `<link title='</head>' b=c>` + T + `</head>`},
		{"unquoted value with quote", `<meta b=c"d></head>`, `<meta b=c"d>` + T + `</head>`},
		{"empty comments", `<!--><!---></head>`, `<!--><!--->` + T + `</head>`},
		{"comment bang end", `<!-- x --!></head>`, `<!-- x --!>` + T + `</head>`},
		{"doctype", `<!DOCTYPE html></head>`, `<!DOCTYPE html>` + T + `</head>`},
		{"processing instruction", `<?xml version="1.0"?><html><head></head>`, `<?xml version="1.0"?><html><head>` + T + `</head>`},
		{"plaintext", `<plaintext></head>`, T + `<plaintext></head>`},
		{"stray lt", `a < b </head>`, `a < b ` + T + `</head>`},
		{"unterminated end tag", `<title>x</title></head`, `<title>x</title>` + T + `</head`},
		{"unterminated start tag", `<title>x</title><di`, `<title>x</title>` + T + `<di`},
		{"unterminated comment", `<!-- </head>`, `<!-- </head>` + T},
		{"text only", "just text", "just text" + T},
		{"empty", "", T},
		{"already loads the client", `<head></head><script src="/_reloadd/client.js"></script>`, `<head></head><script src="/_reloadd/client.js"></script>`},
	}
	for _, tc := range tests {
		if got := string(Inject([]byte(tc.in), []byte(T))); got != tc.want {
			t.Errorf("%s: Inject(%q) =\n%q\nwant\n%q", tc.name, tc.in, got, tc.want)
		}
		if strings.Contains(tc.in, ClientPath) {
			continue // streaming looks for it only up to the injection point: below
		}
		// However the document is split, streaming finds the same place.
		for _, chunk := range []int{1, 2, 3, 7} {
			got := streamInject(t, []byte(tc.in), chunk, 1<<20)
			if got != tc.want {
				t.Errorf("%s: streamed in %d-byte reads: %q, want %q", tc.name, chunk, got, tc.want)
			}
		}
	}
}

func TestInjectHeadLeavesDocumentsThatLoadTheClient(t *testing.T) {
	// The bytes before the injection point are all that is looked at: a
	// page that loads the client further down gets it a second time,
	// which the client ignores.
	for _, doc := range []string{
		`<head><script src="/_reloadd/client.js"></script></head><body></body>`,
		`<script src="/_reloadd/client.js"></script><p>no head</p></body>`,
	} {
		if got := streamInject(t, []byte(doc), 5, 1<<20); got != doc {
			t.Errorf("streamed %q, want it unchanged", got)
		}
	}
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	b []byte
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	m := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[m:]
	return m, nil
}

// streamInject runs doc through injectHead in chunk-byte reads and returns
// what the browser would get.
func streamInject(t testing.TB, doc []byte, chunk, limit int) string {
	t.Helper()
	r := &chunkReader{b: doc, n: chunk}
	head, _, eof, err := injectHead(r, []byte(testTag), limit)
	if err != nil {
		t.Fatalf("injectHead: %v", err)
	}
	if eof && len(r.b) != 0 {
		t.Fatalf("injectHead reported EOF with %d bytes unread", len(r.b))
	}
	rest, _ := io.ReadAll(r)
	return string(head) + string(rest)
}

func TestInjectHeadStreamsPastTheHead(t *testing.T) {
	// The head arrives; the reader must not wait for the rest.
	pr, pw := io.Pipe()
	defer pr.Close()
	go func() {
		// The head, and then nothing: a reader that waited for more (or
		// for EOF) would never return.
		pw.Write([]byte("<html><head><title>t</title></head><body>"))
	}()
	head, injected, eof, err := injectHead(pr, []byte(testTag), 1<<20)
	if err != nil || !injected || eof {
		t.Fatalf("injectHead = %q, %v, %v, %v", head, injected, eof, err)
	}
	if want := "<html><head><title>t</title>" + testTag + "</head><body>"; string(head) != want {
		t.Errorf("head = %q, want %q", head, want)
	}
}

func TestInjectHeadLimit(t *testing.T) {
	tests := []struct {
		name     string
		doc      string
		limit    int
		injected bool
	}{
		{"fits exactly", "<!--" + strings.Repeat("x", 94) + "->", 100, true},
		{"one byte over, no markup", "<!--" + strings.Repeat("x", 95) + "->", 100, false},
		{"head within the limit", "<head></head>" + strings.Repeat("x", 1000), 100, true},
		{"element within the limit", strings.Repeat("x", 90) + "<div>" + strings.Repeat("x", 1000), 100, true},
		{"head past the limit", strings.Repeat("x", 1000) + "<head></head>", 100, false},
		{"element past the limit", strings.Repeat("x", 1000) + "<div>", 100, false},
	}
	for _, tc := range tests {
		r := &chunkReader{b: []byte(tc.doc), n: 10}
		head, injected, _, err := injectHead(r, []byte(testTag), tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if injected != tc.injected {
			t.Errorf("%s: injected = %v, want %v", tc.name, injected, tc.injected)
		}
		if max := tc.limit + 1 + len(testTag); len(head) > max {
			t.Errorf("%s: buffered %d bytes, limit %d", tc.name, len(head), tc.limit)
		}
		rest, _ := io.ReadAll(r)
		got := string(head) + string(rest)
		want := tc.doc
		if tc.injected {
			want = string(Inject([]byte(tc.doc), []byte(testTag)))
		}
		if got != want {
			t.Errorf("%s: got %q, want %q", tc.name, got, want)
		}
	}
}

func TestInjectHeadReadError(t *testing.T) {
	r := iotest.TimeoutReader(&chunkReader{b: []byte("<title>no end of the head yet"), n: 4})
	if _, _, _, err := injectHead(r, []byte(testTag), 1<<20); err == nil {
		t.Error("injectHead swallowed a read error")
	}
}

// FuzzInject checks the injector on any input: no panic and no hang; in a
// document that does not load the client yet, the client appears exactly
// once and removing it gives the document back; streaming in any split and
// with any limit gives the same document or the same injection; and through
// the proxy's response path, a non-HTML body is passed on byte for byte.
func FuzzInject(f *testing.F) {
	seeds := []string{
		"", "<", "</", "<!", "<!-", "<!--", "<!-->", "<!--->", "<!-- -- --!>", "</>",
		"<html><head><title>x</title></head><body>b</body></html>",
		"<head><script>var s='</head>'</script></head>",
		`<a title="</head>"></head>`, "<textarea></body></textarea></body>",
		"<plaintext></head>", "</head", "</body \n", "<p>x</p></BODY>",
		`<script src="/_reloadd/client.js"></script></head>`,
		"\x00<\xff</head\x00>", strings.Repeat("<a ", 50),
		"<meta charset=utf-8><div>", "<title>t</title><body>", "<head><template><p></template></head>",
		"</template><p>", "<noscript><p></noscript><p>", "<my-element>", "</br>", "text only",
		`<p>late</p><script src="/_reloadd/client.js"></script>`,
	}
	for i, s := range seeds {
		f.Add([]byte(s), "text/html; charset=utf-8", uint8(i), uint16(i*7))
		f.Add([]byte(s), "application/json", uint8(i+3), uint16(i))
	}
	p, err := NewProxy(&url.URL{Scheme: "http", Host: "127.0.0.1:1"}, ProxyOptions{Tag: func() []byte { return []byte(testTag) }})
	if err != nil {
		f.Fatal(err)
	}
	defer p.Close()
	p.maxHead = 64
	tag := []byte(testTag)
	f.Fuzz(func(t *testing.T, doc []byte, ctype string, chunk uint8, limit uint16) {
		hasClient := bytes.Contains(doc, []byte(ClientPath))
		out := Inject(doc, tag)
		if hasClient {
			if !bytes.Equal(out, doc) {
				t.Fatalf("Inject changed a document that loads the client: %q", out)
			}
		} else {
			checkOneInsertion(t, doc, out)
		}

		lim := int(limit)%(len(doc)+8) + 1
		streamed := streamInject(t, doc, int(chunk)%16+1, lim)
		switch {
		case streamed == string(doc):
			if !hasClient && len(doc) <= lim {
				t.Fatalf("a %d-byte document within the %d-byte limit was not injected", len(doc), lim)
			}
		case !hasClient && streamed != string(out):
			t.Fatalf("streamed %q, Inject %q", streamed, out)
		default:
			// A document that loads the client after the injection
			// point gets it a second time (streaming cannot look ahead).
			checkOneInsertion(t, doc, []byte(streamed))
		}

		// Through the proxy's response path.
		req := newUpstreamRequest(t)
		resp := &http.Response{
			StatusCode: 200, Header: http.Header{"Content-Type": {ctype}},
			Body: io.NopCloser(bytes.NewReader(doc)), ContentLength: int64(len(doc)), Request: req,
		}
		if err := p.modifyResponse(resp); err != nil {
			t.Fatalf("modifyResponse: %v", err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if !isHTML(ctype) {
			if !bytes.Equal(body, doc) || resp.Header.Get("Content-Length") != "" || resp.ContentLength != int64(len(doc)) {
				t.Fatalf("non-HTML %q changed: %q", ctype, body)
			}
			return
		}
		if cl := resp.Header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(body)) {
			t.Fatalf("Content-Length %s for a %d-byte body", cl, len(body))
		}
		if !hasClient && len(doc) <= p.maxHead && bytes.Count(body, []byte(ClientPath)) != 1 {
			t.Fatalf("HTML body has the client %d times: %q", bytes.Count(body, []byte(ClientPath)), body)
		}
	})
}

// checkOneInsertion checks that out is doc with testTag inserted once.
func checkOneInsertion(t *testing.T, doc, out []byte) {
	t.Helper()
	if n, m := bytes.Count(out, []byte(ClientPath)), bytes.Count(doc, []byte(ClientPath)); n != m+1 {
		t.Fatalf("client appears %d times in %q, from %d", n, out, m)
	}
	for i := 0; ; {
		j := bytes.Index(out[i:], []byte(testTag))
		if j < 0 {
			t.Fatalf("%q is not %q with one tag inserted", out, doc)
		}
		i += j
		if back := append(out[:i:i], out[i+len(testTag):]...); bytes.Equal(back, doc) {
			return
		}
		i++
	}
}

func newUpstreamRequest(t *testing.T) *http.Request {
	req, err := http.NewRequest("GET", "http://127.0.0.1:1/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Forwarded-Host", "127.0.0.1:2")
	req.Header.Set("X-Forwarded-Proto", "http")
	return req
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
