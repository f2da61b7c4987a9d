package serve

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Design notes: the static server's constants.
const (
	// maxInjectSize bounds the HTML documents read into memory for
	// injection; larger ones are served as they are.
	maxInjectSize = 32 << 20

	// MaxURLPath is the longest URL path (after percent-decoding) the
	// static server looks up; longer ones get 414 URI Too Long without
	// touching the filesystem. 8 KiB is what the servers sites are
	// deployed on accept in a whole request line (nginx's
	// large_client_header_buffers is 8k, Apache's LimitRequestLine 8190),
	// so no real site has a longer URL, and it is twice Linux's PATH_MAX:
	// no name the kernel would resolve is refused.
	MaxURLPath = 8 << 10
)

// Static serves the files of one directory and injects the client tag into
// HTML.
//
// The directory is looked up by its path on every request, never through a
// handle kept from start-up: a build that deletes and recreates it (rm -rf
// dist && mkdir dist), or a FUSE or network mount remounted under it, is
// served as it is now. Each request opens the directory as an [os.Root]
// and resolves the URL path inside it, so no URL and no symlink can reach
// outside it; the handle is closed when the request is answered, so no
// deleted directory is kept alive (an open handle would also keep inotify
// from reporting the deletion of a watched root). The cost is one open and
// close of the directory per request (see BenchmarkStatic).
//
// Only regular files are served, and directories through their
// index.html. A named pipe, socket or device is answered 404 without being
// opened (it is stat'ed first; the open that follows is non-blocking and
// re-checked, so a file swapped for a pipe in between cannot hang the
// request).
//
// Answers reloadd makes itself carry the client, so that the page reloads
// when a build or a save changes what it shows: a missing file gets the
// site's own 404.html (as static hosts and Hugo's server do) or a small
// page, both with status 404; a directory that does not exist (yet) gets a
// 503 page saying so. Requests that do not want a page (fetch, images,
// tools) get the same status as plain text.
//
// ServeHTTP is safe for concurrent use.
type Static struct {
	dir  string // absolute path of the served directory
	name string // how pages name it: its base name, never the full path
	tag  func() []byte
}

// NewStatic returns a server for dir. The directory need not exist yet (a
// build may create it): until it does, requests get a page saying so; see
// [Static.Check]. NewStatic fails when dir exists and is not a directory,
// or cannot be looked up. tag returns the <script> element to inject into
// HTML documents (called per response).
func NewStatic(dir string, tag func() []byte) (*Static, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	case !fi.IsDir():
		return nil, &fs.PathError{Op: "open", Path: dir, Err: syscall.ENOTDIR}
	}
	return &Static{dir: abs, name: filepath.Base(abs), tag: tag}, nil
}

// Check reports whether the directory can be served now: nil, or the error
// opening it (one that wraps [fs.ErrNotExist] while it does not exist).
func (s *Static) Check() error {
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		return err
	}
	return root.Close()
}

// Close releases nothing (no handle is kept between requests); it is kept
// so that a Static can be closed like the proxy.
func (s *Static) Close() error { return nil }

// errNotServable is a name that exists but is not a regular file or a
// directory.
var errNotServable = errors.New("not a regular file or directory")

// ServeHTTP serves the file named by the URL path.
func (s *Static) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if len(r.URL.Path) > MaxURLPath {
		http.Error(w, "414 URI too long", http.StatusRequestURITooLong)
		return
	}
	name, ok := cleanURLPath(r.URL.Path)
	if !ok {
		http.Error(w, "bad path", http.StatusBadRequest)
		return
	}
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		s.rootError(w, r, err)
		return
	}
	defer root.Close()
	fi, err := stat(root, name)
	if err == nil && fi.IsDir() {
		if !strings.HasSuffix(r.URL.Path, "/") {
			http.Redirect(w, r, path.Base(r.URL.Path)+"/", http.StatusMovedPermanently)
			return
		}
		name = path.Join(name, "index.html")
		fi, err = stat(root, name)
		if err == nil && fi.IsDir() {
			err = errNotServable
		}
	}
	if err != nil {
		s.fileError(w, r, root, err)
		return
	}
	f, fi, err := openRegular(root, name)
	if err != nil {
		s.fileError(w, r, root, err)
		return
	}
	defer f.Close()
	h := w.Header()
	// Never let the browser reuse a stale copy: the whole point is to see
	// the latest save.
	h.Set("Cache-Control", "no-store")
	ctype := mime.TypeByExtension(path.Ext(name))
	if isHTML(ctype) && fi.Size() <= maxInjectSize {
		body, err := io.ReadAll(io.LimitReader(f, maxInjectSize+1))
		if err != nil {
			s.fileError(w, r, root, err)
			return
		}
		body = Inject(body, s.tag())
		h.Set("Content-Type", ctype)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(body))
		return
	}
	if ctype != "" {
		h.Set("Content-Type", ctype)
	}
	http.ServeContent(w, r, name, time.Time{}, f)
}

// stat returns the file info of name in root (following symlinks that stay
// inside it), or errNotServable for anything but a regular file or a
// directory.
func stat(root *os.Root, name string) (fs.FileInfo, error) {
	fi, err := root.Stat(name)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() && !fi.IsDir() {
		return nil, errNotServable
	}
	return fi, nil
}

// openRegular opens name in root, which a stat found to be a regular file.
// The open does not block (O_NONBLOCK: a FIFO swapped in since the stat
// opens at once instead of waiting for a writer) and takes no controlling
// terminal; the opened file is checked again.
func openRegular(root *os.Root, name string) (*os.File, fs.FileInfo, error) {
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = errNotServable
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// fileError answers a request whose file could not be served.
func (s *Static) fileError(w http.ResponseWriter, r *http.Request, root *os.Root, err error) {
	var errno syscall.Errno
	switch {
	case errors.Is(err, errNotServable), errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		s.notFound(w, r, root)
	case errors.Is(err, syscall.ENAMETOOLONG):
		http.Error(w, "414 URI too long", http.StatusRequestURITooLong)
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.ELOOP), !errors.As(err, &errno):
		// Not an Errno: os.Root's refusal of a path that escapes the
		// directory (through a symlink).
		http.Error(w, "403 forbidden", http.StatusForbidden)
	default:
		// The filesystem failed (EIO, a dead FUSE or network mount):
		// nothing the URL did. The page reloads after the next build.
		s.page(w, r, http.StatusServiceUnavailable, "reloadd-unreadable", "The file cannot be read",
			fmt.Sprintf("reloadd cannot read <code>%s</code> in %s/: %s. This page reloads by itself after the next build.",
				html.EscapeString(r.URL.Path), html.EscapeString(s.name), html.EscapeString(errno.Error())))
	}
}

// rootError answers a request when the served directory cannot be opened.
func (s *Static) rootError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, fs.ErrNotExist) {
		s.page(w, r, http.StatusServiceUnavailable, "reloadd-nodir", "Nothing to serve yet",
			fmt.Sprintf("The directory %s/ that reloadd serves does not exist yet. This page reloads by itself when a build creates it.",
				html.EscapeString(s.name)))
		return
	}
	reason := err.Error()
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		reason = pe.Err.Error() // without the full path
	}
	s.page(w, r, http.StatusServiceUnavailable, "reloadd-nodir", "The served directory cannot be opened",
		fmt.Sprintf("reloadd cannot open the directory %s/ it serves: %s. This page reloads by itself after the next build.",
			html.EscapeString(s.name), html.EscapeString(reason)))
}

// notFound answers 404: with the site's own /404.html when it has one and
// the request wants a page, else with reloadd's.
func (s *Static) notFound(w http.ResponseWriter, r *http.Request, root *os.Root) {
	if wantsPage(r.Header) {
		if body, ok := read404(root); ok {
			writeHTML(w, r, http.StatusNotFound, Inject(body, s.tag()))
			return
		}
	}
	s.page(w, r, http.StatusNotFound, "reloadd-notfound", "Not found",
		fmt.Sprintf("There is nothing at <code>%s</code> in %s/. This page reloads by itself when a build or a save creates it.",
			html.EscapeString(r.URL.Path), html.EscapeString(s.name)))
}

// read404 returns the site's 404.html, if it has one that is a regular
// file small enough to inject into.
func read404(root *os.Root) ([]byte, bool) {
	if fi, err := stat(root, "404.html"); err != nil || fi.IsDir() {
		return nil, false
	}
	f, fi, err := openRegular(root, "404.html")
	if err != nil {
		return nil, false
	}
	defer f.Close()
	if fi.Size() > maxInjectSize {
		return nil, false
	}
	body, err := io.ReadAll(io.LimitReader(f, maxInjectSize+1))
	if err != nil || len(body) > maxInjectSize {
		return nil, false
	}
	return body, true
}

// page answers with one of reloadd's own pages (see statusPage), or with
// the same status as plain text when the request does not want a page.
// text is HTML.
func (s *Static) page(w http.ResponseWriter, r *http.Request, status int, id, title, text string) {
	if !wantsPage(r.Header) {
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, fmt.Sprintf("%d %s", status, strings.ToLower(http.StatusText(status))), status)
		return
	}
	writeHTML(w, r, status, statusPage(status, id, title, text, s.tag()))
}

// writeHTML answers with an HTML body and status; HEAD gets the headers.
func writeHTML(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// cleanURLPath turns a URL path into a name relative to the served
// directory. It refuses anything that could mean something else on some
// filesystem: NUL bytes, backslashes, and ".." segments (even ones that
// would clean away), rather than guessing.
func cleanURLPath(p string) (string, bool) {
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\x00\\") {
		return "", false
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == ".." {
			return "", false
		}
	}
	name := strings.TrimPrefix(path.Clean(p), "/")
	if name == "" {
		name = "."
	}
	if !fs.ValidPath(name) || filepath.IsAbs(name) {
		return "", false
	}
	return name, true
}

func isHTML(ctype string) bool {
	mt, _, _ := mime.ParseMediaType(ctype)
	return mt == "text/html" || mt == "application/xhtml+xml"
}
