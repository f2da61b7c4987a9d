package main

import (
	"bufio"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/reloadd/reloadd/watcher"
)

// A build's outputs never trigger builds. They are the served directory
// (with -build and -serve), what -output names, and what the tools people
// run are known to write on every build without being asked. Each would
// otherwise come back as a change: a second build, a second reload, a
// second restart of the app.

// wellKnownOutputs are gitignore-style patterns, applied below every
// watched directory, for files tools write on every build:
//   - Hugo: .hugo_build.lock (created by every build) and resources/_gen/
//     (its asset pipeline's cache: processed images, Sass output).
var wellKnownOutputs = []string{".hugo_build.lock", "**/resources/_gen/"}

// goBuildOutputs returns the files the go build commands in a -build
// command line write, resolved against dir (the build's working directory,
// followed through "cd DIR" steps): the -o target of each, or, without -o,
// the binary go build names after the package it builds (for "go build",
// "go build ." and "go build ./path/to/pkg"). It reads the command as sh
// would split it into words; anything it does not understand yields
// nothing, never a wrong guess at a source file.
func goBuildOutputs(cmd, dir string) []string {
	var out []string
	for _, words := range shellCommands(cmd) {
		if len(words) >= 2 && words[0] == "cd" {
			dir = resolve(dir, words[1])
			continue
		}
		for len(words) > 0 && isAssignment(words[0]) {
			words = words[1:] // GOOS=linux go build …
		}
		if len(words) < 2 || (words[0] != "go" && !strings.HasSuffix(words[0], "/go")) || words[1] != "build" {
			continue
		}
		target, pkgs, cdir, ok := goBuildArgs(words[2:])
		dir := dir
		if cdir != "" {
			dir = resolve(dir, cdir) // go build -C DIR: everything is relative to it
		}
		switch {
		case !ok:
		case target != "":
			out = append(out, resolve(dir, target))
		case len(pkgs) <= 1:
			pkg := "."
			if len(pkgs) == 1 {
				pkg = pkgs[0]
			}
			if name := goBinaryName(resolve(dir, pkg), pkg); name != "" {
				out = append(out, filepath.Join(dir, name))
			}
		}
	}
	return out
}

// goBuildArgs reads go build's arguments: the -o target, the package
// arguments and the -C directory. ok is false for a form it does not know.
func goBuildArgs(args []string) (target string, pkgs []string, cdir string, ok bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		switch {
		case a == "--":
			pkgs = append(pkgs, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "-") && (name == "o" || name == "C"):
			if !hasVal {
				if i+1 >= len(args) {
					return "", nil, "", false
				}
				i++
				val = args[i]
			}
			if name == "o" {
				target = val
			} else {
				cdir = val
			}
		case strings.HasPrefix(a, "-"):
			// Flags with a separate value: skip the value.
			if !hasVal && goBuildValueFlags[name] {
				i++
			}
		case strings.HasSuffix(a, ".go"), strings.Contains(a, "..."):
			pkgs = append(pkgs, a, a) // go build main.go, ./...: no name to guess; only -o is sure
		default:
			pkgs = append(pkgs, a)
		}
	}
	return target, pkgs, cdir, true
}

// goBuildValueFlags are go build's flags that take a value (go help build).
var goBuildValueFlags = map[string]bool{
	"p": true, "covermode": true, "coverpkg": true, "asmflags": true, "buildmode": true, "compiler": true, "gccgoflags": true, "gcflags": true, "installsuffix": true,
	"ldflags": true, "mod": true, "modfile": true, "overlay": true, "pgo": true, "pkgdir": true,
	"tags": true, "toolexec": true,
}

// goBinaryName is the file go build writes for the package in dir (given
// on the command line as pkg) when told no -o: the last element of its
// import path, before a major-version suffix. It knows the import path
// when dir holds the go.mod; otherwise pkg's last element is the
// directory's name, which is the import path's.
func goBinaryName(dir, pkg string) string {
	if mod := modulePath(filepath.Join(dir, "go.mod")); mod != "" {
		elems := strings.Split(mod, "/")
		name := elems[len(elems)-1]
		if len(elems) > 1 && majorVersion.MatchString(name) {
			name = elems[len(elems)-2]
		}
		return name
	}
	if pkg == "." || pkg == "./" {
		return "" // the package's import path is not known
	}
	name := path.Base(filepath.ToSlash(pkg))
	if name == "." || name == ".." || name == "/" {
		return ""
	}
	return name
}

var majorVersion = regexp.MustCompile(`^v[0-9]+$`)

// modulePath reads the module line of a go.mod file, or "".
func modulePath(gomod string) string {
	f, err := os.Open(gomod)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "module"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

func resolve(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

func isAssignment(w string) bool {
	i := strings.IndexByte(w, '=')
	if i <= 0 {
		return false
	}
	for _, c := range w[:i] {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// shellCommands splits a sh command line into simple commands (at ;, &&,
// ||, |, & and newlines), each a list of words with quotes removed. It
// knows quoting and backslashes, not expansions: a word with $ or a
// backtick in it is kept as written.
func shellCommands(line string) [][]string {
	var cmds [][]string
	var words []string
	var w strings.Builder
	inWord := false
	endWord := func() {
		if inWord {
			words = append(words, w.String())
			w.Reset()
			inWord = false
		}
	}
	endCmd := func() {
		endWord()
		if len(words) > 0 {
			cmds = append(cmds, words)
			words = nil
		}
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil // unbalanced: not understood
			}
			w.WriteString(line[i+1 : i+1+j])
			inWord = true
			i += j + 1
		case c == '"':
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) && strings.IndexByte("$`\"\\\n", line[i+1]) >= 0 {
					i++
				}
				w.WriteByte(line[i])
			}
			if i >= len(line) {
				return nil
			}
			inWord = true
		case c == '\\' && i+1 < len(line):
			i++
			if line[i] != '\n' {
				w.WriteByte(line[i])
				inWord = true
			}
		case c == ' ' || c == '\t':
			endWord()
		case c == ';' || c == '&' || c == '|' || c == '\n' || c == '(' || c == ')':
			endCmd()
		case c == '#' && !inWord:
			for i < len(line) && line[i] != '\n' {
				i++
			}
			endCmd()
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	endCmd()
	return cmds
}

// outputFlags is the advice for paths that changed while a build ran: one
// -output per path (relative to the working directory), or their common
// directory when there are more than three.
func outputFlags(paths []string, cwd string) string {
	rel := func(p string) string {
		if r, err := filepath.Rel(cwd, p); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
		return p
	}
	if len(paths) > 3 {
		dir := filepath.Dir(paths[0])
		for _, p := range paths[1:] {
			for !watcher.Within(dir, p) {
				dir = filepath.Dir(dir)
			}
		}
		return "-output " + shellWord(rel(dir))
	}
	var b strings.Builder
	for i, p := range paths {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("-output " + shellWord(rel(p)))
	}
	return b.String()
}

// shellWord quotes s for a shell when it needs it.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./+,:@%=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
