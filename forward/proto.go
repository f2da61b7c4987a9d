package forward

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/reloadd/reloadd/watcher/auto"
)

// Path is the daemon's agent endpoint (a WebSocket).
const Path = "/_reloadd/agent"

// Version is the protocol version; hello carries it and the daemon refuses
// another.
const Version = 1

// Message types. The agent sends hello, auth, manifest and changes; the
// daemon sends challenge, welcome and error.
const (
	TypeHello     = "hello"
	TypeChallenge = "challenge"
	TypeAuth      = "auth"
	TypeWelcome   = "welcome"
	TypeManifest  = "manifest"
	TypeChanges   = "changes"
	TypeError     = "error"
)

// Limits of the protocol. The daemon closes a connection that exceeds
// them; the agent never does.
const (
	// MaxMessage is the largest frame the daemon reads: a changes message
	// of MaxRecords records with 4 KiB paths would not fit, but real paths
	// are short; 1 MiB is ~10,000 typical records.
	MaxMessage = 1 << 20
	// MaxRecords is the most records in one changes message, and
	// MaxEntries the most entries in one manifest message (entries are
	// smaller and come in bulk).
	MaxRecords = 1024
	MaxEntries = 4096
	// MaxManifest bounds a whole manifest: ten times the 100,000-file tree
	// the project measures against.
	MaxManifest = 4_000_000
	// MaxPath bounds a path on the wire (PATH_MAX on Linux).
	MaxPath = 4096
	// MaxNames bounds the fingerprint (top-level names) a hello carries.
	MaxNames = 256
)

// Error codes of an error message. An agent exits on the ones marked fatal
// (retrying cannot help), and retries the others.
const (
	// CodeNoCookie: the hello named no cookie the daemon knows, and there
	// is no token to fall back on (fatal after the agent's cookie-lag
	// allowance): DIR is not a folder this daemon watches, or the daemon
	// could not write its cookie there (a read-only share: use -token).
	CodeNoCookie = "no_cookie"
	// CodeAuth: the proof did not verify (a stale cookie, another daemon's
	// cookie, a wrong token).
	CodeAuth = "auth_failed"
	// CodeWrongDir: authenticated by token, but DIR matches none of the
	// daemon's deaf folders (fatal).
	CodeWrongDir = "wrong_dir"
	// CodeNoMounts: the daemon watches no folder that needs an agent
	// (fatal).
	CodeNoMounts = "no_mounts"
	// CodeProtocol: a malformed or unexpected message, or a limit exceeded.
	CodeProtocol = "protocol"
	// CodeVersion: the daemon speaks another protocol version (fatal).
	CodeVersion = "version"
	// CodeReplaced: another agent now serves the folder.
	CodeReplaced = "replaced"
	// CodeBusy: too many agents are connecting at once.
	CodeBusy = "busy"
	// CodeResync: the daemon dropped the agent to resynchronise (its
	// poller could not keep up with the records); the agent reconnects.
	CodeResync = "resync"
)

// Hello is the agent's first message.
type Hello struct {
	Type    string `json:"type"`
	Version int    `json:"version"`
	// Nonce is the agent's challenge: 32 random bytes, base64url.
	Nonce string `json:"nonce"`
	// Cookie is the public id of the cookie found in DIR/.reloadd, if any.
	Cookie string `json:"cookie,omitempty"`
	// Token says the agent was given -token.
	Token bool `json:"token,omitempty"`
	// Host, Dir and OS describe the agent, for the daemon's terminal.
	Host string `json:"host"`
	Dir  string `json:"dir"`
	OS   string `json:"os"`
	// Names is the token mode's mapping check: DIR's top-level names,
	// directories with a trailing "/", sorted, at most MaxNames, ignored
	// names left out.
	Names []string `json:"names,omitempty"`
}

// Challenge is the daemon's answer to hello: its own nonce, which key it
// proves with ("cookie" or "token"), and its proof that it knows the key.
type Challenge struct {
	Type  string `json:"type"`
	Nonce string `json:"nonce"`
	Key   string `json:"key"`
	Proof string `json:"proof"`
}

// Auth is the agent's proof.
type Auth struct {
	Type  string `json:"type"`
	Proof string `json:"proof"`
}

// Welcome tells an authenticated agent which folder it serves and how the
// daemon filters it, so that the agent never ignores what the daemon
// watches.
type Welcome struct {
	Type string `json:"type"`
	// Mount is the folder's path in the daemon's filesystem.
	Mount string `json:"mount"`
	// Epoch is the daemon process's id (as in the hub's hello).
	Epoch string `json:"epoch"`
	// GitIgnore says whether the daemon honours .gitignore files.
	GitIgnore bool `json:"gitignore"`
	// Visible are directories, relative to the folder ("" for the folder
	// itself), that .gitignore files never hide (the daemon's served
	// directory when it runs no -build).
	Visible []string `json:"visible"`
}

// Entry is one file or directory (D) of the agent's manifest: its path
// relative to DIR (slash-separated, Unicode NFC), size and modification
// time in Unix nanoseconds. H, the xxhash64 of the content in hex, may be
// empty.
type Entry struct {
	P string `json:"p"`
	D bool   `json:"d,omitempty"`
	S int64  `json:"s,omitempty"`
	M int64  `json:"m,omitempty"`
	H string `json:"h,omitempty"`
}

// Manifest is one part of the agent's manifest: every file it watches,
// sent after welcome and before any changes, in parts of at most
// MaxEntries; the last part has Done set.
type Manifest struct {
	Type    string  `json:"type"`
	Entries []Entry `json:"entries"`
	Done    bool    `json:"done,omitempty"`
}

// Operations of a record.
const (
	OpWrite  = "write"  // created or changed
	OpRemove = "remove" // gone
)

// Record is one change: a path relative to DIR (slash-separated, NFC), a
// sequence number (one counter per agent process, strictly increasing),
// for a write the host's size, mtime (Unix ns) and content hash
// (xxhash64, hex; empty for files above the hash limit), and A, how long
// (µs, on the agent's own clock) before the message was sent the agent's
// watcher saw the change: the daemon, which cannot compare clocks with
// the host, takes the change as written that long before the message
// arrived (the network's one-way time not counted), for the save's seen
// phase. Agents before A was added send none: then there is no seen
// phase.
type Record struct {
	N  int64  `json:"n"`
	P  string `json:"p"`
	Op string `json:"op"`
	S  int64  `json:"s,omitempty"`
	M  int64  `json:"m,omitempty"`
	H  string `json:"h,omitempty"`
	A  int64  `json:"a,omitempty"`

	seen time.Time // when the agent's watcher saw the change (A is taken from it at sending)
}

// Changes carries records, at most MaxRecords.
type Changes struct {
	Type    string   `json:"type"`
	Records []Record `json:"records"`
}

// Error is the daemon's last message before it closes a connection.
type Error struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// envelope reads the type of any message.
type envelope struct {
	Type string `json:"type"`
}

// Fatal reports whether an agent should stop retrying after an error with
// this code.
func Fatal(code string) bool {
	switch code {
	case CodeNoCookie, CodeWrongDir, CodeNoMounts, CodeVersion:
		return true
	}
	return false
}

// nonceSize is the size of each side's nonce: 256 bits, so a nonce never
// repeats.
const nonceSize = 32

func newNonce() string {
	var b [nonceSize]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func decodeNonce(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != nonceSize {
		return nil, errors.New("bad nonce")
	}
	return b, nil
}

// tokenKey derives the HMAC key from a -token: a token is typed by people,
// the key is 32 bytes.
func tokenKey(token string) []byte {
	h := sha256.Sum256([]byte("reloadd forward token v1\x00" + token))
	return h[:]
}

// proof is HMAC-SHA256 over the role ("agent" or "daemon"), both nonces and
// the cookie id: each side proves it knows the key without sending it, a
// proof cannot be replayed (fresh nonces from both sides) nor reflected
// (the role differs).
func proof(key []byte, role, nonceAgent, nonceDaemon, cookie string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("reloadd forward v1\x00" + role + "\x00" + nonceAgent + "\x00" + nonceDaemon + "\x00" + cookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func proofOK(want, got string) bool { return hmac.Equal([]byte(want), []byte(got)) }

// CheckPath validates a path from the wire: relative, slash-separated, no
// empty, "." or ".." component, no NUL, valid UTF-8, at most MaxPath bytes
// and 255 bytes per name. It is the lexical half of confining a path to a
// folder; the other half is that the daemon looks every path up through
// its own index, which never follows a symlink.
func CheckPath(p string) error {
	switch {
	case p == "":
		return errors.New("empty path")
	case len(p) > MaxPath:
		return fmt.Errorf("path longer than %d bytes", MaxPath)
	case !utf8.ValidString(p):
		return errors.New("path is not UTF-8")
	case strings.IndexByte(p, 0) >= 0:
		return errors.New("path holds a NUL byte")
	case p[0] == '/':
		return fmt.Errorf("absolute path %q", p)
	}
	for part := range strings.SplitSeq(p, "/") {
		switch {
		case part == "":
			return fmt.Errorf("path %q has an empty name", p)
		case part == "." || part == "..":
			return fmt.Errorf("path %q has a %q name", p, part)
		case len(part) > 255:
			return fmt.Errorf("path %q has a name longer than 255 bytes", p)
		}
	}
	return nil
}

// parseHash reads a hex xxhash64; "" is no hash.
func parseHash(s string) (uint64, bool, error) {
	if s == "" {
		return 0, false, nil
	}
	if len(s) > 16 {
		return 0, false, fmt.Errorf("bad hash %q", s)
	}
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, false, fmt.Errorf("bad hash %q", s)
	}
	return v, true, nil
}

func formatHash(h uint64) string { return fmt.Sprintf("%016x", h) }

// Timing of the connection.
const (
	// handshakeTimeout bounds hello → auth on the daemon and the whole
	// handshake on the agent.
	handshakeTimeout = 10 * time.Second
	// pingPeriod: the daemon pings this often; each side gives up on a
	// connection silent for pongWait (a dropped network, a suspended VM),
	// and the daemon then polls the folder in full again.
	pingPeriod = 5 * time.Second
	pongWait   = 15 * time.Second
	// writeWait bounds one write.
	writeWait = 10 * time.Second
)

// CookieDir re-exports the name of the directory that holds the cookie in
// each folder an agent can serve.
const CookieDir = auto.CookieDir
