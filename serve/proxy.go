package serve

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reloadd/reloadd/hub"
)

// Design notes: the proxy's constants.
const (
	// DefaultWait is how long a request waits for an app that does not
	// accept connections (restarting under -run, or down) before it gets
	// the waiting page. Long enough to cover a typical restart of a Go or
	// Node app (0.1–2 s), so that a reload during a restart just takes a
	// little longer; short enough that a browser shows reloadd's page, not
	// a spinner, when the app is really down. The page takes over the
	// waiting from there.
	DefaultWait = 3 * time.Second

	// dialRetry is the pause between connection attempts while waiting. A
	// refused connect on loopback costs microseconds, so polling this often
	// is cheap, and the request goes through at most this long after the
	// app starts listening.
	dialRetry = 50 * time.Millisecond

	// dialTimeout bounds one connection attempt, for a remote app that
	// does not refuse but never answers either.
	dialTimeout = 10 * time.Second

	// DefaultMaxHead bounds how much of an HTML response is held in memory
	// to find where the client goes. A </head> arrives within the first
	// kilobytes of real pages (even ones that inline their CSS and
	// scripts); documents without one must be read to the end to find the
	// last </body>. A document that shows neither within DefaultMaxHead
	// bytes streams on un-injected, so that a huge HTML response cannot
	// exhaust memory.
	DefaultMaxHead = 4 << 20

	// copyBuffer is the size of the buffers bodies are copied through.
	// Larger than ReverseProxy's 32 KiB default: a 100 MB download then
	// takes fewer system calls per direction.
	copyBuffer = 256 << 10

	// maxIdlePerHost is how many idle keep-alive connections to the app
	// are kept: a browser opens up to six per host, and a few tabs may be
	// open. net/http's default of two would close and re-dial most of them.
	maxIdlePerHost = 64

	// idleTimeout closes keep-alive connections the browser stopped using.
	idleTimeout = 90 * time.Second
)

// UpstreamPath answers whether the proxied app accepts connections. The
// waiting page polls it to reload itself when the app is back: GET waits
// like a request would (up to the proxy's Wait) and answers 200
// {"up":true} or 503 {"up":false,"error":"..."}.
const UpstreamPath = "/_reloadd/upstream"

// ProxyOptions configure [NewProxy]. The zero value means the defaults.
type ProxyOptions struct {
	// Tag returns the element injected into HTML documents (called per
	// response). Nil injects nothing.
	Tag func() []byte
	// Wait is how long a request waits for the app to accept a
	// connection; 0 means DefaultWait, negative means not at all.
	Wait time.Duration
	// Logger receives the app's up and down transitions and upstream
	// errors. Nil discards them.
	Logger *slog.Logger
}

// Proxy is a reverse proxy to one app that injects the client into the
// app's HTML documents.
//
// Requests, headers, cookies and bodies pass through as they are, over
// HTTP/1.1 keep-alive connections; responses stream (each write is flushed
// at once, so chunked responses and Server-Sent Events arrive as the app
// sends them); WebSocket and other Upgrade requests are tunnelled. Redirects
// whose Location names the app are rewritten to the address the browser
// used, and so are cookie domains.
//
// To an app on a local address (127.0.0.1, [::1], localhost, 0.0.0.0),
// reloadd is transparent: the app sees the Host the browser sent (with
// X-Forwarded-* set), so the URLs it builds and its same-origin checks
// (CSRF, WebSocket Origin) work as if the browser talked to it directly. To
// an app named by any other host (a virtual host on a local web server, or a remote one),
// requests carry the app's own host name, and Origin and Referer headers
// naming reloadd are translated to the app's origin.
//
// Injection: HTML responses (Content-Type text/html or
// application/xhtml+xml) to document requests get the client once, before
// </head>, else before the last </body>, else at the end (see [Inject]).
// Document requests ask the app for an uncompressed response; an app that
// compresses anyway with gzip or deflate is decoded. Content-Length is
// corrected, or dropped when the length is not known before sending. An
// injected document is marked Cache-Control: no-store and loses its ETag and
// Last-Modified, since its body is not the app's. Not injected: other
// content types, fetch/XHR requests (Sec-Fetch-Dest other than a document
// or frame), HEAD, 204/206/304, attachments, br/zstd-compressed documents,
// and documents longer than DefaultMaxHead bytes without a </head> in those
// first bytes (they stream on unchanged: finding their last </body> would
// mean holding all of them). Every other body streams through untouched,
// without buffering.
//
// When the app does not accept connections, a request waits up to
// ProxyOptions.Wait for it, then gets a small page (503) saying the app is
// not answering, which reloads itself when the app is back; other failures
// (the app closed the connection, sent garbage) get a 502 page. Requests
// that are not for documents get a plain-text 503 or 502.
//
// ServeHTTP is safe for concurrent use. Close cancels the requests in
// flight (including tunnelled WebSockets), waits for them, and closes idle
// connections to the app.
type Proxy struct {
	target       *url.URL
	addr         string // target host:port
	base         string // target path without a trailing slash
	preserveHost bool
	tag          func() []byte
	wait         time.Duration
	maxHead      int
	log          *slog.Logger

	rp *httputil.ReverseProxy
	tr *http.Transport

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	mu     sync.Mutex
	closed bool
	active sync.WaitGroup // ServeHTTP calls in flight

	down    atomic.Bool  // the last connection attempt failed
	dials   atomic.Int64 // connection attempts, for tests
	warnEnc atomic.Bool  // an undecodable encoding was reported
}

// NewProxy returns a proxy to the app at target (an http or https URL;
// a path in it is prefixed to every request's path).
func NewProxy(target *url.URL, opts ProxyOptions) (*Proxy, error) {
	if target == nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		return nil, fmt.Errorf("serve: proxy target %v: want an http:// or https:// URL", target)
	}
	t := *target
	t.Fragment, t.RawFragment, t.User = "", "", nil
	p := &Proxy{
		target:       &t,
		addr:         hostPort(&t),
		base:         strings.TrimSuffix(t.Path, "/"),
		preserveHost: isLocalName(t.Hostname()),
		tag:          opts.Tag,
		wait:         opts.Wait,
		maxHead:      DefaultMaxHead,
		log:          opts.Logger,
	}
	if p.wait == 0 {
		p.wait = DefaultWait
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.tr = &http.Transport{
		Proxy:                 nil, // never route the app through an environment proxy
		DialContext:           p.dial,
		ForceAttemptHTTP2:     false,
		MaxIdleConns:          maxIdlePerHost,
		MaxIdleConnsPerHost:   maxIdlePerHost,
		IdleConnTimeout:       idleTimeout,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true, // bodies pass as the app encodes them
		ReadBufferSize:        64 << 10,
		WriteBufferSize:       64 << 10,
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      p.tr,
		FlushInterval:  -1,
		BufferPool:     bufferPool{},
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.fail,
		ErrorLog:       slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
	}
	return p, nil
}

// hostPort is u's host with the scheme's default port filled in.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	port := "80"
	if u.Scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// ServeHTTP proxies r to the app.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.track(w, r, func(ctx context.Context) { p.rp.ServeHTTP(w, r.WithContext(ctx)) })
}

// track runs serve for r as a request in flight: refused with a 503 once
// the proxy is closed, waited for by Close, and given a context that Close
// cancels.
func (p *Proxy) track(w http.ResponseWriter, r *http.Request, serve func(ctx context.Context)) {
	if !p.enter() {
		http.Error(w, "reloadd: shutting down", http.StatusServiceUnavailable)
		return
	}
	defer p.active.Done()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(p.ctx, cancel)()
	serve(ctx)
}

func (p *Proxy) enter() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.active.Add(1)
	return true
}

// Close stops the proxy: requests in flight are cancelled and waited for,
// and idle connections to the app are closed. Later requests get a 503.
// Close is idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.active.Wait()
	p.tr.CloseIdleConnections()
	return nil
}

// rewrite builds the request to the app.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(p.target)
	pr.SetXForwarded()
	if p.preserveHost {
		pr.Out.Host = pr.In.Host
	} else {
		p.rewriteOrigin(pr.Out.Header, publicOrigin(pr.In))
	}
	if p.tag != nil && isDocumentRequest(pr.Out.Header) && pr.Out.Header.Get("Upgrade") == "" {
		// Ask for the document uncompressed: that is what the client is
		// injected into. Subresources keep the browser's Accept-Encoding.
		pr.Out.Header.Set("Accept-Encoding", "identity")
	}
}

// publicOrigin is the origin the browser used to reach reloadd.
func publicOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// rewriteOrigin translates Origin and Referer headers that name reloadd to
// the app's origin, for an app that is told its own host name.
func (p *Proxy) rewriteOrigin(h http.Header, public string) {
	app := p.target.Scheme + "://" + p.target.Host
	if h.Get("Origin") == public {
		h.Set("Origin", app)
	}
	if ref := h.Get("Referer"); ref == public || strings.HasPrefix(ref, public+"/") {
		rest := strings.TrimPrefix(ref, public)
		if rest == "" {
			rest = "/"
		}
		h.Set("Referer", app+p.base+rest)
	}
}

// isDocumentRequest reports whether a request may load a document: a
// navigation or a frame, or a request that does not say (not a browser, or
// an old one).
func isDocumentRequest(h http.Header) bool {
	switch h.Get("Sec-Fetch-Dest") {
	case "", "document", "iframe", "frame", "embed", "object":
		return true
	}
	return false
}

// modifyResponse rewrites the app's response: Location and cookie domains
// always, the body when it is an HTML document.
func (p *Proxy) modifyResponse(resp *http.Response) error {
	req := resp.Request
	scheme := req.Header.Get("X-Forwarded-Proto")
	host := req.Header.Get("X-Forwarded-Host")
	if scheme == "" || host == "" {
		scheme, host = "http", req.Host
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		resp.Header.Set("Location", p.rewriteLocation(loc, scheme, host))
	}
	if cookies := resp.Header["Set-Cookie"]; len(cookies) > 0 {
		hostname := host
		if h, _, err := net.SplitHostPort(host); err == nil {
			hostname = h
		}
		if !strings.EqualFold(hostname, p.target.Hostname()) {
			for i, c := range cookies {
				cookies[i] = stripCookieDomain(c, p.target.Hostname())
			}
		}
	}
	if !p.injects(resp) {
		if req.Method == http.MethodHead && p.tag != nil && isHTML(resp.Header.Get("Content-Type")) {
			// The GET would be longer by the tag, or not: do not guess.
			resp.Header.Del("Content-Length")
		}
		return nil
	}
	return p.injectBody(resp)
}

// injects reports whether resp is an HTML document the client goes into.
func (p *Proxy) injects(resp *http.Response) bool {
	req := resp.Request
	switch {
	case p.tag == nil, req.Method == http.MethodHead, !isDocumentRequest(req.Header):
		return false
	case resp.StatusCode < 200, resp.StatusCode == http.StatusNoContent,
		resp.StatusCode == http.StatusPartialContent, resp.StatusCode == http.StatusNotModified:
		return false
	case resp.Header.Get("Content-Range") != "":
		return false
	case strings.HasPrefix(strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Disposition"))), "attachment"):
		return false
	}
	return isHTML(resp.Header.Get("Content-Type"))
}

// injectBody puts the client into an HTML response body.
func (p *Proxy) injectBody(resp *http.Response) error {
	var (
		body    io.Reader = resp.Body
		decoder io.Closer
		decoded bool
	)
	encodings := resp.Header.Values("Content-Encoding")
	enc := ""
	if len(encodings) == 1 {
		enc = strings.ToLower(strings.TrimSpace(encodings[0]))
	} else if len(encodings) > 1 {
		enc = "multiple"
	}
	switch enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil && err != io.EOF {
			return fmt.Errorf("decode gzip HTML from the app: %w", err)
		}
		if err == io.EOF {
			body = bytes.NewReader(nil) // an empty body, not a gzip stream
		} else {
			body, decoder = zr, zr
		}
		decoded = true
	case "deflate":
		zr := newDeflateReader(resp.Body)
		body, decoder, decoded = zr, zr, true
	default:
		if !p.warnEnc.Swap(true) {
			p.log.Warn("the app sent an HTML document in an encoding reloadd cannot decode; it is passed on without the reload client",
				"content_encoding", strings.Join(encodings, ", "), "path", resp.Request.URL.Path)
		}
		return nil
	}
	// A page whose Content-Security-Policy admits scripts by nonce would
	// block the client; it gets the page's nonce.
	tag := withNonce(p.tag(), cspNonce(resp.Header))
	head, injected, eof, err := injectHead(body, tag, p.maxHead)
	if err != nil {
		if decoder != nil {
			decoder.Close()
		}
		return fmt.Errorf("read HTML from the app: %w", err)
	}
	rest := body
	if eof {
		rest = nil
	}
	resp.Body = &splicedBody{head: head, rest: rest, decoder: decoder, orig: resp.Body}
	if decoded {
		resp.Header.Del("Content-Encoding")
	}
	switch {
	case eof:
		resp.ContentLength = int64(len(head))
	case !decoded && resp.ContentLength >= 0 && injected:
		resp.ContentLength += int64(len(tag))
	case !decoded && resp.ContentLength >= 0:
	default:
		resp.ContentLength = -1
	}
	if resp.ContentLength >= 0 {
		resp.Header.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	} else {
		resp.Header.Del("Content-Length")
	}
	if injected {
		// The body is no longer the app's: no validator of the app's may
		// vouch for it, and no cache may keep a copy stamped with an old
		// build.
		resp.Header.Set("Cache-Control", "no-store")
		resp.Header.Del("ETag")
		resp.Header.Del("Last-Modified")
	}
	return nil
}

// splicedBody is an HTML body after injection: the head that was read and
// rewritten, then the rest as the app sends it.
type splicedBody struct {
	head    []byte
	rest    io.Reader // nil when head is everything
	decoder io.Closer // nil when the body was not decoded
	orig    io.Closer
}

func (b *splicedBody) Read(p []byte) (int, error) {
	if len(b.head) > 0 {
		n := copy(p, b.head)
		b.head = b.head[n:]
		return n, nil
	}
	if b.rest == nil {
		return 0, io.EOF
	}
	return b.rest.Read(p)
}

func (b *splicedBody) Close() error {
	if b.decoder != nil {
		b.decoder.Close()
	}
	return b.orig.Close()
}

// deflateReader decodes Content-Encoding: deflate, which is meant to be
// zlib (RFC 9110, section 8.4.1.2) but is raw DEFLATE from some servers.
type deflateReader struct {
	src io.Reader
	r   io.ReadCloser
	err error
}

func newDeflateReader(src io.Reader) *deflateReader { return &deflateReader{src: src} }

func (d *deflateReader) Read(p []byte) (int, error) {
	if d.r == nil && d.err == nil {
		br := bufio.NewReader(d.src)
		hdr, err := br.Peek(2)
		switch {
		case err != nil && len(hdr) == 0 && err == io.EOF:
			d.err = io.EOF // an empty body
		case err != nil:
			d.err = fmt.Errorf("deflate: %w", err)
		case hdr[0]&0x0f == 8 && (uint16(hdr[0])<<8|uint16(hdr[1]))%31 == 0:
			d.r, d.err = zlib.NewReader(br)
		default:
			d.r = flate.NewReader(br)
		}
	}
	if d.err != nil {
		return 0, d.err
	}
	return d.r.Read(p)
}

func (d *deflateReader) Close() error {
	if d.r != nil {
		return d.r.Close()
	}
	return nil
}

// rewriteLocation maps a Location that points at the app to the same place
// on reloadd, as the browser addressed it (scheme, host). Root-relative
// locations lose the target's base path. Anything else is left alone.
func (p *Proxy) rewriteLocation(loc, scheme, host string) string {
	u, err := url.Parse(loc)
	if err != nil {
		return loc
	}
	switch {
	case u.Host == "" && u.Scheme == "" && strings.HasPrefix(u.Path, "/"):
		if !p.stripBase(u) {
			return loc
		}
	case u.Host != "" && p.isApp(u):
		if u.Scheme != "" {
			u.Scheme = scheme
		}
		u.Host = host
		p.stripBase(u)
	default:
		return loc
	}
	return u.String()
}

// stripBase removes the target's base path from u's path, if it is there.
func (p *Proxy) stripBase(u *url.URL) bool {
	if p.base == "" || (u.Path != p.base && !strings.HasPrefix(u.Path, p.base+"/")) {
		return false
	}
	u.Path = strings.TrimPrefix(u.Path, p.base)
	if u.Path == "" {
		u.Path = "/"
	}
	u.RawPath = ""
	return true
}

// isApp reports whether an absolute URL names the app: same port, and the
// same host or both loopback names.
func (p *Proxy) isApp(u *url.URL) bool {
	if (u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https") || u.User != nil {
		return false
	}
	v := *u
	if v.Scheme == "" {
		v.Scheme = p.target.Scheme
	}
	if hostPort(&v) != p.addr {
		_, port, _ := net.SplitHostPort(hostPort(&v))
		_, want, _ := net.SplitHostPort(p.addr)
		if port != want || !isLocalName(v.Hostname()) || !isLocalName(p.target.Hostname()) {
			return false
		}
	}
	return true
}

// isLocalName reports whether a host name (no port) reaches this machine:
// a loopback name or address, or the unspecified address (0.0.0.0, [::]),
// which connects locally.
func isLocalName(name string) bool {
	if hub.IsLoopbackName(name) {
		return true
	}
	ip := net.ParseIP(strings.Trim(name, "[]"))
	return ip != nil && ip.IsUnspecified()
}

// stripCookieDomain removes a Domain attribute naming host from a
// Set-Cookie value, so the cookie belongs to the host the browser uses.
func stripCookieDomain(cookie, host string) string {
	parts := strings.Split(cookie, ";")
	kept := parts[:1]
	changed := false
	for _, attr := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(attr), "=")
		if strings.EqualFold(strings.TrimSpace(k), "domain") &&
			strings.EqualFold(strings.TrimPrefix(strings.TrimSpace(v), "."), host) {
			changed = true
			continue
		}
		kept = append(kept, attr)
	}
	if !changed {
		return cookie
	}
	return strings.Join(kept, ";")
}

// dial connects to the app, retrying for up to p.wait while it does not
// accept connections.
func (p *Proxy) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	start := time.Now()
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	for {
		p.dials.Add(1)
		conn, err := d.DialContext(ctx, network, addr)
		if err == nil {
			p.setUp()
			return conn, nil
		}
		if ctx.Err() != nil || p.ctx.Err() != nil {
			return nil, err
		}
		left := p.wait - time.Since(start)
		if left <= 0 {
			return nil, &appDownError{app: p.target.Redacted(), waited: time.Since(start), err: err}
		}
		t := time.NewTimer(min(dialRetry, left))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-p.ctx.Done():
			t.Stop()
			return nil, err
		}
	}
}

// appDownError is a dial that kept failing for the whole wait.
type appDownError struct {
	app    string
	waited time.Duration
	err    error
}

func (e *appDownError) Error() string {
	return fmt.Sprintf("the app at %s is not answering (waited %v): %v", e.app, e.waited.Round(time.Millisecond), e.err)
}

func (e *appDownError) Unwrap() error { return e.err }

func (p *Proxy) setUp() {
	if p.down.Swap(false) {
		p.log.Info("the app is answering again", "upstream", p.target.Redacted())
	}
}

func (p *Proxy) setDown(err error) {
	if !p.down.Swap(true) {
		p.log.Warn("the app is not answering; browsers get the waiting page", "upstream", p.target.Redacted(), "error", err.Error())
	}
}

// fail answers a request the app could not: the waiting page for
// documents, plain text for the rest. r is the request to the app.
func (p *Proxy) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		if p.ctx.Err() != nil {
			http.Error(w, "reloadd: shutting down", http.StatusServiceUnavailable)
		}
		return // the browser left
	}
	status := http.StatusBadGateway
	var down *appDownError
	if errors.As(err, &down) {
		status = http.StatusServiceUnavailable
		p.setDown(err)
	} else {
		p.log.Warn("the app did not answer properly", "method", r.Method, "path", r.URL.Path, "error", err.Error())
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	if !wantsPage(r.Header) {
		http.Error(w, "reloadd: "+err.Error(), status)
		return
	}
	var tag []byte
	if p.tag != nil {
		tag = p.tag()
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(waitingPage(status, p.target.Redacted(), err.Error(), r.Method, tag))
	}
}

// wantsPage reports whether a failed request should get the waiting page:
// a browser navigating to a document (or an old browser asking for HTML).
func wantsPage(h http.Header) bool {
	if h.Get("Upgrade") != "" {
		return false
	}
	switch h.Get("Sec-Fetch-Dest") {
	case "document", "iframe", "frame":
		return true
	case "":
		return strings.Contains(h.Get("Accept"), "text/html")
	}
	return false
}

// ServeProbe serves UpstreamPath.
func (p *Proxy) ServeProbe(w http.ResponseWriter, r *http.Request) {
	p.track(w, r, func(ctx context.Context) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		conn, err := p.dial(ctx, "tcp", p.addr)
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(map[string]any{"up": false, "error": err.Error()})
			return
		}
		conn.Close()
		json.NewEncoder(w).Encode(map[string]any{"up": true})
	})
}

// bufferPool recycles the buffers ReverseProxy copies bodies through.
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { return new([copyBuffer]byte) }}

func (bufferPool) Get() []byte  { return copyBuffers.Get().(*[copyBuffer]byte)[:] }
func (bufferPool) Put(b []byte) { copyBuffers.Put((*[copyBuffer]byte)(b)) }
