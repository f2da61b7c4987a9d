package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

// tree is a generated source tree: files spread evenly over leaf
// directories two levels down (top/dNN/sNN), like a real project's.
type tree struct {
	root  string
	dirs  int
	files []string
}

// makeTree creates nfiles small files in ndirs leaf directories under root.
func makeTree(root string, nfiles, ndirs int) (*tree, error) {
	t := &tree{root: root, dirs: ndirs}
	const fanout = 25 // leaf directories per second-level directory
	for d := range ndirs {
		dir := filepath.Join(root, fmt.Sprintf("d%03d", d/fanout), fmt.Sprintf("s%02d", d%fanout))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	for i := range nfiles {
		d := i % ndirs
		p := filepath.Join(root, fmt.Sprintf("d%03d", d/fanout), fmt.Sprintf("s%02d", d%fanout), fmt.Sprintf("f%06d.txt", i))
		if err := os.WriteFile(p, fmt.Appendf(nil, "file %d: some source text, a few dozen bytes long.\n", i), 0o644); err != nil {
			return nil, err
		}
		t.files = append(t.files, p)
	}
	return t, nil
}

// fig4: scale. Trees of 10k and 100k files in ~500 directories, watched
// natively and by polling: time until reloadd serves, CPU it burns while
// nothing changes, memory, and how fast a change is seen in a file that was
// just changed (hot) and in one untouched since start (cold).
func (s *suite) fig4(ctx context.Context) {
	type size struct{ files, dirs int }
	sizes := []size{{10_000, 500}, {100_000, 500}}
	idle := 15 * time.Second
	if s.cfg.quick {
		sizes = []size{{1_000, 50}}
		idle = 2 * time.Second
	}
	for _, sz := range sizes {
		s.progress("figure 4: creating %s files in %d directories", thousands(sz.files), sz.dirs)
		root, err := tempDir("reloadd-bench-tree-")
		if err != nil {
			s.fail(4, err)
			return
		}
		tr, err := makeTree(root, sz.files, sz.dirs)
		if err != nil {
			os.RemoveAll(root)
			s.fail(4, err)
			return
		}
		for _, mode := range []string{"native", "poll"} {
			setup := fmt.Sprintf("%s files, `-watch %s -debounce 0`", thousands(sz.files), mode)
			hot := s.rep.addLatency(&latencyRow{fig: 4, figure: "scale: write → `build_complete`, hot file (changed just before)",
				setup: setup, panel: panelScale, label: fmt.Sprintf("%s files, %s, hot", thousands(sz.files), mode)})
			cold := s.rep.addLatency(&latencyRow{fig: 4, figure: "scale: write → `build_complete`, cold file (untouched since start)",
				setup: setup, panel: panelScale, label: fmt.Sprintf("%s files, %s, cold", thousands(sz.files), mode)})
			srow := &scaleRow{files: sz.files, dirs: sz.dirs, mode: mode}
			s.rep.scale = append(s.rep.scale, srow)
			s.progress("figure 4: %s files, -watch %s", thousands(sz.files), mode)
			if err := s.scale(ctx, tr, mode, idle, hot, cold, srow); err != nil {
				s.fail(4, err, hot, cold)
				if srow.na == "" {
					srow.na = naReason(err)
				}
			}
		}
		os.RemoveAll(root)
	}
}

func (s *suite) scale(ctx context.Context, tr *tree, mode string, idle time.Duration, hot, cold *latencyRow, srow *scaleRow) error {
	d, err := startDaemon(ctx, s.bin, "-watch", mode, "-debounce", "0", tr.root)
	if err != nil {
		return err
	}
	defer d.stop()
	srow.ready = d.ready.Sub(d.started)
	if srow.startCPU, err = cpuTime(d.pid()); err != nil && !errors.Is(err, errNotLinux) {
		return err
	}
	c, _, err := dialWS(ctx, d.addr)
	if err != nil {
		return err
	}
	defer c.close()
	if st, err := d.status(); err == nil {
		srow.note = st.modeNote()
	}

	// Hot: one file, written again and again.
	hotFile := tr.files[0]
	for i := range s.cfg.warmup + s.cfg.trials {
		if err := sleepCtx(ctx, gap(gapMin, gapSpan)); err != nil {
			return err
		}
		lat, err := c.writeAndAwait(ctx, hotFile, fmt.Appendf(nil, "hot %d %d\n", i, rand.Int()), trialLimit)
		if errors.Is(err, errMissed) {
			hot.missed++
			continue
		}
		if err != nil {
			return fmt.Errorf("hot trial %d: %w\n%s", i, err, d.log.tail())
		}
		if i >= s.cfg.warmup {
			hot.samples = append(hot.samples, lat)
		}
	}

	// Cold: a different file each time, never touched before.
	perm := rand.Perm(len(tr.files) - 1)
	misses := 0
	for i := range min(s.cfg.warmup+s.cfg.trials, len(perm)) {
		if err := sleepCtx(ctx, gap(gapMin, gapSpan)); err != nil {
			return err
		}
		f := tr.files[1+perm[i]]
		lat, err := c.writeAndAwait(ctx, f, fmt.Appendf(nil, "cold %d %d\n", i, rand.Int()), coldLimit)
		if errors.Is(err, errMissed) {
			cold.missed++
			if misses++; misses >= 3 {
				break
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("cold trial %d: %w\n%s", i, err, d.log.tail())
		}
		misses = 0
		if i >= s.cfg.warmup {
			cold.samples = append(cold.samples, lat)
		}
	}

	// Idle: nothing changes for the window; the harness only reads /proc.
	c0, err := cpuTime(d.pid())
	if errors.Is(err, errNotLinux) {
		srow.na = "n/a (" + err.Error() + ")"
		return nil
	} else if err != nil {
		return err
	}
	start := time.Now()
	if err := sleepCtx(ctx, idle); err != nil {
		return err
	}
	c1, err := cpuTime(d.pid())
	if err != nil {
		return err
	}
	srow.idle, srow.idleCPU = time.Since(start), c1-c0
	if srow.mem, err = memoryOf(d.pid()); err != nil {
		return err
	}
	return nil
}
