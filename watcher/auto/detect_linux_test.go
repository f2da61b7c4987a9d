//go:build linux

package auto

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/reloadd/reloadd/internal/testenv"
)

func TestDetectThisMachine(t *testing.T) {
	dir := t.TempDir()
	plan, err := Detect([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) != 1 || plan[0].Path != dir || plan[0].FSType == "" || plan[0].Reason == "" {
		t.Fatalf("plan = %+v", plan)
	}
	if l := InotifyLimits(); l.MaxUserWatches <= 0 || l.MaxUserInstances <= 0 {
		t.Errorf("limits = %+v", l)
	}
}

// TestDetectRealBindfsMount mounts a real FUSE filesystem inside a local
// tree: the tree stays native, the mount is polled.
func TestDetectRealBindfsMount(t *testing.T) {
	root := t.TempDir()
	mnt := filepath.Join(root, "shared")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	testenv.Bindfs(t, t.TempDir(), mnt)
	plan, err := Detect([]string{root})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) != 2 || plan[0].Path != root || plan[0].Mode == Poll || plan[1].Path != mnt || plan[1].Mode != Poll {
		t.Fatalf("plan = %+v", plan)
	}
}
