package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/airnest/airnest/internal/pgtest"
)

// airnest copy: a file to PostgreSQL and back reads as the original; a
// full destination is refused (status 1) unless --overwrite; bad command
// lines are usage errors (status 2).
func TestCopyCommand(t *testing.T) {
	bin := airnestBin(t)
	dir := t.TempDir()
	db, back := filepath.Join(dir, "app.db"), filepath.Join(dir, "back.db")
	seed(t, db, 300)
	pg := pgtest.Database(t)

	r := want(t, bin, 0, []string{"copied Job: 300 values\n", "copied User: 2 values\n", "verified postgres://", ": ok: 2 collections, 302 values, no problems\n"}, "copy", db, pg)
	if strings.Count(r.stdout, "\n") != 3 || r.stderr != "" {
		t.Fatalf("copy printed:\n%s\nand on stderr:\n%s", r.stdout, r.stderr)
	}
	want(t, bin, 0, []string{"copied Job: 300 values\n", "verified " + back + ": ok"}, "copy", pg, back)
	ls := want(t, bin, 0, nil, "ls", db)
	if got := want(t, bin, 0, nil, "ls", back); got.stdout != ls.stdout {
		t.Fatalf("ls of the copy:\n%s\nof the original:\n%s", got.stdout, ls.stdout)
	}
	want(t, bin, 0, []string{"ok"}, "verify", back)

	want(t, bin, 1, []string{"already holds an airnest store (collections Job, User)", "--overwrite"}, "copy", db, back)
	want(t, bin, 1, []string{"already holds an airnest store"}, "copy", back, pg)
	want(t, bin, 0, []string{"copied Job: 300 values\n"}, "copy", "--overwrite", back, pg)
	want(t, bin, 1, []string{"not an airnest store"}, "copy", pgtest.Database(t), filepath.Join(dir, "none.db"))

	want(t, bin, 0, []string{"Usage:", "airnest copy SRC DST", "--overwrite"}, "copy", "--help")
	want(t, bin, 2, []string{"usage: airnest copy SRC DST (got 1 arguments)"}, "copy", db)
	want(t, bin, 2, []string{"unknown flag"}, "copy", "--nope", db, back)
}

// BenchmarkCopy measures what 'airnest copy' of a file to a file and to
// PostgreSQL costs in memory at two sizes, ten times apart: a copy that
// streams shows about the same peak heap at both.
//
//	go test -run '^$' -bench BenchmarkCopy -benchtime 1x ./cmd/airnest
func BenchmarkCopy(b *testing.B) {
	big := *dumpRows
	if testing.Short() {
		big = 2000
	}
	dests := []struct {
		name string
		dsn  func(b *testing.B, dir string, i int) string
	}{
		{"file", func(_ *testing.B, dir string, i int) string { return filepath.Join(dir, fmt.Sprint("copy", i, ".db")) }},
		{"postgres", func(b *testing.B, _ string, _ int) string { return pgtest.Database(b) }},
	}
	for _, n := range []int{big / 10, big} {
		dir := b.TempDir()
		db := filepath.Join(dir, "app.db")
		seed(b, db, n)
		for _, dest := range dests {
			b.Run(fmt.Sprintf("to=%s/rows=%d", dest.name, n), func(b *testing.B) {
				ctx := context.Background()
				var peak, alloc uint64
				i := 0
				for b.Loop() {
					b.StopTimer()
					i++
					dst := dest.dsn(b, dir, i)
					var before runtime.MemStats
					runtime.GC()
					runtime.ReadMemStats(&before)
					b.StartTimer()
					stop := sampleHeap()
					a := &app{stdout: io.Discard, stderr: io.Discard}
					if code := a.run(ctx, []string{"copy", db, dst}); code != exitOK {
						b.Fatalf("copy: exit %d", code)
					}
					peak = max(peak, stop())
					var after runtime.MemStats
					runtime.ReadMemStats(&after)
					alloc = after.TotalAlloc - before.TotalAlloc
				}
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
				b.ReportMetric(float64(alloc)/float64(n+2), "alloc-B/row")
			})
		}
	}
}
