// Command floor is the fastest live reload that can be written: raw
// inotify events (fsnotify, no settle, no verification, no build) and a
// one-line inline client. It is not a tool — it reloads on every event,
// half-written files included — but the floor that reloadd's
// time-to-reload is compared with, side by side with the bench's -url
// mode:
//
//	go run ./bench/floor -addr 127.0.0.1:8999 SITE &
//	go run ./bench -url http://127.0.0.1:8999/ -touch SITE/index.html -label floor
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/fsnotify/fsnotify"
	"github.com/gorilla/websocket"
)

// client is the whole browser side: reload on any message.
const client = `<script>new WebSocket("ws://"+location.host+"/__floor").onmessage=function(){location.reload()}</script>`

func main() {
	addr := flag.String("addr", "127.0.0.1:8999", "listen address")
	flag.Parse()
	dir := flag.Arg(0)
	if dir == "" {
		dir = "."
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		log.Fatal(err)
	}
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			err = w.Add(p)
		}
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	var mu sync.Mutex
	conns := map[*websocket.Conn]bool{}
	go func() {
		for range w.Events {
			mu.Lock()
			for c := range conns {
				c.WriteMessage(websocket.TextMessage, []byte("r"))
			}
			mu.Unlock()
		}
	}()
	up := websocket.Upgrader{}
	http.HandleFunc("/__floor", func(rw http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(rw, r, nil)
		if err != nil {
			return
		}
		mu.Lock()
		conns[c] = true
		mu.Unlock()
		go func() {
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
					return
				}
			}
		}()
	})
	files := http.FileServer(http.Dir(dir))
	http.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Cache-Control", "no-store")
		p := r.URL.Path
		if strings.HasSuffix(p, "/") {
			p += "index.html"
		}
		if !strings.HasSuffix(p, ".html") {
			files.ServeHTTP(rw, r)
			return
		}
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(filepath.Clean("/"+p))))
		if err != nil {
			http.NotFound(rw, r)
			return
		}
		if i := bytes.Index(b, []byte("</head>")); i >= 0 {
			b = append(b[:i:i], append([]byte(client), b[i:]...)...)
		} else {
			b = append(b, client...)
		}
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		rw.Write(b)
	})
	fmt.Fprintf(os.Stderr, "floor: serving %s at http://%s/\n", dir, *addr)
	log.Fatal(http.ListenAndServe(*addr, nil))
}
