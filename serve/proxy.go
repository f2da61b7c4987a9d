package serve

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reloadd/reloadd/internal/hostpolicy"
)

// The proxy lives in three files: this one proxies (requests, responses,
// headers, the lifecycle); proxy_body.go puts the client into HTML bodies
// on their way through; proxy_app.go knows whether the app is up and
// answers for it when it is not.

// Design notes: the proxy's constants (see proxy_app.go and proxy_body.go
// for the others).
const (
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
// application/xhtml+xml) to document requests get the client once, where
// the document's head ends (see [Inject]), as soon as that much has
// arrived: a page the app streams shows as it streams. Document requests
// ask the app for an uncompressed response; an app that compresses anyway
// with gzip or deflate is decoded. Content-Length is corrected, or dropped
// when the length is not known before sending; the app's trailers are
// passed on. An injected document is marked Cache-Control: no-store and
// loses its ETag and Last-Modified, since its body is not the app's. Not
// injected: other content types, fetch/XHR requests (Sec-Fetch-Dest other
// than a document or frame), HEAD, 204/206/304, attachments,
// br/zstd-compressed documents, and documents that show no place for the
// client within their first DefaultMaxHead bytes (they stream on
// unchanged). Every other body streams through untouched, without
// buffering.
//
// When the app does not accept connections, a request waits up to
// ProxyOptions.Wait for it, then gets a small page (503) saying the app is
// not answering, which reloads itself when the app is back; other failures
// (the app closed the connection, sent garbage) get a 502 page. Requests
// that are not for documents get a plain-text 503 or 502. An app the
// daemon reports down ([Proxy.SetAppState]) is not waited for: requests
// get the 503 at once.
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
	mu     sync.Mutex // guards closed and active.Add; serialises SetAppState
	closed bool
	active sync.WaitGroup // ServeHTTP calls in flight

	app     atomic.Pointer[appStatus] // replaced under mu by SetAppState
	down    atomic.Bool               // a wait for the app ran out, and was reported
	dials   atomic.Int64              // connection attempts, for tests
	warnEnc atomic.Bool               // an undecodable encoding was reported
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
	p.app.Store(&appStatus{state: AppStarting, changed: make(chan struct{})})
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
	if hostpolicy.IsLoopbackName(name) {
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

// bufferPool recycles the buffers ReverseProxy copies bodies through.
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { return new([copyBuffer]byte) }}

func (bufferPool) Get() []byte  { return copyBuffers.Get().(*[copyBuffer]byte)[:] }
func (bufferPool) Put(b []byte) { copyBuffers.Put((*[copyBuffer]byte)(b)) }
