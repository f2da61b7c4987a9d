package main

import (
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"strings"

	"github.com/reloadd/reloadd/hub"
	"github.com/reloadd/reloadd/internal/siteindex"
	"github.com/reloadd/reloadd/watcher"
)

// Deciding what browsers do after a build, from what they can see rather
// than from what was saved:
//
//   - With -build and a served directory, the served tree is known by
//     content (internal/siteindex) and diffed after each build: the exact
//     site paths that changed. Stylesheets and images only → swap them;
//     nothing a page loads (nothing at all, or only source maps and
//     stylesheet sources) → nothing; anything else → reload.
//   - Serving files without -build, the changed files are the watched
//     ones: the same rule over those inside the served directory; a change
//     outside it reloads (a tool reloadd does not run may act on it).
//   - Behind -proxy the site paths are unknown: a changed stylesheet or
//     image (by extension, anywhere) is named by its file name, which the
//     client matches against the end of the page's URLs; a stylesheet
//     source (app.scss) is named as the stylesheet it compiles to
//     (app.css); when a stylesheet name matches nothing on the page, the
//     client swaps every stylesheet of the page's origin. Anything else
//     reloads.
//
// The start-up build always reloads.

// plan is what browsers are told to do after a successful build.
type plan struct {
	action string   // hub.ActionReload, hub.ActionSwap or hub.ActionNone
	urls   []string // site paths of the changed files, never nil
	names  []string // with -proxy and ActionSwap: file names to swap by
}

// assetKind is what a page does with a file, judged by its extension.
type assetKind int

const (
	kindPage        assetKind = iota // anything else: HTML, scripts, data… → reload
	kindStylesheet                   // swapped in place
	kindImage                        // swapped in place
	kindStyleSource                  // .scss, .sass, .less, .styl: compiled to a stylesheet, never loaded by a page
	kindUnseen                       // .map: read by developer tools only
)

func kindOf(name string) assetKind {
	switch {
	case hub.IsStylesheet(name):
		return kindStylesheet
	case hub.IsImage(name):
		return kindImage
	}
	switch strings.ToLower(path.Ext(name)) {
	case ".scss", ".sass", ".less", ".styl":
		return kindStyleSource
	case ".map":
		return kindUnseen
	}
	return kindPage
}

// planForURLs decides from the changed site paths of a served directory.
func planForURLs(urls []string) plan {
	p := plan{action: hub.ActionNone, urls: urls}
	if p.urls == nil {
		p.urls = []string{}
	}
	for _, u := range urls {
		switch kindOf(u) {
		case kindStylesheet, kindImage:
			p.action = hub.ActionSwap
		case kindPage:
			p.action = hub.ActionReload
			return p
		}
	}
	return p
}

// planForNames decides from the changed files behind a proxy, whose site
// paths are not known.
func planForNames(paths []string) plan {
	p := plan{action: hub.ActionNone, urls: []string{}}
	for _, f := range paths {
		name := filepath.Base(f)
		switch kindOf(name) {
		case kindStylesheet, kindImage:
			p.names = append(p.names, name)
		case kindStyleSource:
			p.names = append(p.names, strings.TrimSuffix(name, filepath.Ext(name))+".css")
		case kindPage:
			return plan{action: hub.ActionReload, urls: []string{}}
		}
	}
	if len(p.names) > 0 {
		p.action = hub.ActionSwap
	}
	return p
}

// swapWhat says what a swap swaps, for the terminal: "css swap", "image
// swap" or "css+image swap".
func (p plan) swapWhat() string {
	var css, img bool
	list := p.urls
	if len(p.names) > 0 {
		list = p.names
	}
	for _, u := range list {
		switch kindOf(u) {
		case kindStylesheet:
			css = true
		case kindImage:
			img = true
		}
	}
	switch {
	case css && img:
		return "css+image swap"
	case img:
		return "image swap"
	}
	return "css swap"
}

// cssOnly is build_complete's css_only: a swap of stylesheets only.
func (p plan) cssOnly() bool { return p.action == hub.ActionSwap && p.swapWhat() == "css swap" }

// decide makes the plan for a successful build (or a change that needed
// none). Called from the build loop only: it owns the site index.
func (d *daemon) decide(o *outcome) plan {
	switch {
	case d.index != nil:
		changes, err := d.index.Scan()
		if err != nil {
			d.out.event("watch_error", fmt.Sprintf("reloadd: serve %s: %v", d.out.short([]string{d.served}), err), map[string]any{"error": err.Error()})
		}
		if o.initial {
			return plan{action: hub.ActionReload, urls: []string{}} // the baseline: every file is new
		}
		p := planForURLs(siteURLs(changes))
		if err != nil && p.action != hub.ActionReload {
			p.action = hub.ActionReload // part of the site could not be looked at
		}
		return p
	case d.served != "":
		urls, outside := d.servedURLs(o.paths)
		if o.initial || outside {
			return plan{action: hub.ActionReload, urls: urls}
		}
		return planForURLs(urls)
	default:
		if o.initial {
			return plan{action: hub.ActionReload, urls: []string{}}
		}
		return planForNames(o.paths)
	}
}

// siteURLs turns the changes of the site index into URL paths.
func siteURLs(changes []siteindex.Change) []string {
	urls := make([]string, len(changes))
	for i, c := range changes {
		urls[i] = (&url.URL{Path: "/" + c.Path}).EscapedPath()
	}
	return urls
}

// servedURLs maps changed paths under the served directory to their URL
// paths, and reports whether any changed path lies outside it.
func (d *daemon) servedURLs(paths []string) (urls []string, outside bool) {
	urls = []string{}
	for _, p := range paths {
		if !watcher.Within(d.served, p) || p == d.served {
			outside = true
			continue
		}
		rel, err := filepath.Rel(d.served, p)
		if err != nil {
			outside = true
			continue
		}
		urls = append(urls, (&url.URL{Path: "/" + filepath.ToSlash(rel)}).EscapedPath())
	}
	return urls, outside
}

// needsBuild reports whether a batch's changes need -build (and a -run
// restart): always without -build-on, else when one of them matches.
func (d *daemon) needsBuild(events []watcher.Event) bool {
	if d.buildOn == nil {
		return true
	}
	for _, ev := range events {
		if d.buildOn.Ignored(ev.Path, false) { // "ignored" by the -build-on filter: matched
			return true
		}
	}
	return false
}
