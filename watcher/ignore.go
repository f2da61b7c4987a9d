package watcher

import (
	"fmt"
	"path"
	"strings"
)

// A pattern is one compiled gitignore line.
type pattern struct {
	text     string   // the line as written, for errors and String
	neg      bool     // "!pat": re-include
	dirOnly  bool     // "pat/": directories only
	anchored bool     // contains a slash: match from the base, not any level
	segs     []string // slash-separated glob segments; "**" matches any number
}

// compilePattern parses one gitignore line. It returns ok=false for blank
// lines and comments.
func compilePattern(line string) (p pattern, ok bool, err error) {
	p.text = line
	line = trimTrailingSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return p, false, nil
	}
	if strings.HasPrefix(line, "!") {
		p.neg = true
		line = line[1:]
	} else if strings.HasPrefix(line, `\!`) || strings.HasPrefix(line, `\#`) {
		line = line[1:]
	}
	if strings.HasSuffix(line, "/") {
		p.dirOnly = true
		line = strings.TrimRight(line, "/")
	}
	if line == "" {
		return p, false, nil
	}
	if strings.Contains(line, "/") {
		p.anchored = true
		line = strings.TrimPrefix(line, "/")
	}
	p.segs = strings.Split(line, "/")
	for i, s := range p.segs {
		if s == "**" {
			continue
		}
		// gitignore negates a class with "[!...]", path.Match with "[^...]".
		s = strings.ReplaceAll(s, "[!", "[^")
		p.segs[i] = s
		if _, err := path.Match(s, ""); err != nil {
			return p, false, fmt.Errorf("ignore pattern %q: %w", p.text, err)
		}
	}
	return p, true, nil
}

// trimTrailingSpace removes trailing spaces unless escaped with a backslash.
func trimTrailingSpace(s string) string {
	for strings.HasSuffix(s, " ") && !strings.HasSuffix(s, `\ `) {
		s = s[:len(s)-1]
	}
	return s
}

// match reports whether rel (slash-separated, relative to the pattern's base,
// never empty) matches the pattern.
func (p *pattern) match(rel string, isDir bool) bool {
	if p.dirOnly && !isDir {
		return false
	}
	if !p.anchored {
		base := rel
		if i := strings.LastIndexByte(rel, '/'); i >= 0 {
			base = rel[i+1:]
		}
		ok, _ := path.Match(p.segs[0], base)
		return ok
	}
	return matchSegs(p.segs, strings.Split(rel, "/"))
}

// matchSegs matches glob segments against path segments; "**" matches zero
// or more whole segments.
func matchSegs(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			rest := pat[1:]
			if len(rest) == 0 {
				return true // trailing "/**" matches everything below
			}
			for i := 0; i <= len(name); i++ {
				if matchSegs(rest, name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}
