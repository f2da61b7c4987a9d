package forward

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The cookie: a file the daemon writes into each folder an agent can serve,
// and the agent reads from its side of the share. Reading it proves both
// that the agent may talk to the daemon (it holds the secret) and which
// folder it serves (it found the file in DIR), the watchman "cookie" idea.
//
//	DIR/.reloadd/.gitignore   "*\n": git lists nothing of the directory,
//	                          not even the directory itself
//	DIR/.reloadd/cookie       "reloadd-cookie 1 ID SECRET\n", mode 0600:
//	                          ID 16 hex digits (public, names the folder in
//	                          hello), SECRET 32 random bytes, base64url
//
// reloadd's filter ignores .reloadd everywhere (watcher/auto), so neither
// the daemon's poller nor the agent's watcher ever reports it. A daemon
// writes a fresh cookie at every start and removes it at exit if it is
// still its own.

// CookieFile is the cookie's name inside CookieDir.
const CookieFile = "cookie"

const cookieMagic = "reloadd-cookie"

// cookie is one folder's cookie.
type cookie struct {
	id     string
	secret []byte
}

func (c cookie) text() []byte {
	return fmt.Appendf(nil, "%s 1 %s %s\n", cookieMagic, c.id, base64.RawURLEncoding.EncodeToString(c.secret))
}

func newCookie() cookie {
	var id [8]byte
	secret := make([]byte, 32)
	rand.Read(id[:])
	rand.Read(secret)
	return cookie{id: hex.EncodeToString(id[:]), secret: secret}
}

func parseCookie(b []byte) (cookie, error) {
	f := strings.Fields(string(b))
	if len(f) != 4 || f[0] != cookieMagic || f[1] != "1" {
		return cookie{}, errors.New("not a reloadd cookie")
	}
	if _, err := hex.DecodeString(f[2]); err != nil || len(f[2]) != 16 {
		return cookie{}, errors.New("not a reloadd cookie (bad id)")
	}
	secret, err := base64.RawURLEncoding.DecodeString(f[3])
	if err != nil || len(secret) != 32 {
		return cookie{}, errors.New("not a reloadd cookie (bad secret)")
	}
	return cookie{id: f[2], secret: secret}, nil
}

// writeCookie writes c into dir/.reloadd. The cookie is written to a
// temporary name and renamed, so an agent never reads half a cookie.
func writeCookie(dir string, c cookie) error {
	cd := filepath.Join(dir, CookieDir)
	if err := os.Mkdir(cd, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	gi := filepath.Join(cd, ".gitignore")
	if b, err := os.ReadFile(gi); err != nil || string(b) != "*\n" {
		if err := os.WriteFile(gi, []byte("*\n"), 0o644); err != nil {
			return err
		}
	}
	tmp := filepath.Join(cd, CookieFile+".tmp")
	if err := os.WriteFile(tmp, c.text(), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(cd, CookieFile)); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// removeCookie removes dir/.reloadd if the cookie there is still c (another
// daemon may have written its own since).
func removeCookie(dir string, c cookie) {
	cd := filepath.Join(dir, CookieDir)
	p := filepath.Join(cd, CookieFile)
	b, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(b, c.text()) {
		return
	}
	os.Remove(p)
	os.Remove(filepath.Join(cd, ".gitignore"))
	os.Remove(cd) // fails, and stays, if someone put more there
}

// readCookie reads the cookie in dir/.reloadd.
func readCookie(dir string) (cookie, error) {
	b, err := os.ReadFile(filepath.Join(dir, CookieDir, CookieFile))
	if err != nil {
		return cookie{}, err
	}
	if len(b) > 1024 {
		return cookie{}, errors.New("not a reloadd cookie (too large)")
	}
	return parseCookie(b)
}
