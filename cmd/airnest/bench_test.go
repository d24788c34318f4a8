package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
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
//	peak-RSS-MiB   the peak resident memory of a process that does nothing
//	               but the dump, SQLite's memory and the program's code
//	               included (Linux only)
//
// go test -run '^$' -bench BenchmarkDump -benchtime 1x -dump.rows 1000000 ./cmd/airnest
func BenchmarkDump(b *testing.B) {
	big := *dumpRows
	if testing.Short() {
		big = 2000
	}
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
			if rss, ok := dumpRSS(b, db); ok {
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

// dumpRSS dumps db in a child process and returns the child's peak
// resident memory in bytes, where the system reports it (Linux). The child
// reads it itself: the rusage of a child counts its parent's memory at the
// exec, which would report this benchmark's own size after seeding.
func dumpRSS(b *testing.B, db string) (int64, bool) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), dumpEnv+"="+db)
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("dump child: %v", err)
	}
	var kb int64
	if _, err := fmt.Sscanf(string(out), "VmHWM: %d kB", &kb); err != nil {
		return 0, false
	}
	return kb << 10, true
}

// dumpChild dumps db to nowhere and prints its own peak resident memory
// (VmHWM) on standard output.
func dumpChild(db string) error {
	a := &app{stdout: io.Discard, stderr: os.Stderr}
	if code := a.run(context.Background(), []string{"dump", db, "Job"}); code != exitOK {
		return fmt.Errorf("dump: exit %d", code)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil // not Linux: no figure
	}
	for l := range strings.Lines(string(status)) {
		if strings.HasPrefix(l, "VmHWM:") {
			fmt.Print(strings.Join(strings.Fields(l), " "))
		}
	}
	return nil
}
