package serve

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// maxInjectSize bounds the HTML documents read into memory for injection;
// larger ones are served as they are.
const maxInjectSize = 32 << 20

// Static serves files from one directory through an [os.Root], so no URL and
// no symlink can reach outside it, and injects the client tag into HTML.
type Static struct {
	root *os.Root
	tag  func() []byte
}

// NewStatic opens dir for serving. tag returns the <script> element to
// inject into HTML documents (called per response).
func NewStatic(dir string, tag func() []byte) (*Static, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &Static{root: root, tag: tag}, nil
}

// Close releases the directory.
func (s *Static) Close() error { return s.root.Close() }

// ServeHTTP serves the file named by the URL path.
func (s *Static) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, ok := cleanURLPath(r.URL.Path)
	if !ok {
		http.Error(w, "bad path", http.StatusBadRequest)
		return
	}
	f, fi, err := s.open(name)
	if err != nil {
		s.error(w, err)
		return
	}
	defer f.Close()
	if fi.IsDir() {
		if !strings.HasSuffix(r.URL.Path, "/") {
			http.Redirect(w, r, path.Base(r.URL.Path)+"/", http.StatusMovedPermanently)
			return
		}
		f.Close()
		name = path.Join(name, "index.html")
		f, fi, err = s.open(name)
		if err != nil {
			s.error(w, err)
			return
		}
		defer f.Close()
		if fi.IsDir() {
			http.NotFound(w, r)
			return
		}
	}
	h := w.Header()
	// Never let the browser reuse a stale copy: the whole point is to see
	// the latest save.
	h.Set("Cache-Control", "no-store")
	ctype := mime.TypeByExtension(path.Ext(name))
	if isHTML(ctype) && fi.Size() <= maxInjectSize {
		body, err := io.ReadAll(io.LimitReader(f, maxInjectSize+1))
		if err != nil {
			s.error(w, err)
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

func (s *Static) open(name string) (*os.File, fs.FileInfo, error) {
	f, err := s.root.Open(name)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

func (s *Static) error(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		http.Error(w, "404 page not found", http.StatusNotFound)
	case errors.Is(err, fs.ErrPermission):
		http.Error(w, "403 forbidden", http.StatusForbidden)
	default:
		// Includes os.Root's refusal of paths that escape the directory.
		http.Error(w, "403 forbidden", http.StatusForbidden)
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
	for _, seg := range strings.Split(p, "/") {
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
