package airnest_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airnest/airnest"
)

type Step struct {
	Name string
	Done bool
}

type Job struct {
	ID        airnest.ID[Job]
	Status    string
	Priority  int
	CreatedAt time.Time
	Owner     *string
	Payload   []byte
	Steps     []Step
}

type Session struct {
	ID       airnest.ID[Session]
	User     string
	Messages []string
}

var bg = context.Background()

// testStore declares Job and Session collections on a fresh SQLite store in
// a temporary directory, closed when the test ends; for tests of SQLite's
// own mechanics. Behavioural tests use eachBackend and testStoreAt.
func testStore(t testing.TB, opts ...airnest.Option) (*airnest.Store, *airnest.Coll[Job], *airnest.Coll[Session], string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	s, jobs, sessions := testStoreAt(t, path, opts...)
	return s, jobs, sessions, path
}

// testStoreAt declares Job and Session collections on the store at dsn and
// opens it, closed when the test ends.
func testStoreAt(t testing.TB, dsn string, opts ...airnest.Option) (*airnest.Store, *airnest.Coll[Job], *airnest.Coll[Session]) {
	t.Helper()
	s := airnest.NewStore()
	if len(opts) == 0 {
		opts = []airnest.Option{airnest.Index("status", "priority", "created_at", "owner")}
	}
	jobs := airnest.Collection[Job](s, opts...)
	sessions := airnest.Collection[Session](s, airnest.Unique("user"))
	if err := s.Open(bg, dsn, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, jobs, sessions
}

func ptr[T any](v T) *T { return &v }

func TestSaveLoadRoundTrip(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		_, jobs, _ := testStoreAt(t, dsn)
		created := time.Date(2026, 11, 25, 17, 37, 8, 123456789, time.FixedZone("X", 3600+1800))
		j := Job{Status: "pending", Priority: 3, CreatedAt: created, Owner: ptr("ann"), Payload: []byte{0, 1, 2}, Steps: []Step{{"a", true}, {"b", false}}}
		if err := jobs.Save(bg, &j); err != nil {
			t.Fatal(err)
		}
		if j.ID.IsZero() {
			t.Fatal("Save did not assign an ID")
		}
		if d := time.Since(j.ID.Time()); d < 0 || d > time.Minute {
			t.Fatalf("ID time %v is not now", j.ID.Time())
		}
		got, err := jobs.Load(bg, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != j.ID || got.Status != "pending" || got.Priority != 3 || *got.Owner != "ann" ||
			!slices.Equal(got.Payload, j.Payload) || !slices.Equal(got.Steps, j.Steps) {
			t.Fatalf("loaded %+v, saved %+v", got, j)
		}
		if !got.CreatedAt.Equal(created) || got.CreatedAt.Nanosecond() != 123456789 {
			t.Fatalf("time %v, want %v", got.CreatedAt, created)
		}
		if _, off := got.CreatedAt.Zone(); off != 5400 {
			t.Fatalf("zone offset %d, want 5400", off)
		}
		// Upsert: saving again with the same ID replaces.
		j.Status = "done"
		if err := jobs.Save(bg, &j); err != nil {
			t.Fatal(err)
		}
		if n, _ := jobs.Count(bg); n != 1 {
			t.Fatalf("count %d after upsert, want 1", n)
		}
		got, _ = jobs.Load(bg, j.ID)
		if got.Status != "done" {
			t.Fatalf("status %q after upsert", got.Status)
		}
	})
}

// anyText says whether a backend's text holds any bytes (SQLite) or only
// UTF-8 without NUL (PostgreSQL, where other text, saved or queried, is
// ErrInvalid: such values belong in a []byte field).
var anyText = map[string]bool{"sqlite": true, "postgres": false}

func TestTextTheDatabaseCannotHold(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		_, jobs, _ := testStoreAt(t, dsn)
		for _, v := range []string{"a\x00b", "\xff\xfe"} {
			j := Job{Status: v}
			err := jobs.Save(bg, &j)
			_, qerr := jobs.Where(airnest.Eq("status", v)).Count(bg)
			if anyText[backendOf(dsn)] {
				if err != nil || qerr != nil {
					t.Fatalf("text %q: Save: %v, query: %v", v, err, qerr)
				}
				if got, err := jobs.Load(bg, j.ID); err != nil || got.Status != v {
					t.Fatalf("text %q loaded as %q, %v", v, got.Status, err)
				}
				continue
			}
			if !errors.Is(err, airnest.ErrInvalid) || !strings.Contains(fmt.Sprint(err), "Job") || !strings.Contains(fmt.Sprint(err), "field Status") {
				t.Errorf("Save of text %q: %v, want ErrInvalid naming the collection and the field", v, err)
			}
			if !errors.Is(qerr, airnest.ErrInvalid) {
				t.Errorf("query for text %q: %v, want ErrInvalid", v, qerr)
			}
		}
	})
}

func TestNotFoundExistsDelete(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		_, jobs, _ := testStoreAt(t, dsn)
		id := airnest.NewID[Job]()
		if _, err := jobs.Load(bg, id); !errors.Is(err, airnest.ErrNotFound) {
			t.Fatalf("Load of absent id: %v, want ErrNotFound", err)
		}
		if ok, err := jobs.Exists(bg, id); ok || err != nil {
			t.Fatalf("Exists of absent id: %v %v", ok, err)
		}
		if err := jobs.Delete(bg, id); err != nil {
			t.Fatalf("Delete of absent id: %v", err)
		}
		j := Job{Status: "x"}
		jobs.Save(bg, &j)
		if ok, _ := jobs.Exists(bg, j.ID); !ok {
			t.Fatal("Exists after Save is false")
		}
		if err := jobs.Delete(bg, j.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := jobs.Load(bg, j.ID); !errors.Is(err, airnest.ErrNotFound) {
			t.Fatalf("Load after Delete: %v", err)
		}
	})
}

func TestScanAndAllInIDOrder(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		_, jobs, _ := testStoreAt(t, dsn)
		var ids []airnest.ID[Job]
		for i := range 600 {
			j := Job{Priority: i}
			if err := jobs.Save(bg, &j); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, j.ID)
		}
		all, err := jobs.Scan(bg)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 600 {
			t.Fatalf("Scan returned %d values", len(all))
		}
		for i, j := range all {
			if j.ID != ids[i] || j.Priority != i {
				t.Fatalf("Scan[%d] = %v/%d, want %v/%d", i, j.ID, j.Priority, ids[i], i)
			}
		}
		i := 0
		for j, err := range jobs.All(bg) {
			if err != nil {
				t.Fatal(err)
			}
			if j.ID != ids[i] {
				t.Fatalf("All[%d] out of order", i)
			}
			i++
		}
		if i != 600 {
			t.Fatalf("All yielded %d values", i)
		}
		// Breaking early releases the reader: many early breaks must not exhaust the pool.
		for range 50 {
			for range jobs.All(bg) {
				break
			}
		}
		if n, err := jobs.Count(bg); err != nil || n != 600 {
			t.Fatalf("Count = %d, %v", n, err)
		}
	})
}

func TestRestartKeepsEverything(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		open := func() (*airnest.Store, *airnest.Coll[Job]) {
			s := airnest.NewStore()
			jobs := airnest.Collection[Job](s, airnest.Index("status"))
			if err := s.Open(bg, dsn, nil); err != nil {
				t.Fatal(err)
			}
			return s, jobs
		}
		s, jobs := open()
		want := map[airnest.ID[Job]]int{}
		for i := range 100 {
			j := Job{Priority: i, Status: fmt.Sprint("s", i%3)}
			if err := jobs.Save(bg, &j); err != nil {
				t.Fatal(err)
			}
			want[j.ID] = i
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, jobs = open()
		defer s.Close()
		all, err := jobs.Scan(bg)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != len(want) {
			t.Fatalf("%d values after restart, want %d", len(all), len(want))
		}
		for _, j := range all {
			if want[j.ID] != j.Priority {
				t.Fatalf("value %v changed across restart", j.ID)
			}
		}
	})
}

func TestConcurrentUpdatesLoseNothing(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		_, jobs, _ := testStoreAt(t, dsn)
		j := Job{Status: "counter"}
		if err := jobs.Save(bg, &j); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 16*200)
		for range 16 {
			wg.Go(func() {
				for range 200 {
					_, err := jobs.Update(bg, j.ID, func(j *Job) error { j.Priority++; return nil })
					if err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		got, err := jobs.Load(bg, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Priority != 3200 {
			t.Fatalf("counter = %d after 16x200 updates, want 3200", got.Priority)
		}
	})
}

func TestUpdateErrorsWriteNothing(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		_, jobs, _ := testStoreAt(t, dsn)
		j := Job{Status: "a"}
		jobs.Save(bg, &j)
		boom := errors.New("boom")
		_, err := jobs.Update(bg, j.ID, func(j *Job) error { j.Status = "b"; return boom })
		if !errors.Is(err, boom) {
			t.Fatalf("Update returned %v, want fn's error", err)
		}
		if got, _ := jobs.Load(bg, j.ID); got.Status != "a" {
			t.Fatalf("status %q after failed update", got.Status)
		}
		if _, err := jobs.Update(bg, airnest.NewID[Job](), func(*Job) error { return nil }); !errors.Is(err, airnest.ErrNotFound) {
			t.Fatalf("Update of absent id: %v", err)
		}
		_, err = jobs.Update(bg, j.ID, func(j *Job) error { j.ID = airnest.NewID[Job](); return nil })
		if !errors.Is(err, airnest.ErrInvalid) {
			t.Fatalf("Update changing the ID: %v", err)
		}
		func() {
			defer func() {
				if r := recover(); r != "update panic" {
					t.Fatalf("recovered %v, want the fn's panic", r)
				}
			}()
			jobs.Update(bg, j.ID, func(j *Job) error { panic("update panic") })
		}()
		got, err := jobs.Update(bg, j.ID, func(j *Job) error { j.Status = "c"; return nil })
		if err != nil || got.Status != "c" {
			t.Fatalf("Update after a panic: %v %v", got.Status, err)
		}
	})
}

// mustScan returns every value of c or fails the test.
func mustScan[T any](t testing.TB, c *airnest.Coll[T]) []T {
	t.Helper()
	vs, err := c.Scan(bg)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func TestGroupCommitIsolatesFailures(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		_, _, sessions := testStoreAt(t, dsn)
		taken := Session{User: "taken"}
		sessions.Save(bg, &taken)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var ok, conflicts int
		for i := range 64 {
			wg.Go(func() {
				user := fmt.Sprint("u", i)
				if i%8 == 0 {
					user = "taken"
				}
				s := Session{User: user}
				err := sessions.Save(bg, &s)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, airnest.ErrConflict):
					conflicts++
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if ok != 56 || conflicts != 8 {
			t.Fatalf("%d saved, %d conflicts; want 56 and 8", ok, conflicts)
		}
		if n, _ := sessions.Count(bg); n != 57 {
			t.Fatalf("count %d, want 57", n)
		}
	})
}

func TestClosedStore(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s := airnest.NewStore()
		jobs := airnest.Collection[Job](s)
		j := Job{}
		if err := jobs.Save(bg, &j); !errors.Is(err, airnest.ErrClosed) {
			t.Fatalf("Save before Open: %v, want ErrClosed", err)
		}
		if err := s.Open(bg, dsn, nil); err != nil {
			t.Fatal(err)
		}
		if err := jobs.Save(bg, &j); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := jobs.Load(bg, j.ID); !errors.Is(err, airnest.ErrClosed) {
			t.Fatalf("Load after Close: %v", err)
		}
		if err := s.Tx(bg, func(*airnest.Tx) error { return nil }); !errors.Is(err, airnest.ErrClosed) {
			t.Fatalf("Tx after Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

func TestCloseWaitsForInFlightWork(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		// A Tx (holding the writer) and a View (holding a reader) in flight.
		for _, kind := range []string{"Tx", "View"} {
			s, jobs, _ := testStoreAt(t, dsn)
			started := make(chan struct{})
			release := make(chan struct{})
			finished := make(chan error, 1)
			work := func(tx *airnest.Tx) error {
				close(started)
				<-release
				if kind == "View" {
					_, err := jobs.In(tx).Scan(bg)
					return err
				}
				return jobs.In(tx).Save(bg, &Job{})
			}
			go func() {
				if kind == "View" {
					finished <- s.View(bg, work)
				} else {
					finished <- s.Tx(bg, work)
				}
			}()
			<-started
			closed := make(chan error, 1)
			go func() { closed <- s.Close() }()
			// Close has begun once new work is refused.
			for {
				if _, err := jobs.Count(bg); errors.Is(err, airnest.ErrClosed) {
					break
				}
				runtime.Gosched()
			}
			select {
			case err := <-closed:
				t.Fatalf("Close returned (%v) while a %s was still running", err, kind)
			default:
			}
			close(release)
			if err := <-finished; err != nil {
				t.Fatalf("in-flight %s failed: %v", kind, err)
			}
			if err := <-closed; err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestDeclarationErrors(t *testing.T) {
	t.Parallel()
	type NoID struct{ Name string }
	type WrongID struct{ ID airnest.ID[Job] }
	s := airnest.NewStore()
	if _, err := airnest.NewCollection[NoID](s); !errors.Is(err, airnest.ErrInvalid) {
		t.Fatalf("no ID field: %v", err)
	}
	if _, err := airnest.NewCollection[WrongID](s); !errors.Is(err, airnest.ErrInvalid) {
		t.Fatalf("ID of another type: %v", err)
	}
	if _, err := airnest.NewCollection[Job](s, airnest.Index("nope")); !errors.Is(err, airnest.ErrInvalid) {
		t.Fatalf("unknown index field: %v", err)
	}
	if _, err := airnest.NewCollection[Job](s, airnest.Index("steps")); !errors.Is(err, airnest.ErrInvalid) {
		t.Fatalf("unindexable field: %v", err)
	}
	if _, err := airnest.NewCollection[Job](s, airnest.Name(`x"; DROP TABLE "Job`)); !errors.Is(err, airnest.ErrInvalid) {
		t.Fatalf("hostile table name: %v", err)
	}
	airnest.Collection[Job](s)
	if _, err := airnest.NewCollection[Job](s); !errors.Is(err, airnest.ErrInvalid) {
		t.Fatalf("second collection on one table: %v", err)
	}
	if _, err := airnest.NewCollection[Session](s, airnest.Name("Job")); !errors.Is(err, airnest.ErrInvalid) {
		t.Fatalf("pinned name clash: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Collection did not panic on a programmer error")
		}
	}()
	airnest.Collection[NoID](airnest.NewStore())
}

func TestContextCancelled(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		_, jobs, _ := testStoreAt(t, dsn)
		ctx, cancel := context.WithCancel(bg)
		cancel()
		j := Job{}
		if err := jobs.Save(ctx, &j); !errors.Is(err, context.Canceled) {
			t.Fatalf("Save with cancelled ctx: %v", err)
		}
		if _, err := jobs.Load(ctx, airnest.NewID[Job]()); !errors.Is(err, context.Canceled) {
			t.Fatalf("Load with cancelled ctx: %v, want context.Canceled", err)
		}
	})
}

func TestInMemoryStoreSharedAcrossConnections(t *testing.T) {
	t.Parallel()
	s := airnest.NewStore()
	jobs := airnest.Collection[Job](s, airnest.Index("status"))
	if err := s.Open(bg, ":memory:", &airnest.Options{Readers: 4}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			j := Job{Priority: i}
			if err := jobs.Save(bg, &j); err != nil {
				t.Error(err)
				return
			}
			if _, err := jobs.Load(bg, j.ID); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n, err := jobs.Count(bg); n != 8 || err != nil {
		t.Fatalf("count %d %v", n, err)
	}
	// A second in-memory store is a separate database.
	s2, err := airnest.OpenMemory(bg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	jobs2 := airnest.Collection[Job](s2)
	if n, _ := jobs2.Count(bg); n != 0 {
		t.Fatalf("second memory store sees %d values", n)
	}
}

// A context that is done by the time the Update function returns writes
// nothing, whether it was cancelled or its deadline passed meanwhile.
func TestUpdateContextDoneWhileFnRunsWritesNothing(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, jobs, _ := testStoreAt(t, dsn)
		j := Job{Status: "before"}
		if err := jobs.Save(bg, &j); err != nil {
			t.Fatal(err)
		}
		unchanged := func(what string) {
			t.Helper()
			got, err := jobs.Load(bg, j.ID)
			if err != nil || got.Status != "before" {
				t.Fatalf("%s: stored status %q (%v), want it unchanged", what, got.Status, err)
			}
		}

		ctx, cancel := context.WithCancel(bg)
		_, err := jobs.Update(ctx, j.ID, func(v *Job) error { v.Status = "after"; cancel(); return nil })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Update cancelled inside fn: %v, want context.Canceled", err)
		}
		unchanged("cancelled inside fn")

		ctx, cancel = context.WithTimeout(bg, time.Millisecond)
		defer cancel()
		_, err = jobs.Update(ctx, j.ID, func(v *Job) error { v.Status = "after"; <-ctx.Done(); return nil })
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Update whose deadline passed inside fn: %v, want context.DeadlineExceeded", err)
		}
		unchanged("deadline passed inside fn")

		// The same inside a Tx, through a bound collection.
		ctx, cancel = context.WithCancel(bg)
		err = s.Tx(bg, func(tx *airnest.Tx) error {
			_, err := jobs.In(tx).Update(ctx, j.ID, func(v *Job) error { v.Status = "after"; cancel(); return nil })
			if !errors.Is(err, context.Canceled) {
				t.Errorf("bound Update cancelled inside fn: %v, want context.Canceled", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		unchanged("bound Update cancelled inside fn")

		// A Tx whose context is cancelled inside fn: an inner call made with
		// another context reports the cancellation, and nothing commits.
		ctx, cancel = context.WithCancel(bg)
		err = s.Tx(ctx, func(tx *airnest.Tx) error {
			if err := jobs.In(tx).Save(bg, &Job{Status: "lost"}); err != nil {
				return err
			}
			cancel()
			_, err := jobs.In(tx).Load(bg, j.ID)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("inner Load after the Tx's context was cancelled: %v, want context.Canceled", err)
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Tx cancelled inside fn: %v, want context.Canceled", err)
		}
		if n, _ := jobs.Count(bg); n != 1 {
			t.Fatalf("%d jobs after a cancelled Tx, want 1", n)
		}
		// A nested Tx cancelled inside its fn rolls back its savepoint alone.
		ctx, cancel = context.WithCancel(bg)
		err = s.Tx(bg, func(tx *airnest.Tx) error {
			err := s.Tx(ctx, func(tx *airnest.Tx) error {
				cancel()
				return jobs.In(tx).Save(bg, &Job{Status: "nested"})
			})
			if !errors.Is(err, context.Canceled) {
				t.Errorf("nested Tx cancelled inside fn: %v, want context.Canceled", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := jobs.Count(bg); n != 1 {
			t.Fatalf("%d jobs after a cancelled nested Tx, want 1", n)
		}
	})
}
