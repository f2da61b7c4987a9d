package watcher

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	flag.Parse()
	// Fuzzing runs worker processes, which may be stopped without running
	// their cleanups: the scratch repository they share is made and
	// removed here, by the coordinating process.
	var shared string
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" && os.Getenv(fuzzRepoEnv) == "" {
		dir, err := os.MkdirTemp("", "reloadd-gitignore-fuzz-")
		if err == nil {
			if _, err = initGitRepo(dir); err == nil {
				shared = dir
				os.Setenv(fuzzRepoEnv, dir)
			} else {
				fmt.Fprintf(os.Stderr, "no scratch repository for fuzzing: %v\n", err)
				os.RemoveAll(dir)
			}
		}
	}
	code := m.Run()
	if shared != "" {
		os.RemoveAll(shared)
	}
	if r := fuzzRepo.repo; r != nil && os.Getenv(fuzzRepoEnv) == "" {
		os.RemoveAll(r.dir)
	}
	os.Exit(code)
}
