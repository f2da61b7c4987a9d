package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/reloadd/reloadd/serve"
)

// newProxy builds the site for -proxy: a reverse proxy to the app that
// injects the client into its pages and reports on the terminal when the
// app stops and starts answering.
func (d *daemon) newProxy() (*serve.Proxy, error) {
	p, err := serve.NewProxy(d.cfg.proxy, serve.ProxyOptions{
		Tag:    func() []byte { return serve.ScriptTag(d.epoch, d.hub.Build()) },
		Logger: slog.New(&printerHandler{out: d.out}),
	})
	if err != nil {
		return nil, fmt.Errorf("proxy %s: %w", d.cfg.proxy.Redacted(), err)
	}
	return p, nil
}

// printerHandler prints slog records from the serve package as reloadd
// events ("proxy"): a human line, or a JSON object with -log json.
type printerHandler struct {
	out   *printer
	attrs []slog.Attr
}

func (h *printerHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *printerHandler) Handle(_ context.Context, r slog.Record) error {
	var text strings.Builder
	text.WriteString("reloadd: ")
	text.WriteString(r.Message)
	fields := map[string]any{"level": strings.ToLower(r.Level.String())}
	add := func(a slog.Attr) bool {
		fields[a.Key] = a.Value.Any()
		fmt.Fprintf(&text, "  %s=%s", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	h.out.event("proxy", text.String(), fields)
	return nil
}

func (h *printerHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &printerHandler{out: h.out, attrs: append(h.attrs[:len(h.attrs):len(h.attrs)], attrs...)}
}

// WithGroup is not needed by serve; groups are flattened.
func (h *printerHandler) WithGroup(string) slog.Handler { return h }
