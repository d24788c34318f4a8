package airnest_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airnest/airnest"
)

// reportLatency reports the median and 99th percentile of ds.
func reportLatency(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds()), "median-µs")
	b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkWatchLatency measures commit to delivery: from Save's return
// to the watch's loop body, one write at a time, with the watcher in this
// process (woken by the commit) or in another (SQLite: polling; PostgreSQL:
// LISTEN/NOTIFY).
//
//	go test -run '^$' -bench WatchLatency -benchtime 200x
func BenchmarkWatchLatency(b *testing.B) {
	for _, be := range backends {
		b.Run("in-process/"+be.name, func(b *testing.B) {
			_, memos := watchStore(b, be.dsn(b), airnest.Retention{})
			ctx, cancel := context.WithCancel(bg)
			defer cancel()
			arrived := make(chan time.Time, 1)
			watchFromNow(b, ctx, memos, func(ch airnest.Change[Memo]) {
				if ch.Value.Topic == "timed" {
					arrived <- time.Now()
				}
			})
			ds := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				m := Memo{Topic: "timed", Rank: i}
				must(b, memos.Save(bg, &m))
				saved := time.Now()
				ds = append(ds, (<-arrived).Sub(saved))
			}
			reportLatency(b, ds)
		})
		b.Run("other-process/"+be.name, func(b *testing.B) {
			dsn := be.dsn(b)
			_, memos := watchStore(b, dsn, airnest.Retention{})
			w := startWatcher(b, dsn, 0)
			defer w.kill()
			ds := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				// Writes at random moments, not in step with the watcher's
				// polls (a write right after its reply would wait a full poll).
				time.Sleep(time.Duration(rand.Int64N(int64(50 * time.Millisecond))))
				m := Memo{Topic: "timed", Rank: i}
				must(b, memos.Save(bg, &m))
				saved := time.Now()
				line := <-w.lines
				f := strings.Fields(line)
				ns, err := strconv.ParseInt(f[len(f)-1], 10, 64)
				if err != nil || f[3] != "timed" {
					b.Fatalf("watcher line %q", line)
				}
				ds = append(ds, time.Unix(0, ns).Sub(saved))
			}
			reportLatency(b, ds)
		})
	}
}

// BenchmarkWatchIdleCPU measures the CPU time this process spends over
// 10 s while one watch waits for changes that never come (SQLite polls the
// log every 50 ms by default; PostgreSQL waits on its LISTEN connection),
// against 10 s without a watch.
//
//	go test -run '^$' -bench WatchIdleCPU -benchtime 1x
func BenchmarkWatchIdleCPU(b *testing.B) {
	const idle = 10 * time.Second
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			_, memos := watchStore(b, be.dsn(b), airnest.Retention{})
			c0 := cpu()
			time.Sleep(idle)
			base := cpu() - c0

			ctx, cancel := context.WithCancel(bg)
			defer cancel()
			watchFromNow(b, ctx, memos, nil)
			c1 := cpu()
			time.Sleep(idle)
			watching := cpu() - c1
			b.ReportMetric(float64(base.Microseconds())/idle.Seconds()/1e4, "idle-%cpu")
			b.ReportMetric(float64(watching.Microseconds())/idle.Seconds()/1e4, "watching-%cpu")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkWatchWriteCost is the cost of a Save to a collection with a
// change log against one without, one writer at a time, in one process.
//
//	go test -run '^$' -bench WatchWriteCost -benchtime 2000x
func BenchmarkWatchWriteCost(b *testing.B) {
	for _, be := range backends {
		for _, logged := range []bool{false, true} {
			name := be.name + "/unlogged"
			opts := []airnest.Option{airnest.Index("topic", "rank", "score")}
			if logged {
				name = be.name + "/logged"
				opts = append(opts, airnest.ChangeLog(airnest.Retention{}))
			}
			b.Run(name, func(b *testing.B) {
				s := airnest.NewStore()
				memos := airnest.Collection[Memo](s, opts...)
				must(b, s.Open(bg, be.dsn(b), nil))
				defer s.Close()
				m := Memo{Topic: "cost", Body: strings.Repeat("x", 200)}
				b.ResetTimer()
				for i := range b.N {
					m.ID, m.Rank = airnest.ID[Memo]{}, i
					must(b, memos.Save(bg, &m))
				}
			})
		}
	}
}
