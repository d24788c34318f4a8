package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"syscall"
	"testing"
	"time"
)

var dumpRows = flag.Int("dump.rows", 20000, "rows in the larger BenchmarkDump size (the smaller has a tenth; -short: 2000)")

// BenchmarkDump measures what 'airnest dump' costs in memory at two
// sizes, ten times apart: a dump that streams shows about the same peaks
// at both. Reported per size:
//
//	peak-heap-MiB  the Go heap's peak during an in-process dump
//	alloc-B/row    bytes allocated per row (garbage; it is not kept)
//	peak-RSS-MiB   the peak resident memory of the real binary dumping the
//	               file to a pipe, SQLite's memory included
//
// go test -run '^$' -bench BenchmarkDump -benchtime 1x -dump.rows 1000000 ./cmd/airnest
func BenchmarkDump(b *testing.B) {
	big := *dumpRows
	if testing.Short() {
		big = 2000
	}
	binary := airnestBin(b)
	for _, n := range []int{big / 10, big} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			db := filepath.Join(b.TempDir(), "dump.db")
			seed(b, db, n)
			ctx := context.Background()
			var peak, alloc uint64
			b.ResetTimer()
			for b.Loop() {
				var before runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				stop := sampleHeap()
				a := &app{stdout: io.Discard, stderr: io.Discard}
				if code := a.run(ctx, []string{"dump", db, "Job"}); code != exitOK {
					b.Fatalf("dump: exit %d", code)
				}
				peak = max(peak, stop())
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				alloc = after.TotalAlloc - before.TotalAlloc
			}
			b.StopTimer()
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(alloc)/float64(n+2), "alloc-B/row")
			if rss, ok := dumpRSS(b, binary, db); ok {
				b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
			}
		})
	}
}

// sampleHeap samples the heap's size until stop is called, which returns
// the largest value seen.
func sampleHeap() (stop func() uint64) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	done, result := make(chan struct{}), make(chan uint64)
	go func() {
		var peak uint64
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-t.C:
			case <-done:
				result <- peak
				return
			}
		}
	}()
	return func() uint64 {
		close(done)
		return <-result
	}
}

// dumpRSS runs the real binary and returns its peak resident memory in
// bytes, where the system reports it.
func dumpRSS(b *testing.B, binary, db string) (int64, bool) {
	cmd := exec.Command(binary, "dump", db, "Job")
	cmd.Stdout = io.Discard
	if err := cmd.Run(); err != nil {
		b.Fatalf("airnest dump: %v", err)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, false
	}
	if runtime.GOOS == "darwin" {
		return int64(ru.Maxrss), true // bytes there
	}
	return int64(ru.Maxrss) * 1024, true // kilobytes on Linux and the BSDs
}
