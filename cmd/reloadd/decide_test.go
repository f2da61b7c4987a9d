package main

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/reloadd/reloadd/hub"
	"github.com/reloadd/reloadd/watcher"
)

func TestPlanForURLs(t *testing.T) {
	cases := []struct {
		urls   []string
		action string
		what   string
	}{
		{nil, hub.ActionNone, ""},
		{[]string{"/css/site.css"}, hub.ActionSwap, "css swap"},
		{[]string{"/css/site.css", "/css/site.css.map"}, hub.ActionSwap, "css swap"},
		{[]string{"/img/a.PNG"}, hub.ActionSwap, "image swap"},
		{[]string{"/a.css", "/b.svg"}, hub.ActionSwap, "css+image swap"},
		{[]string{"/src/a.scss"}, hub.ActionNone, ""},
		{[]string{"/a.css.map"}, hub.ActionNone, ""},
		{[]string{"/a.css", "/index.html"}, hub.ActionReload, ""},
		{[]string{"/app.js"}, hub.ActionReload, ""},
		{[]string{"/posts/"}, hub.ActionReload, ""},
	}
	for _, c := range cases {
		p := planForURLs(c.urls)
		if p.action != c.action || p.urls == nil || len(p.names) != 0 {
			t.Errorf("%v: %+v, want %s", c.urls, p, c.action)
		}
		if c.what != "" && p.swapWhat() != c.what {
			t.Errorf("%v: %q, want %q", c.urls, p.swapWhat(), c.what)
		}
		if p.cssOnly() != (c.what == "css swap") {
			t.Errorf("%v: css_only %v", c.urls, p.cssOnly())
		}
	}
}

func TestPlanForNames(t *testing.T) {
	cases := []struct {
		paths  []string
		action string
		names  []string
	}{
		{[]string{"/app/static/app.css"}, hub.ActionSwap, []string{"app.css"}},
		{[]string{"/app/static/app.css", "/app/static/logo.png"}, hub.ActionSwap, []string{"app.css", "logo.png"}},
		{[]string{"/app/scss/main.scss"}, hub.ActionSwap, []string{"main.css"}},
		{[]string{"/app/static/app.css", "/app/static/app.css.map"}, hub.ActionSwap, []string{"app.css"}},
		{[]string{"/app/static/app.css.map"}, hub.ActionNone, nil},
		{[]string{"/app/static/app.css", "/app/main.go"}, hub.ActionReload, nil},
		{[]string{"/app/templates/index.html"}, hub.ActionReload, nil},
		{[]string{"/app/server.js"}, hub.ActionReload, nil},
	}
	for _, c := range cases {
		p := planForNames(c.paths)
		if p.action != c.action || !slices.Equal(p.names, c.names) || p.urls == nil || len(p.urls) != 0 {
			t.Errorf("%v: %+v, want %s %v", c.paths, p, c.action, c.names)
		}
	}
}

func TestGoBuildOutputs(t *testing.T) {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("// x\nmodule example.com/shop/v2\n\ngo 1.26\n"), 0o644))
	must(t, os.MkdirAll(filepath.Join(dir, "web"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "web", "go.mod"), []byte("module \"example.com/web\"\n"), 0o644))
	j := func(p ...string) string { return filepath.Join(append([]string{dir}, p...)...) }
	cases := []struct {
		cmd  string
		want []string
	}{
		{"go build -o app .", []string{j("app")}},
		{"go build -o=bin/app ./cmd/app", []string{j("bin/app")}},
		{"go build --o /tmp/x", []string{"/tmp/x"}},
		{"CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o 'my app' .", []string{j("my app")}},
		{"go vet ./... && go build -o app . && echo ok", []string{j("app")}},
		{"templ generate; go build -tags dev -o ./tmp/main .", []string{j("tmp/main")}},
		{"cd web && go build -o ../srv", []string{j("srv")}},
		{"go build -C web -o srv", []string{j("web/srv")}},
		{"go build", []string{j("shop")}},   // named after the module, before its /v2
		{"go build .", []string{j("shop")}}, //
		{"cd web && go build", []string{j("web/web")}},
		{"go build ./cmd/api", []string{j("api")}},
		{"go build ./...", nil},
		{"go build main.go", nil},
		{"go build ./a ./b", nil},
		{"/usr/local/go/bin/go build -o app", []string{j("app")}},
		{"echo go build -o app", nil},
		{"npx sass src:public", nil},
		{"go build -o 'unbalanced", nil},
		{"", nil},
	}
	for _, c := range cases {
		if got := goBuildOutputs(c.cmd, dir); !slices.Equal(got, c.want) {
			t.Errorf("%q: %v, want %v", c.cmd, got, c.want)
		}
	}
}

func TestShellCommands(t *testing.T) {
	got := shellCommands(`a "b c" 'd'\ e;f|g&&h # comment` + "\n" + `i "x\"y" $Z`)
	want := [][]string{{"a", "b c", "d e"}, {"f"}, {"g"}, {"h"}, {"i", `x"y`, "$Z"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestOutputFlags(t *testing.T) {
	cwd := "/p"
	cases := []struct {
		paths []string
		want  string
	}{
		{[]string{"/p/app"}, "-output app"},
		{[]string{"/p/public/a.css", "/p/my file"}, "-output public/a.css -output 'my file'"},
		{[]string{"/p/gen/a/1", "/p/gen/b/2", "/p/gen/3", "/p/gen/4"}, "-output gen"},
		{[]string{"/elsewhere/x"}, "-output /elsewhere/x"},
	}
	for _, c := range cases {
		if got := outputFlags(c.paths, cwd); got != c.want {
			t.Errorf("%v: %q, want %q", c.paths, got, c.want)
		}
	}
}

// TestOutputsAreNotWatched: the served directory also listed as a DIR, an
// -output, Hugo's well-known files and go build's binary are all ignored;
// sources next to them are not.
func TestOutputsAreNotWatched(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"src", "public", "gen", "resources/_gen/assets", "content"} {
		must(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	t.Chdir(root)
	cfg, err := parseFlags([]string{"-build", "hugo && go build -o bin/app .", "-serve", "public", "-output", "gen", ".", "public"}, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := newLayout(cfg, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(l.roots, []string{root}) {
		t.Errorf("roots %v: the served directory is watched as a DIR", l.roots)
	}
	for p, ignored := range map[string]bool{
		"public/index.html":                   true,
		"gen/out.txt":                         true,
		".hugo_build.lock":                    true,
		"resources/_gen/assets/main.css":      true,
		"content/resources/_gen/images/x.jpg": true,
		"bin/app":                             true,
		"src/main.go":                         false,
		"content/post.md":                     false,
		"resources/logo.png":                  false,
		"generated.go":                        false,
	} {
		if got := l.filter.Ignored(filepath.Join(root, p), false); got != ignored {
			t.Errorf("%s: ignored %v, want %v", p, got, ignored)
		}
	}
}

func TestBuildOnFlag(t *testing.T) {
	root := t.TempDir()
	t.Chdir(root)
	if _, err := parseFlags([]string{"-build-on", "*.go", "."}, &strings.Builder{}); err == nil || !strings.Contains(err.Error(), "-build-on") {
		t.Errorf("-build-on without -build or -run: %v", err)
	}
	cfg, err := parseFlags([]string{"-run", "./app", "-build-on", "*.go", "-build-on", "*.tmpl", "-build-on", "!views/cache/*.tmpl", "."}, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := newLayout(cfg, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{layout: l}
	for p, want := range map[string]bool{
		"main.go":            true,
		"internal/db/db.go":  true,
		"views/index.tmpl":   true,
		"views/cache/x.tmpl": false,
		"static/app.css":     false,
		"README.md":          false,
	} {
		if got := d.needsBuild(events(filepath.Join(root, p))); got != want {
			t.Errorf("%s: needs a build %v, want %v", p, got, want)
		}
	}
	if !d.needsBuild(events(filepath.Join(root, "static/app.css"), filepath.Join(root, "main.go"))) {
		t.Error("a batch with one matching change needs the build")
	}
	cfg.buildOn = []string{"a["}
	if _, err := newLayout(cfg, &strings.Builder{}); err == nil {
		t.Error("a bad -build-on pattern was accepted")
	}
	// Without -build-on, everything needs the build.
	cfg.buildOn = nil
	l, _ = newLayout(cfg, &strings.Builder{})
	if d := (&daemon{layout: l}); !d.needsBuild(events(filepath.Join(root, "static/app.css"))) {
		t.Error("without -build-on, a change does not build")
	}
}

// events makes a batch of writes.
func events(paths ...string) []watcher.Event {
	evs := make([]watcher.Event, len(paths))
	for i, p := range paths {
		evs[i] = watcher.Event{Path: p, Op: watcher.Write}
	}
	return evs
}
