package serve

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// The client, put into HTML bodies on their way through the proxy: which
// responses get it, decoding them, and splicing the tag into the stream.

// Design notes: the constants of injecting into proxied documents.
const (
	// DefaultMaxHead bounds how much of an HTML response is held in memory
	// to find where the client goes (see [Inject]). A real page shows it
	// within its first kilobytes: the end of its head, or its first
	// element that cannot be in a head. Only documents with neither (text
	// without markup, a huge comment) must be read on; one that shows
	// none within DefaultMaxHead bytes streams on un-injected, so that a
	// huge HTML response cannot exhaust memory.
	DefaultMaxHead = 4 << 20

	// maxTrailingGarbage bounds what is read, and dropped, after the end
	// of a compressed document to reach the end of the app's body and the
	// trailers that follow it. A well-formed body has nothing there.
	maxTrailingGarbage = 64 << 10
)

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
	sb := &splicedBody{head: head, rest: body, decoder: decoder, orig: resp.Body}
	if eof {
		sb.rest = nil
		sb.finish()
	}
	resp.Body = sb
	if decoded {
		resp.Header.Del("Content-Encoding")
	}
	switch {
	case eof && len(resp.Trailer) == 0:
		resp.ContentLength = int64(len(head))
	case eof:
		// Trailers go only with a chunked body: no Content-Length, or
		// the server would send the body without them.
		resp.ContentLength = -1
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
//
// The app's trailers (Trailer header, HTTP/1.1 chunked) arrive in the
// response's Trailer map when its body has been read to the end, which
// ReverseProxy then forwards. A decoded body can end before that (a zlib
// stream ends at its checksum), so at the decoder's end the app's body is
// read on to its end (see finish).
type splicedBody struct {
	head    []byte
	rest    io.Reader // nil when head is everything
	decoder io.Closer // nil when the body was not decoded
	orig    io.ReadCloser
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
	n, err := b.rest.Read(p)
	if err == io.EOF {
		b.finish()
	}
	return n, err
}

// finish reads what is left of the app's body after the decoded document
// (normally nothing), up to maxTrailingGarbage bytes, so that the
// transport reads the trailers after it.
func (b *splicedBody) finish() {
	if b.decoder != nil {
		io.CopyN(io.Discard, b.orig, maxTrailingGarbage)
	}
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
