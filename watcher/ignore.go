package watcher

import (
	"fmt"
	"math/bits"
	"strings"
)

// Gitignore patterns, as git reads them (gitignore(5)), decided by
// `git check-ignore` in ignore_test.go and in a fuzz test:
//
//   - A line starting with "#" is a comment; trailing spaces are dropped
//     unless escaped with a backslash; "!" re-includes; "\!" and "\#" are a
//     literal "!" and "#".
//   - One trailing "/" makes the pattern match directories only.
//   - A pattern with no other slash matches a name at any depth. One with
//     a slash (at the start or in the middle; an escaped slash counts)
//     matches the path relative to the .gitignore's directory, and a
//     leading "/" is dropped.
//   - "*" and "?" never match a slash, nor does a class. "**" between
//     slashes (or at the start or end) spans directories: "**/x" matches x
//     at any depth, "x/**" everything inside x (not x itself), "a/**/b"
//     zero or more directories. Any other "**" is a "*".
//   - Classes are "[abc]", "[a-z]", "[!a]" and "[^a]", "]" first is a
//     member, "-" first or last is a member, "[:alpha:]" and the other
//     POSIX classes (ASCII). Matching is byte by byte and case-sensitive.
//   - git compares the leading run of a slash-containing pattern that has
//     no glob characters as plain text, and matches the rest as a pattern
//     of its own; so "x/a**/b" treats its "**" as a leading "**/" and
//     matches x/a/q/b and x/ab. reloadd does the same.
//
// A pattern git can never match (an unclosed class, an unknown POSIX
// class, a trailing backslash) is reported as an error rather than kept as
// a rule that matches nothing.
//
// Where a Filter differs from git on purpose (the tests compare only the
// .gitignore part): it adds DefaultIgnores and editor noise; rules given
// with Filter.Add beat a .gitignore's at the same directory; KeepVisible
// turns .gitignore rules off in a tree; it reads the .gitignore files at and
// below the watched directories only (not those above, nor .git/info/exclude
// or core.excludesFile); it has no index, so a tracked file a .gitignore
// names is ignored too; it matches case-sensitively everywhere (git follows
// core.ignorecase, true on macOS's and Windows's usual filesystems); and it
// reads the first MiB of a .gitignore (git skips files over 100 MiB).

// A pattern is one compiled gitignore line.
type pattern struct {
	text     string // the line as written, for errors
	neg      bool   // "!pat": re-include
	dirOnly  bool   // "pat/": directories only
	basename bool   // no slash: match the last path element, at any depth
	prefix   string // slash patterns: the leading text without glob characters
	glob     glob   // the rest, compiled
}

// compilePattern parses one gitignore line. It returns ok=false for blank
// lines, comments, and lines that are empty once "!", a trailing "/" and
// a leading "/" are taken off (git keeps those, and they match nothing).
func compilePattern(line string) (p pattern, ok bool, err error) {
	p.text = line
	if strings.HasPrefix(line, "#") {
		return p, false, nil
	}
	line = trimTrailingSpace(line)
	if strings.HasPrefix(line, "!") {
		p.neg = true
		line = line[1:]
	}
	if strings.HasSuffix(line, "/") {
		p.dirOnly = true
		line = line[:len(line)-1]
	}
	p.basename = !strings.Contains(line, "/")
	if !p.basename {
		line = strings.TrimPrefix(line, "/")
		n := strings.IndexAny(line, `*?[\`)
		if n < 0 {
			n = len(line)
		}
		p.prefix, line = line[:n], line[n:]
	}
	if line == "" && p.prefix == "" {
		return p, false, nil
	}
	p.glob, err = compileGlob(line)
	if err != nil {
		return p, false, fmt.Errorf("ignore pattern %q: %w", p.text, err)
	}
	return p, true, nil
}

// trimTrailingSpace removes trailing spaces that are not escaped with a
// backslash (a backslash escapes the byte after it, "\\" included).
func trimTrailingSpace(s string) string {
	cut := -1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ':
			if cut < 0 {
				cut = i
			}
		case '\\':
			i++
			cut = -1
		default:
			cut = -1
		}
	}
	if cut >= 0 {
		return s[:cut]
	}
	return s
}

// match reports whether rel (slash-separated, relative to the pattern's
// base, never empty) matches the pattern.
func (p *pattern) match(rel string, isDir bool) bool {
	if p.dirOnly && !isDir {
		return false
	}
	if p.basename {
		if i := strings.LastIndexByte(rel, '/'); i >= 0 {
			rel = rel[i+1:]
		}
		return p.glob.match(rel)
	}
	rest, ok := strings.CutPrefix(rel, p.prefix)
	return ok && p.glob.match(rest)
}

// A glob is a compiled gitignore glob: a sequence of tokens matched byte
// by byte, with fast paths for the two shapes most patterns have.
type glob struct {
	toks  []token
	shape globShape
	lit   string // shapeLiteral: the whole text; shapeSuffix: the text after "*"
}

type globShape uint8

const (
	shapeGeneral globShape = iota
	shapeLiteral           // no glob characters: "node_modules", "build"
	shapeSuffix            // "*" then no glob characters: "*.log"
)

type tokenKind uint8

const (
	tokByte    tokenKind = iota // one literal byte
	tokAny                      // "?": any byte but "/"
	tokClass                    // "[...]": a byte of the set, never "/"
	tokStar                     // "*": any bytes within one path element
	tokStarAll                  // "**" at a boundary: any bytes, "/" included
	tokDirs                     // "**/": zero or more whole directories ("", "a/", "a/b/", ...)
)

type token struct {
	kind tokenKind
	b    byte     // tokByte
	set  *byteSet // tokClass
}

// byteSet is a set of bytes.
type byteSet [4]uint64

func (s *byteSet) add(c byte)      { s[c>>6] |= 1 << (c & 63) }
func (s *byteSet) has(c byte) bool { return s[c>>6]&(1<<(c&63)) != 0 }
func (s *byteSet) addRange(lo, hi byte) {
	for c := int(lo); c <= int(hi); c++ {
		s.add(byte(c))
	}
}

// compileGlob compiles a glob; a "**" at its very start counts as being at
// a boundary, as git treats it (see the package's notes above).
func compileGlob(g string) (glob, error) {
	var out []token
	for i := 0; i < len(g); {
		switch c := g[i]; c {
		case '\\':
			if i+1 == len(g) {
				return glob{}, fmt.Errorf("ends with a lone backslash")
			}
			out = append(out, token{kind: tokByte, b: g[i+1]})
			i += 2
		case '?':
			out = append(out, token{kind: tokAny})
			i++
		case '[':
			set, n, err := parseClass(g[i:])
			if err != nil {
				return glob{}, err
			}
			out = append(out, token{kind: tokClass, set: set})
			i += n
		case '*':
			j := i
			for j < len(g) && g[j] == '*' {
				j++
			}
			boundaryBefore := i == 0 || g[i-1] == '/'
			switch {
			case j-i < 2 || !boundaryBefore:
				out = append(out, token{kind: tokStar})
			case j == len(g):
				out = append(out, token{kind: tokStarAll})
			case g[j] == '/':
				out = append(out, token{kind: tokDirs})
				j++ // the slash is part of "**/"
			case g[j] == '\\' && j+1 < len(g) && g[j+1] == '/':
				// "**\/": spans directories, but must end at a slash
				// (git has no zero-directory case for it).
				out = append(out, token{kind: tokStarAll})
			default:
				out = append(out, token{kind: tokStar})
			}
			i = j
		default:
			out = append(out, token{kind: tokByte, b: c})
			i++
		}
	}
	return newGlob(out), nil
}

// newGlob finds the glob's shape.
func newGlob(toks []token) glob {
	g := glob{toks: toks, shape: shapeLiteral}
	lit := toks
	if len(toks) > 0 && toks[0].kind == tokStar {
		g.shape, lit = shapeSuffix, toks[1:]
	}
	b := make([]byte, 0, len(lit))
	for _, t := range lit {
		if t.kind != tokByte {
			return glob{toks: toks}
		}
		b = append(b, t.b)
	}
	g.lit = string(b)
	return g
}

// posixClasses are the "[:name:]" classes, ASCII only (git's are the C
// locale's).
var posixClasses = map[string]func(c byte) bool{
	"alnum":  func(c byte) bool { return isAlpha(c) || isDigit(c) },
	"alpha":  isAlpha,
	"blank":  func(c byte) bool { return c == ' ' || c == '\t' },
	"cntrl":  func(c byte) bool { return c < 0x20 || c == 0x7f },
	"digit":  isDigit,
	"graph":  func(c byte) bool { return c > 0x20 && c < 0x7f },
	"lower":  func(c byte) bool { return c >= 'a' && c <= 'z' },
	"print":  func(c byte) bool { return c >= 0x20 && c < 0x7f },
	"punct":  func(c byte) bool { return c > 0x20 && c < 0x7f && !isAlpha(c) && !isDigit(c) },
	"space":  func(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') },
	"upper":  func(c byte) bool { return c >= 'A' && c <= 'Z' },
	"xdigit": func(c byte) bool { return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'f') },
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseClass parses the class at the start of g (g[0] == '['). It returns
// the set of bytes it matches (negation applied) and its length in g.
func parseClass(g string) (*byteSet, int, error) {
	set := new(byteSet)
	i := 1
	neg := i < len(g) && (g[i] == '!' || g[i] == '^')
	if neg {
		i++
	}
	prev := -1 // the last single byte added: the start of a possible range
	for first := true; ; first = false {
		if i >= len(g) {
			return nil, 0, fmt.Errorf("unclosed [")
		}
		c := g[i]
		switch {
		case c == ']' && !first:
			if neg {
				for k := range set {
					set[k] = ^set[k]
				}
			}
			return set, i + 1, nil
		case c == '\\':
			if i+1 == len(g) {
				return nil, 0, fmt.Errorf("unclosed [")
			}
			set.add(g[i+1])
			prev = int(g[i+1])
			i += 2
		case c == '-' && prev >= 0 && i+1 < len(g) && g[i+1] != ']':
			i++
			hi := g[i]
			if hi == '\\' {
				if i+1 == len(g) {
					return nil, 0, fmt.Errorf("unclosed [")
				}
				i++
				hi = g[i]
			}
			if byte(prev) <= hi {
				set.addRange(byte(prev), hi)
			}
			prev = -1
			i++
		case c == '[' && i+1 < len(g) && g[i+1] == ':':
			end := strings.IndexByte(g[i+2:], ']')
			if end < 0 {
				return nil, 0, fmt.Errorf("unclosed [")
			}
			end += i + 2 // the "]"
			if end == i+2 || g[end-1] != ':' {
				// Not "[:name:]": a plain "[".
				set.add('[')
				prev = '['
				i++
				continue
			}
			name := g[i+2 : end-1]
			in, ok := posixClasses[name]
			if !ok {
				return nil, 0, fmt.Errorf("unknown class [:%s:]", name)
			}
			for b := 0; b < 256; b++ {
				if in(byte(b)) {
					set.add(byte(b))
				}
			}
			prev = -1
			i = end + 1
		default:
			set.add(c)
			prev = int(c)
			i++
		}
	}
}

// match reports whether all of s matches the glob.
//
// The general case runs the glob as an automaton: the set of token
// positions a match can be at, advanced one byte at a time. Time is
// bounded by len(s) × len(toks) whatever the pattern (a backtracking
// matcher takes exponential time on "**/**/**/**/**/**/x" against a deep
// path, and a .gitignore comes with whatever repository was cloned).
//
// State 2i is "before token i"; state 2i+1 is "inside the directories of
// token i" (tokDirs only); state 2*len(toks) accepts.
func (g *glob) match(s string) bool {
	switch g.shape {
	case shapeLiteral:
		return s == g.lit
	case shapeSuffix:
		head, ok := strings.CutSuffix(s, g.lit)
		return ok && strings.IndexByte(head, '/') < 0
	}
	words := (2*len(g.toks) + 1 + 63) / 64
	var buf [8]uint64
	var cur, next stateSet
	if 2*words <= len(buf) {
		cur, next = buf[:words], buf[words:2*words]
	} else {
		cur, next = make(stateSet, words), make(stateSet, words)
	}
	cur.add(0)
	g.closure(cur)
	for i := 0; i < len(s); i++ {
		c := s[i]
		clear(next)
		live := false
		for w, word := range cur {
			for ; word != 0; word &= word - 1 {
				st := w*64 + bits.TrailingZeros64(word)
				ti := st >> 1
				if st&1 == 1 { // inside "**/": any bytes, and after a "/" the rest may start
					next.add(st)
					if c == '/' {
						next.add(st + 1)
					}
					live = true
					continue
				}
				if ti == len(g.toks) {
					continue // accepted, but there is more text
				}
				t := &g.toks[ti]
				switch {
				case t.kind == tokByte && c == t.b,
					t.kind == tokAny && c != '/',
					t.kind == tokClass && c != '/' && t.set.has(c):
					next.add(st + 2)
				case t.kind == tokStar && c != '/', t.kind == tokStarAll:
					next.add(st)
				default:
					continue
				}
				live = true
			}
		}
		if !live {
			return false
		}
		g.closure(next)
		cur, next = next, cur
	}
	return cur.has(2 * len(g.toks))
}

// closure adds to set the states reachable without reading a byte: past a
// star (it may match nothing), past "**/" or into it. Those moves only go
// forward, so one pass in order reaches them all.
func (g *glob) closure(set stateSet) {
	for ti := range g.toks {
		if !set.has(2 * ti) {
			continue
		}
		switch g.toks[ti].kind {
		case tokStar, tokStarAll:
			set.add(2*ti + 2)
		case tokDirs:
			set.add(2*ti + 1)
			set.add(2*ti + 2)
		}
	}
}

// stateSet is a set of automaton states.
type stateSet []uint64

func (s stateSet) add(i int)      { s[i>>6] |= 1 << (i & 63) }
func (s stateSet) has(i int) bool { return s[i>>6]&(1<<(i&63)) != 0 }
