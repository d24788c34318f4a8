package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airnest/airnest"
	"github.com/airnest/airnest/codec"
	"github.com/ncruces/go-sqlite3"
)

// TestShort runs the whole program in its tiny size, so it cannot rot.
func TestShort(t *testing.T) {
	var out bytes.Buffer
	cfg := config{impls: "both", syncs: []string{"NORMAL", "FULL"}, workers: 8, out: &out, dir: t.TempDir()}.tinyConfig()
	if _, err := run(context.Background(), cfg); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"## Scale", "## synchronous=NORMAL", "## synchronous=FULL", "bytes on disk per row", "single save",
		"Rates are medians over the rounds", "| workload | rows |", "| load by id | 2,000 |", "the same for JobLite"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// The per-operation benchmarks below are for profiling one implementation:
//
//	go test ./bench -run '^$' -bench 'Load/airnest' -cpuprofile cpu.out

const benchRows = 5000

func openBoth(b testing.TB, mode string) []impl {
	b.Helper()
	ctx := context.Background()
	sm, err := syncOf(mode)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	pool := makePool(1024)
	a, err := openAirnest(ctx, filepath.Join(dir, "a.db"), sm, pool)
	if err != nil {
		b.Fatal(err)
	}
	base, err := openBaseline(filepath.Join(dir, "b.db"), mode, pool)
	if err != nil {
		a.Close()
		b.Fatal(err)
	}
	ims := []impl{a, base}
	for _, im := range ims {
		b.Cleanup(func() { im.Close() })
		if err := im.Preload(benchRows, txSize); err != nil {
			b.Fatal(err)
		}
	}
	return ims
}

func benchEach(b *testing.B, mode string, op func(im impl, r *rand.Rand) error) {
	for _, im := range openBoth(b, mode) {
		b.Run(im.Name(), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 1))
			b.ReportAllocs()
			for b.Loop() {
				if err := op(im, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSave(b *testing.B) {
	benchEach(b, "NORMAL", func(im impl, r *rand.Rand) error { return im.SaveNew(r.IntN(1 << 20)) })
}

func BenchmarkSaveBatch(b *testing.B) {
	benchEach(b, "NORMAL", func(im impl, r *rand.Rand) error { return im.SaveBatch(r.IntN(1<<20), 100) })
}

func BenchmarkLoad(b *testing.B) {
	benchEach(b, "NORMAL", func(im impl, r *rand.Rand) error {
		load, err := im.Loader(0)
		if err != nil {
			return err
		}
		return load(r.IntN(1 << 20))
	})
}

func BenchmarkQuery(b *testing.B) {
	benchEach(b, "NORMAL", func(im impl, r *rand.Rand) error {
		_, err := im.Query(statuses[r.IntN(len(statuses))])
		if err == errPending {
			b.Skip(err)
		}
		return err
	})
}

func BenchmarkScan(b *testing.B) {
	benchEach(b, "NORMAL", func(im impl, r *rand.Rand) error { _, err := im.Scan(); return err })
}

func BenchmarkAll(b *testing.B) {
	benchEach(b, "NORMAL", func(im impl, r *rand.Rand) error { _, err := im.Stream(); return err })
}

func BenchmarkUpdate(b *testing.B) {
	benchEach(b, "NORMAL", func(im impl, r *rand.Rand) error { return im.Update(r.IntN(1 << 20)) })
}

// BenchmarkConcurrentSave is 8 goroutines saving at once, under FULL.
func BenchmarkConcurrentSave(b *testing.B) {
	for _, im := range openBoth(b, "FULL") {
		b.Run(im.Name(), func(b *testing.B) {
			b.SetParallelism(4) // 8 goroutines on 2 CPUs; more on more
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				r := rand.New(rand.NewPCG(rand.Uint64(), 0))
				for pb.Next() {
					if err := im.SaveNew(r.IntN(1 << 20)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkCodec compares airnest's codec with fxamacker on the static
// struct, on the benchmark record.
func BenchmarkCodec(b *testing.B) {
	pool := makePool(1)
	v := pool[0]
	v.ID = airnest.NewID[Job]()
	cd, _, err := codec.New[Job]("Job", codec.NewRegistry(nil))
	if err != nil {
		b.Fatal(err)
	}
	bv := toBase(&v, v.ID.UUID())
	data, err := cd.Append(nil, &v)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode/airnest", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			if _, err := cd.Append(buf[:0], &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode/baseline", func(b *testing.B) {
		b.ReportAllocs()
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			if err := baseEnc.MarshalToBuffer(&bv, &buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode/airnest", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out Job
			if err := cd.Decode(data, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode/baseline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out baseJob
			if err := baseDec.Unmarshal(data, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// The README says the baseline runs with airnest's PRAGMAs: compare them
// with airnest's DB handle, set up like airnest's writer.
func TestBaselineHasAirnestsPragmas(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, mode := range []string{"NORMAL", "FULL"} {
		sm, err := syncOf(mode)
		if err != nil {
			t.Fatal(err)
		}
		a, err := openAirnest(ctx, filepath.Join(dir, "a-"+mode+".db"), sm, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := openBaseline(filepath.Join(dir, "b-"+mode+".db"), mode, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		r, err := b.reader(0)
		if err != nil {
			t.Fatal(err)
		}
		db, err := a.db()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"journal_mode", "wal_autocheckpoint", "journal_size_limit", "synchronous",
			"foreign_keys", "trusted_schema", "busy_timeout", "hard_heap_limit", "query_only", "cache_size"} {
			var want string
			if err := db.QueryRowContext(ctx, "PRAGMA "+p).Scan(&want); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				who  string
				conn *sqlite3.Conn
			}{{"baseline writer", b.w}, {"baseline reader", r.c}} {
				got := pragmaText(t, c.conn, p)
				w := want
				if c.who == "baseline reader" {
					// airnest's readers never commit: it sets the WAL
					// PRAGMAs on its writer only, and query_only on readers.
					w = map[string]string{"query_only": "1", "wal_autocheckpoint": "1000", "journal_size_limit": "-1"}[p]
					if w == "" {
						w = want
					}
				}
				if got != w {
					t.Errorf("%s, %s: PRAGMA %s = %s, airnest has %s", mode, c.who, p, got, w)
				}
			}
		}
	}
}

func pragmaText(t *testing.T, c *sqlite3.Conn, p string) string {
	t.Helper()
	st, _, err := c.Prepare("PRAGMA " + p)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if !st.Step() {
		t.Fatalf("PRAGMA %s: %v", p, st.Err())
	}
	return st.ColumnText(0)
}
