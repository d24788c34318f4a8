package airnest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/airnest/airnest"
)

// RItem is a small value for the resource tests.
type RItem struct {
	ID    airnest.ID[RItem]
	Group int
	Name  string
	Body  []byte
}

func openRItems(t *testing.T, opts *airnest.Options) (*airnest.Store, *airnest.Coll[RItem], string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "r.db")
	s := airnest.NewStore()
	items := airnest.Collection[RItem](s, airnest.Index("group", "name"))
	if err := s.Open(bg, path, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, items, path
}

// bigConcat needs about n MiB of SQLite heap at once on the connection
// that runs it, whatever the file holds.
func bigConcat(n int) string {
	return fmt.Sprintf(`SELECT v FROM "RItem" WHERE length((
		WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d)
		SELECT group_concat(printf('%%.*c', 1048576, 'x'), '') FROM c)) < 0`, n)
}

// noPanic runs f and turns a panic into a test failure and an error.
func noPanic(t *testing.T, what string, f func() error) (err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s panicked: %v", what, r)
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}

// ConnMemoryLimit is applied to each connection: a query or a write that
// needs more heap than the limit fails with SQLite's out-of-memory error
// (it must not panic), and the same query passes under the default 256 MiB.
func TestConnMemoryLimitIsApplied(t *testing.T) {
	t.Parallel()
	const need = 32 // MiB
	small, smallItems, _ := openRItems(t, &airnest.Options{ConnMemoryLimit: 8 << 20, Readers: 1})
	if err := smallItems.Save(bg, &RItem{Name: "a"}); err != nil {
		t.Fatalf("Save under an 8 MiB limit: %v", err)
	}
	err := noPanic(t, "a 32 MiB query under an 8 MiB ConnMemoryLimit", func() error {
		_, err := smallItems.QueryRaw(bg, bigConcat(need))
		return err
	})
	if !errors.Is(err, sqlite3.NOMEM) {
		t.Errorf("a 32 MiB query under an 8 MiB ConnMemoryLimit: %v, want SQLite's out-of-memory error", err)
	}
	// The connection that hit the limit is still good.
	if n, err := smallItems.Count(bg); err != nil || n != 1 {
		t.Errorf("Count after out-of-memory: %d, %v", n, err)
	}
	if _, err := smallItems.QueryRaw(bg, bigConcat(1)); err != nil {
		t.Errorf("a small query after out-of-memory: %v", err)
	}
	// The writer has its own limit too.
	err = noPanic(t, "a 32 MiB query in a Tx under an 8 MiB ConnMemoryLimit", func() error {
		return small.Tx(bg, func(tx *airnest.Tx) error {
			_, err := smallItems.In(tx).QueryRaw(bg, bigConcat(need))
			return err
		})
	})
	if !errors.Is(err, sqlite3.NOMEM) {
		t.Errorf("a 32 MiB query on the writer under an 8 MiB ConnMemoryLimit: %v, want out-of-memory", err)
	}
	// A value too big for the limit is refused with an error.
	err = noPanic(t, "Save of a 12 MiB value under an 8 MiB ConnMemoryLimit", func() error {
		return smallItems.Save(bg, &RItem{Name: "big", Body: make([]byte, 12<<20)})
	})
	if !errors.Is(err, sqlite3.NOMEM) {
		t.Errorf("Save of a 12 MiB value under an 8 MiB ConnMemoryLimit: %v, want out-of-memory", err)
	}
	if n, err := smallItems.Count(bg); err != nil || n != 1 {
		t.Errorf("Count after the refused Save: %d, %v; want 1", n, err)
	}

	_, defItems, _ := openRItems(t, nil)
	if err := defItems.Save(bg, &RItem{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := defItems.QueryRaw(bg, bigConcat(need)); err != nil {
		t.Errorf("a 32 MiB query under the default limit: %v", err)
	}
}

// The WAL does not grow without bound while a reader keeps scanning:
// All reads page by page and holds no snapshot between pages, so the
// auto-checkpoint can finish and the WAL restarts from its beginning.
func TestWALStaysBoundedUnderConcurrentScans(t *testing.T) {
	t.Parallel()
	writes := 20000
	if testing.Short() || raceEnabled {
		writes = 4000
	}
	s, items, path := openRItems(t, nil)
	db, err := s.DB()
	if err != nil {
		t.Fatal(err)
	}
	var autockpt int
	if err := db.QueryRow("PRAGMA wal_autocheckpoint").Scan(&autockpt); err != nil || autockpt <= 0 {
		t.Fatalf("wal_autocheckpoint = %d, %v: auto-checkpoint is off", autockpt, err)
	}

	var maxWAL atomic.Int64
	sample := func() {
		if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > maxWAL.Load() {
			maxWAL.Store(fi.Size())
		}
	}
	ctx, stop := context.WithCancel(bg)
	var scans, scanned atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			n := 0
			for _, err := range items.All(bg) {
				if err != nil {
					t.Errorf("All: %v", err)
					return
				}
				n++
				if n%256 == 0 {
					sample()
				}
			}
			scans.Add(1)
			scanned.Add(int64(n))
			time.Sleep(10 * time.Millisecond) // a reader that scans often, not one that starves the writers of CPU
		}
	})
	const writers = 8
	var written atomic.Int64
	body := make([]byte, 200)
	var ww sync.WaitGroup
	for w := range writers {
		ww.Go(func() {
			for i := w; i < writes; i += writers {
				if err := items.Save(bg, &RItem{Group: i % 10, Name: fmt.Sprint(i), Body: body}); err != nil {
					t.Errorf("Save: %v", err)
					return
				}
				if written.Add(1)%100 == 0 {
					sample()
				}
			}
		})
	}
	ww.Wait()
	stop()
	wg.Wait()
	sample()

	if n, err := items.Count(bg); err != nil || n != writes {
		t.Fatalf("Count = %d, %v; want %d", n, err, writes)
	}
	st, err := s.Stats(bg)
	if err != nil {
		t.Fatal(err)
	}
	// Each commit appends at least the table's and both indexes' leaf pages
	// (12 KiB or more): without checkpoints the WAL would pass 200 MiB.
	const limit = 32 << 20
	t.Logf("WAL: %d writes, %d full scans (%d values read), largest WAL %.1f MiB, database %.1f MiB",
		writes, scans.Load(), scanned.Load(), float64(maxWAL.Load())/(1<<20), float64(st.FileBytes)/(1<<20))
	if maxWAL.Load() > limit {
		t.Errorf("the WAL reached %d bytes during %d writes with a scanning reader, want at most %d", maxWAL.Load(), writes, limit)
	}
	if scans.Load() < 2 {
		t.Errorf("the reader finished only %d scans: it did not run alongside the writes", scans.Load())
	}
}

// slowQuery runs for minutes unless interrupted.
const slowQuery = `SELECT v FROM "RItem" WHERE (
	WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000000)
	SELECT count(*) FROM c) < 0`

// A context cancelled in the middle of a query stops it, with the
// context's error, and the reader goes back to the pool in working order.
// How soon it stops is measured by BenchmarkCancelQuery.
func TestCancelStopsAQueryAndTheReaderIsReused(t *testing.T) {
	t.Parallel()
	_, items, _ := openRItems(t, &airnest.Options{Readers: 1}) // one reader: the next query gets the same one
	first := RItem{Name: "a"}
	if err := items.Save(bg, &first); err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		ctx, cancel := context.WithCancel(bg)
		done := make(chan error, 1)
		go func() {
			_, err := items.QueryRaw(ctx, slowQuery)
			done <- err
		}()
		waitReaderBusy(t, items, first.ID)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("round %d: cancelled query: %v, want context.Canceled", round, err)
		}
		got, err := items.QueryRaw(bg, `SELECT v FROM "RItem" WHERE "name" = ?`, "a")
		if err != nil || len(got) != 1 {
			t.Fatalf("round %d: query after the cancel: %d values, %v", round, len(got), err)
		}
		if _, err := items.Scan(bg); err != nil {
			t.Fatalf("round %d: Scan after the cancel: %v", round, err)
		}
	}

	// A big Scan, cancelled: the same.
	var many []RItem
	for i := range 3000 {
		many = append(many, RItem{Group: i, Name: fmt.Sprint(i), Body: make([]byte, 500)})
	}
	// Saving many values concurrently is quicker through group commit.
	var wg sync.WaitGroup
	for i := range many {
		wg.Go(func() {
			if err := items.Save(bg, &many[i]); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	ctx, cancel := context.WithCancel(bg)
	var n int
	for _, err := range items.All(ctx) {
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("All after cancel: %v, want context.Canceled", err)
			}
			break
		}
		if n++; n == 300 {
			cancel()
		}
	}
	cancel()
	if n >= len(many) {
		t.Errorf("All went on to the end (%d values) after its context was cancelled", n)
	}
	if c, err := items.Count(bg); err != nil || c != len(many)+1 {
		t.Errorf("Count after a cancelled All: %d, %v", c, err)
	}
}

// A Load that runs out of memory is an error, and the reader it ran on
// still loads other values afterwards (its cached statement must not keep
// the failed call's state).
func TestOutOfMemoryLeavesTheReaderUsable(t *testing.T) {
	t.Parallel()
	_, items, path := openRItems(t, nil)
	big := RItem{Name: "big", Body: make([]byte, 12<<20)}
	small := RItem{Name: "small"}
	if err := items.Save(bg, &big); err != nil {
		t.Fatal(err)
	}
	if err := items.Save(bg, &small); err != nil {
		t.Fatal(err)
	}
	s := airnest.NewStore()
	items = airnest.Collection[RItem](s, airnest.Index("group", "name"))
	if err := s.Open(bg, path, &airnest.Options{ConnMemoryLimit: 8 << 20, Readers: 1}); err != nil {
		t.Fatal(err)
	}
	defer noPanic(t, "Close after out-of-memory", s.Close)
	err := noPanic(t, "Load of a 12 MiB value under an 8 MiB ConnMemoryLimit", func() error {
		_, err := items.Load(bg, big.ID)
		return err
	})
	if !errors.Is(err, sqlite3.NOMEM) {
		t.Errorf("Load of a 12 MiB value under an 8 MiB ConnMemoryLimit: %v, want out-of-memory", err)
	}
	// The table is WITHOUT ROWID: a search by id that meets the 12 MiB row
	// reads all of it, so even a small value's Load needs the memory. An
	// index lookup that never touches the blobs must work on the reader.
	for range 2 {
		var ids []airnest.ID[RItem]
		err := noPanic(t, "query after out-of-memory", func() (err error) {
			ids, err = items.Where(airnest.Eq("name", "small")).IDs(bg)
			return err
		})
		if err != nil || len(ids) != 1 || ids[0] != small.ID {
			t.Errorf("index query after out-of-memory on the same reader slot: %v, %v", ids, err)
		}
	}
}

// A query stopped by its context returns an error that says so: the
// methods document "the context's error", so errors.Is(err,
// context.DeadlineExceeded) must hold, on a reader, in a Tx and in a View.
func TestCancelledQueryReturnsTheContextError(t *testing.T) {
	t.Parallel()
	s, items, _ := openRItems(t, &airnest.Options{Readers: 1})
	if err := items.Save(bg, &RItem{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	runs := map[string]func(ctx context.Context) error{
		"QueryRaw": func(ctx context.Context) error {
			_, err := items.QueryRaw(ctx, slowQuery)
			return err
		},
		"QueryRaw in a Tx": func(ctx context.Context) error {
			return s.Tx(ctx, func(tx *airnest.Tx) error {
				_, err := items.In(tx).QueryRaw(ctx, slowQuery)
				return err
			})
		},
		"QueryRaw in a View": func(ctx context.Context) error {
			return s.View(ctx, func(tx *airnest.Tx) error {
				_, err := items.In(tx).QueryRaw(ctx, slowQuery)
				return err
			})
		},
	}
	for name, run := range runs {
		ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
		err := run(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s stopped by its deadline: %v, want errors.Is(err, context.DeadlineExceeded)", name, err)
		}
	}
}

// waitReaderBusy returns once the store's only reader is in use by another
// goroutine: a Load with a done context then fails waiting for a reader
// (plain context.Canceled), where on an idle reader its statement would be
// interrupted (sqlite3.INTERRUPT).
func waitReaderBusy(t testing.TB, items *airnest.Coll[RItem], id airnest.ID[RItem]) {
	t.Helper()
	done, cancel := context.WithCancel(bg)
	cancel()
	for {
		_, err := items.Load(done, id)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Load with a cancelled context: %v", err)
		}
		if !errors.Is(err, sqlite3.INTERRUPT) {
			return
		}
		runtime.Gosched()
	}
}

// BenchmarkCancelQuery measures how long a running query takes to stop
// once its context is cancelled (ns/op is start, wait until running,
// cancel, return; cancel-to-return is reported separately).
func BenchmarkCancelQuery(b *testing.B) {
	s := airnest.NewStore()
	items := airnest.Collection[RItem](s, airnest.Index("group", "name"))
	if err := s.Open(bg, filepath.Join(b.TempDir(), "r.db"), &airnest.Options{Readers: 1}); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	first := RItem{Name: "a"}
	if err := items.Save(bg, &first); err != nil {
		b.Fatal(err)
	}
	var stopping time.Duration
	for b.Loop() {
		ctx, cancel := context.WithCancel(bg)
		done := make(chan error, 1)
		go func() {
			_, err := items.QueryRaw(ctx, slowQuery)
			done <- err
		}()
		waitReaderBusy(b, items, first.ID)
		at := time.Now()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			b.Fatal(err)
		}
		stopping += time.Since(at)
	}
	b.ReportMetric(float64(stopping.Microseconds())/float64(b.N), "µs-to-stop/op")
}

// Every method that touches the database returns the context's error,
// errors.Is(err, context.Canceled), when called with a cancelled context:
// through the store, and through a Tx or a View.
func TestEveryTerminalReturnsTheContextError(t *testing.T) {
	t.Parallel()
	s, items, _ := openRItems(t, nil)
	first := RItem{Name: "a"}
	if err := items.Save(bg, &first); err != nil {
		t.Fatal(err)
	}
	// A reader waits idle in the pool, so the calls below get it and their
	// statements are interrupted, rather than failing while opening one.
	if _, err := items.Load(bg, first.ID); err != nil {
		t.Fatal(err)
	}
	done, cancel := context.WithCancel(bg)
	cancel()
	terminals := func(items *airnest.Coll[RItem]) map[string]func() error {
		q := items.Where(airnest.Eq("name", "a")).OrderBy("group").Limit(5)
		return map[string]func() error{
			"Find":     func() error { _, err := q.Find(done); return err },
			"First":    func() error { _, err := q.First(done); return err },
			"Page":     func() error { _, _, err := q.Page(done); return err },
			"Count":    func() error { _, err := q.Count(done); return err },
			"Exists":   func() error { _, err := q.Exists(done); return err },
			"IDs":      func() error { _, err := q.IDs(done); return err },
			"Explain":  func() error { _, err := q.Explain(done); return err },
			"QueryRaw": func() error { _, err := items.QueryRaw(done, `SELECT v FROM "RItem"`); return err },
			"Scan":     func() error { _, err := items.Scan(done); return err },
			"Load":     func() error { _, err := items.Load(done, first.ID); return err },
			"Coll.Exists": func() error {
				_, err := items.Exists(done, first.ID)
				return err
			},
			"Coll.Count": func() error { _, err := items.Count(done); return err },
			"Query.All": func() error {
				for _, err := range q.All(done) {
					return err
				}
				return errors.New("no error yielded")
			},
			"Coll.All": func() error {
				for _, err := range items.All(done) {
					return err
				}
				return errors.New("no error yielded")
			},
		}
	}
	writes := func(items *airnest.Coll[RItem]) map[string]func() error {
		return map[string]func() error{
			"Query.Delete": func() error { _, err := items.Where().Delete(done); return err },
			"Delete":       func() error { return items.Delete(done, first.ID) },
			"Save":         func() error { return items.Save(done, &RItem{Name: "b"}) },
			"Update": func() error {
				_, err := items.Update(done, first.ID, func(*RItem) error { return nil })
				return err
			},
		}
	}
	check := func(where string, calls map[string]func() error) {
		for name, call := range calls {
			if err := call(); !errors.Is(err, context.Canceled) {
				t.Errorf("%s %s with a cancelled context: %v, want errors.Is(err, context.Canceled)", where, name, err)
			}
		}
	}
	check("store", terminals(items))
	check("store", writes(items))
	check("store", map[string]func() error{
		"Stats":  func() error { _, err := s.Stats(done); return err },
		"Verify": func() error { _, err := s.Verify(done); return err },
		"Backup": func() error { return s.Backup(done, filepath.Join(t.TempDir(), "b.db"), nil) },
		"Vacuum": func() error { return s.Vacuum(done) },
		"Tx":     func() error { return s.Tx(done, func(*airnest.Tx) error { return nil }) },
		"View":   func() error { return s.View(done, func(*airnest.Tx) error { return nil }) },
		"Migrate": func() error {
			_, err := airnest.Migrate(done, items, func(o RItem) (RItem, error) { return o, nil }, nil)
			return err
		},
	})
	err := s.Tx(bg, func(tx *airnest.Tx) error {
		check("in a Tx", terminals(items.In(tx)))
		check("in a Tx", writes(items.In(tx)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.View(bg, func(tx *airnest.Tx) error {
		check("in a View", terminals(items.In(tx)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := items.Count(bg); err != nil || n != 1 {
		t.Fatalf("after the cancelled calls: %d values, %v; want the one saved first", n, err)
	}
}
