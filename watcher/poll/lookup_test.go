package poll

import (
	"testing"
	"time"
)

// fakeLook is a directory handle whose forced and plain stats answer
// different sizes, so that the test sees which one a lookupDir returned.
type fakeLook struct{ forced, plain, cached int }

func (f *fakeLook) names() ([]string, error) { return nil, nil }
func (f *fakeLook) lstat(string) (fstat, error) {
	f.forced++
	return fstat{size: 1}, nil
}
func (f *fakeLook) close() {}
func (f *fakeLook) lstatPlain(string) (fstat, error) {
	f.plain++
	return fstat{size: 2}, nil
}
func (f *fakeLook) lstatCached(string) (fstat, error) {
	f.cached++
	return fstat{size: 3}, nil
}

// TestLookupDir: a plain stat timed like an answer from the cache is asked
// again, forced; one slower than that stands; without plain stats every
// stat is forced. lookupDone then times the cached stat on the last names.
func TestLookupDir(t *testing.T) {
	tests := []struct {
		name                  string
		plain                 bool
		threshold             time.Duration
		wantSize              int64
		wantForced, wantPlain int
		wantCached            int // lookupDir.cached
	}{
		{"plain, slower than the cache: stands", true, 0, 2, 0, 1, 0},
		{"plain, as fast as the cache: asked again forced", true, time.Hour, 1, 1, 1, 1},
		{"forced", false, time.Hour, 1, 1, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeLook{}
			d := &lookupDir{dirHandle: f, ls: f, plain: tc.plain, threshold: tc.threshold}
			st, err := d.lstat("a")
			if err != nil {
				t.Fatal(err)
			}
			if st.size != tc.wantSize || f.forced != tc.wantForced || f.plain != tc.wantPlain || d.cached != tc.wantCached {
				t.Errorf("size %d, forced %d, plain %d, cached %d; want %d, %d, %d, %d",
					st.size, f.forced, f.plain, d.cached, tc.wantSize, tc.wantForced, tc.wantPlain, tc.wantCached)
			}
			sh := newShareState(false)
			sh.lookupDone(d, time.Now())
			if f.cached != 1 || sh.lookup.ref <= 0 {
				t.Errorf("after lookupDone: %d cached stats timed, ref %v", f.cached, sh.lookup.ref)
			}
		})
	}
}

// TestLookupWindow: a window of directories nearly all answered like the
// cache turns plain stats off for lookupBackoff, doubling on every failed
// retry; some such directories (the poller's own reads) do not; a window
// with few resets the backoff.
func TestLookupWindow(t *testing.T) {
	now := time.Unix(1000, 0)
	sh := newShareState(false)
	sh.lookup.ref = time.Microsecond
	if sh.lookupOK(now) {
		t.Fatal("plain stats used before a whole pass of the stat sweep (the baseline's looks are still cached)")
	}
	sh.lookup.primed = true
	if !sh.lookupOK(now) {
		t.Fatal("plain stats not used with a measured reference")
	}
	// window sweeps lookupWindow directories of 100 names, the first
	// cachedDirs of them answered mostly (90 of 100) like the cache.
	window := func(cachedDirs int) {
		for i := range lookupWindow {
			f := &fakeLook{}
			cached := 10
			if i < cachedDirs {
				cached = 90
			}
			sh.lookupDone(&lookupDir{dirHandle: f, ls: f, plain: true, looks: 100, cached: cached}, now)
		}
	}
	window(lookupWindow * 3 / 4) // the poller's own reads keep a few directories cached
	if !sh.lookupOK(now) {
		t.Fatal("plain stats turned off with a quarter of the directories answered by the cache")
	}
	window(lookupWindow * 7 / 8)
	if sh.lookupOK(now) || sh.lookup.until.Sub(now) != lookupBackoff {
		t.Fatalf("after a mostly cached window: ok=%v, off for %v", sh.lookupOK(now), sh.lookup.until.Sub(now))
	}
	now = sh.lookup.until
	window(lookupWindow)
	if got := sh.lookup.until.Sub(now); got != 2*lookupBackoff {
		t.Errorf("second failed retry: off for %v, want %v", got, 2*lookupBackoff)
	}
	now = sh.lookup.until
	window(lookupWindow / 16)
	if !sh.lookupOK(now) || sh.lookup.backoff != 0 {
		t.Errorf("after a window of few cached answers: ok=%v, backoff %v", sh.lookupOK(now), sh.lookup.backoff)
	}
	sticky := shareStateFor(Options{StatCache: 20 * time.Second})
	sticky.lookup.ref, sticky.lookup.primed = time.Microsecond, true
	if _, ok := sticky.lookupHandle(&fakeLook{}, now).(*lookupDir); ok {
		t.Error("a share with a cache of known lifetime (sshfs) uses plain stats")
	}
}
