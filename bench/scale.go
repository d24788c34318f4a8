package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/airnest/airnest"
)

// runScale loads airnest with each size in turn and times the lookups (which
// must stay flat) and a full scan (which must grow linearly), then checks
// that streaming with All keeps peak RSS flat while Scan's grows.
func runScale(ctx context.Context, cfg config, dir string) error {
	o := cfg.out
	pool := makePool(4096)
	fmt.Fprintf(o, "## Scale (airnest, synchronous=NORMAL)\n\n")
	fmt.Fprintln(o, "| rows | load by id | query (50 rows) | full scan (All) | scan per row | peak RSS rise, All | peak RSS rise, Scan |")
	fmt.Fprintln(o, "|--:|--:|--:|--:|--:|--:|--:|")
	for _, n := range cfg.sizes {
		if err := scaleOne(ctx, cfg, filepath.Join(dir, fmt.Sprintf("scale-%d.db", n)), n, pool); err != nil {
			return fmt.Errorf("scale %d: %w", n, err)
		}
	}
	fmt.Fprintln(o)
	return nil
}

func scaleOne(ctx context.Context, cfg config, path string, n int, pool []Job) error {
	a, err := openAirnest(ctx, path, airnest.SyncNormal, pool)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.Preload(n, txSize); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(3, uint64(n)))
	load, _ := a.Loader(0)
	ls, err := timed(cfg.scaleD, func() (int, error) { return 1, load(r.IntN(1 << 30)) })
	if err != nil {
		return err
	}
	query := "pending"
	qs, err := timed(cfg.scaleD, func() (int, error) {
		_, err := a.Query(statuses[r.IntN(len(statuses))])
		return 1, err
	})
	if err != nil {
		query = err.Error()
		if err == errPending {
			query = "pending"
		}
	} else {
		query = fmt.Sprintf("%.1f µs", 1e6/qs.rate())
	}

	// Streaming: the peak RSS over the scan, above what the process held
	// before it. The ids kept for the lookups go first: a live heap that
	// grows with n would let the garbage collector's target grow with it.
	a.ids = nil
	rssAll, scanTime, err := peakRise(func() error {
		got, err := a.Stream()
		if err == nil && got != n {
			err = fmt.Errorf("the All iterator yielded %d values, want %d", got, n)
		}
		return err
	})
	if err != nil {
		return err
	}
	rssScan, _, err := peakRise(func() error {
		_, err := a.Scan()
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(cfg.out, "| %s | %.1f µs | %s | %s | %.0f ns | %s | %s |\n",
		num(float64(n)), 1e6/ls.rate(), query, scanTime.Round(time.Millisecond),
		float64(scanTime.Nanoseconds())/float64(n), rss(rssAll), rss(rssScan))
	return nil
}

// peakRise runs fn and returns how far the peak RSS rose above the RSS
// before it (-1 where Linux cannot reset the peak), and fn's duration.
func peakRise(fn func() error) (int64, time.Duration, error) {
	runtime.GC()
	debug.FreeOSMemory()
	canReset := resetPeakRSS()
	before := procStatus("VmRSS")
	start := time.Now()
	err := fn()
	d := time.Since(start)
	if !canReset {
		return -1, d, err
	}
	return procStatus("VmHWM") - before, d, err
}

func rss(b int64) string {
	if b < 0 {
		return "n/a"
	}
	return mib(b)
}
