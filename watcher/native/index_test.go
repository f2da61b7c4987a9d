package native

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"unsafe"
)

func TestEntryIsCompact(t *testing.T) {
	if n := unsafe.Sizeof(slot{}); n > 48 {
		t.Errorf("slot is %d bytes, want at most 48 (100k files must fit in a few MB)", n)
	}
	for _, m := range []os.FileMode{0o644, 0o755 | os.ModeDir, 0o777 | os.ModeSymlink, os.ModeNamedPipe | 0o600,
		os.ModeSocket, os.ModeDevice | os.ModeCharDevice | 0o666, os.ModeDevice, os.ModeIrregular,
		0o755 | os.ModeSetuid | os.ModeSetgid | os.ModeSticky} {
		if got := os.FileMode(unpackMode(packMode(uint32(m)))); got != m {
			t.Errorf("packMode round trip of %v = %v", m, got)
		}
	}
}

// TestDirIndex checks the packed directory index against a map, through
// random inserts, replacements and deletions (which trigger compaction).
func TestDirIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var d dirIndex
	model := make(map[string]int64)
	for i := range 20000 {
		name := fmt.Sprintf("file-%d.html", rng.IntN(3000))
		switch rng.IntN(3) {
		case 0, 1:
			d.put(name, entry{st: fileState{size: int64(i)}})
			model[name] = int64(i)
		case 2:
			_, want := model[name]
			if got := d.del(name); got != want {
				t.Fatalf("del(%s) = %v, want %v", name, got, want)
			}
			delete(model, name)
		}
	}
	if d.len() != len(model) {
		t.Fatalf("len = %d, want %d", d.len(), len(model))
	}
	var names []string
	for _, slot := range d.order {
		names = append(names, d.name(slot))
	}
	if !slices.IsSorted(names) {
		t.Error("order is not sorted by name")
	}
	for name, size := range model {
		e, ok := d.get(name)
		if !ok || e.st.size != size {
			t.Errorf("get(%s) = %v %v, want size %d", name, e.st.size, ok, size)
		}
	}
	if _, ok := d.get("nope"); ok {
		t.Error("get of a missing name succeeded")
	}
	if d.garbage > len(d.names)/2+4096 {
		t.Errorf("garbage %d of %d bytes: never compacted", d.garbage, len(d.names))
	}
}

func TestIndexPaths(t *testing.T) {
	x := newIndex()
	for _, p := range []string{"/r/a", "/r/d/b", "/r/d/e/c", "/r/dd/x", "/other/y"} {
		x.put(p, entry{st: fileState{size: 1}})
	}
	got := x.under("/r/d")
	slices.Sort(got)
	if want := []string{"/r/d/b", "/r/d/e/c"}; !slices.Equal(got, want) {
		t.Errorf("under(/r/d) = %v, want %v", got, want)
	}
	x.del("/r/d/b")
	x.del("/r/d/e/c")
	if got := x.dirNames(); !slices.Equal(got, []string{"/other", "/r", "/r/dd"}) {
		t.Errorf("empty directories kept: %v", got)
	}
	if x.count() != 3 {
		t.Errorf("count = %d, want 3", x.count())
	}
	// Bulk load keeps the first of duplicate names and sorts.
	x.setDir("/bulk", []byte("bab"), []slot{{off: 0, nlen: 1}, {off: 1, nlen: 1}, {off: 2, nlen: 1}})
	if got := x.under("/bulk"); !slices.Equal(got, []string{"/bulk/a", "/bulk/b"}) {
		t.Errorf("bulk load: %v", got)
	}
}
