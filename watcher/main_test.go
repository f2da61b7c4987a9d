package watcher

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if r := fuzzRepo.repo; r != nil {
		os.RemoveAll(r.dir)
	}
	os.Exit(code)
}
