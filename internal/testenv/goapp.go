package testenv

// GoAppMain is the main.go of a small Go net/http app, the workflow tests'
// and bench figure 8's: it serves static/ below its executable's directory
// as /static/, and / from templates/index.html, read per request (so that
// a template edit needs no rebuild), executed with the string given for %s
// (fmt.Sprintf). It listens on os.Args[1] and prints "app: listening"
// first.
const GoAppMain = `package main

import (
	"html/template"
	"net/http"
	"os"
	"path/filepath"
)

const value = "%s"

func main() {
	exe, _ := os.Executable()
	dir := filepath.Dir(exe)
	http.Handle("/static/", http.StripPrefix("/static/", http.FileServer(http.Dir(filepath.Join(dir, "static")))))
	http.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		t, err := template.ParseFiles(filepath.Join(dir, "templates", "index.html"))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		t.Execute(w, value)
	})
	println("app: listening")
	if err := http.ListenAndServe(os.Args[1], nil); err != nil {
		println(err.Error())
		os.Exit(1)
	}
}
`
