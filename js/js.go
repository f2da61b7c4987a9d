// Package js embeds reloadd's browser client.
//
// The client derives its WebSocket URL from its own script URL (so it works
// behind proxies and from other hosts), reloads the page on build_complete,
// swaps stylesheets in place when only CSS changed, shows an error overlay on
// build_failed, reconnects with exponential backoff and jitter (paused while
// the tab is hidden or offline), and on reconnect reloads if the server's
// (epoch, build) moved while it was away. After a reload it reports how long
// the save took to reach the screen.
package js

import _ "embed"

// Client is the browser client's source, served at /_reloadd/client.js.
//
//go:embed client.js
var Client []byte
