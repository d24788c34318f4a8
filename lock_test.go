package airnest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/airnest/airnest"
	"github.com/airnest/airnest/internal/pgtest"
)

// Lock contention on PostgreSQL: another session (another program, an
// operator's psql) holds a lock that a call needs. The call gives up at its
// context's deadline with the context's error (the deadlines here are
// shorter than the default BusyTimeout, 5 s), or at Options.BusyTimeout
// (PostgreSQL's lock_timeout) with ErrBusy; it never hangs, and once the
// lock is gone the same store works.

// PGLocked is the collection the lock tests contend on.
type PGLocked struct {
	ID    airnest.ID[PGLocked]
	State string
	N     int
}

// holdLock runs sql in a transaction of its own session and keeps it open
// until the test ends or the returned release is called.
func holdLock(t *testing.T, dsn, sql string, args ...any) (release func()) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	done := false
	release = func() {
		if !done {
			done = true
			tx.Rollback(ctx)
			c.Close(ctx)
		}
	}
	t.Cleanup(release)
	return release
}

// contended is one call that needs a lock held elsewhere.
type contended struct {
	name string
	call func(ctx context.Context) error
}

func TestPGLockContention(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Database(t)
	ctx := context.Background()
	open := func(opts *airnest.Options) (*airnest.Store, *airnest.Coll[PGLocked]) {
		s := airnest.NewStore()
		coll := airnest.Collection[PGLocked](s, airnest.Index("state"))
		if err := s.Open(ctx, dsn, opts); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s, coll
	}
	s, coll := open(nil)
	row := PGLocked{State: "new"}
	if err := coll.Save(ctx, &row); err != nil {
		t.Fatal(err)
	}
	rowCalls := []contended{
		{"Update", func(ctx context.Context) error {
			_, err := coll.Update(ctx, row.ID, func(v *PGLocked) error { v.N++; return nil })
			return err
		}},
		{"Save", func(ctx context.Context) error {
			v := row
			v.N = 99
			return coll.Save(ctx, &v)
		}},
		{"Delete", func(ctx context.Context) error { return coll.Delete(ctx, row.ID) }},
		{"Load in Tx", func(ctx context.Context) error {
			return s.Tx(ctx, func(tx *airnest.Tx) error {
				_, err := coll.In(tx).Load(ctx, row.ID)
				return err
			})
		}},
		{"query Delete", func(ctx context.Context) error {
			_, err := coll.Where(airnest.Eq("state", "new")).Delete(ctx)
			return err
		}},
	}
	table := `"PGLocked"`

	t.Run("row lock past the context's deadline", func(t *testing.T) {
		release := holdLock(t, dsn, "SELECT 1 FROM "+table+" FOR UPDATE")
		for _, c := range rowCalls {
			err := within(t, c.name, 300*time.Millisecond, c.call)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s on a row locked elsewhere: %v, want the context's error", c.name, err)
			}
			if err != nil && !strings.Contains(err.Error(), "PGLocked") {
				t.Errorf("%s: the error does not name the collection: %v", c.name, err)
			}
		}
		release()
		mustStillWork(t, coll, row.ID)
	})

	t.Run("row lock past BusyTimeout", func(t *testing.T) {
		_, busy := open(&airnest.Options{BusyTimeout: 200 * time.Millisecond})
		release := holdLock(t, dsn, "SELECT 1 FROM "+table+" FOR UPDATE")
		err := within(t, "Update", time.Minute, func(ctx context.Context) error {
			_, err := busy.Update(ctx, row.ID, func(v *PGLocked) error { v.N++; return nil })
			return err
		})
		if !errors.Is(err, airnest.ErrBusy) {
			t.Errorf("Update waiting past BusyTimeout: %v, want ErrBusy", err)
		}
		release()
		mustStillWork(t, busy, row.ID)
	})

	// A table lock blocks reads too: Load, queries and Count give up at
	// the deadline.
	t.Run("table lock", func(t *testing.T) {
		release := holdLock(t, dsn, "LOCK TABLE "+table+" IN ACCESS EXCLUSIVE MODE")
		reads := []contended{
			{"Load", func(ctx context.Context) error { _, err := coll.Load(ctx, row.ID); return err }},
			{"Count", func(ctx context.Context) error {
				_, err := coll.Where(airnest.Eq("state", "new")).Count(ctx)
				return err
			}},
			{"Find", func(ctx context.Context) error {
				_, err := coll.Where(airnest.Eq("state", "new")).Find(ctx)
				return err
			}},
		}
		for _, c := range append(reads, rowCalls...) {
			err := within(t, c.name, 300*time.Millisecond, c.call)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s on a table locked elsewhere: %v, want the context's error", c.name, err)
			}
		}
		release()
		mustStillWork(t, coll, row.ID)
	})

	// Another program holds the schema lock (a long schema change): Open
	// waits for it only as long as its context lets it.
	t.Run("schema lock", func(t *testing.T) {
		release := holdLock(t, dsn, "SELECT pg_advisory_xact_lock($1)", 0x4169724E)
		err := within(t, "Open", 300*time.Millisecond, func(ctx context.Context) error {
			s := airnest.NewStore()
			airnest.Collection[PGLocked](s, airnest.Index("state", "n"))
			err := s.Open(ctx, dsn, nil)
			if err == nil {
				s.Close()
			}
			return err
		})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Open while another session holds the schema lock: %v, want the context's error", err)
		}
		// Writes wait for a schema change too (they take its lock shared).
		err = within(t, "Save", 300*time.Millisecond, func(ctx context.Context) error {
			return coll.Save(ctx, &PGLocked{State: "during schema change"})
		})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Save while another session holds the schema lock: %v, want the context's error", err)
		}
		release()
		mustStillWork(t, coll, row.ID)
	})
}

// mustStillWork checks that coll reads and writes once the lock is gone,
// and that the calls that gave up changed nothing.
func mustStillWork(t *testing.T, coll *airnest.Coll[PGLocked], id airnest.ID[PGLocked]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	before, err := coll.Load(ctx, id)
	if err != nil {
		t.Fatalf("Load after the lock is released: %v", err)
	}
	if before.N != 0 || before.State != "new" {
		t.Errorf("a call that gave up on the lock changed the value: %+v", before)
	}
	after, err := coll.Update(ctx, id, func(v *PGLocked) error { v.N++; return nil })
	if err != nil || after.N != 1 {
		t.Fatalf("Update after the lock is released: %+v, %v", after, err)
	}
	after.N = 0
	if err := coll.Save(ctx, &after); err != nil {
		t.Fatal(err)
	}
}

// writeLockSQL takes, in a transaction of its own session, a lock that
// keeps every other writer of table out (SQLite has one writer lock for
// the whole file).
var writeLockSQL = map[string]string{
	"sqlite":   "BEGIN IMMEDIATE",
	"postgres": `BEGIN; LOCK TABLE "PGLocked" IN EXCLUSIVE MODE`,
}

// Another program holds the write lock: writes, transactions and an Open
// that changes the schema give up at their context's deadline, or with
// ErrBusy at BusyTimeout, on every backend; reads go on.
func TestWriteLockHeldElsewhere(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		open := func(opts *airnest.Options, indexes ...string) (*airnest.Store, *airnest.Coll[PGLocked]) {
			s := airnest.NewStore()
			coll := airnest.Collection[PGLocked](s, airnest.Index(indexes...))
			if err := s.Open(ctx, dsn, opts); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s, coll
		}
		// BusyTimeout far past the deadlines: a call that ignored its
		// context would wait for it and fail within's hang check.
		long := &airnest.Options{BusyTimeout: time.Hour}
		s, coll := open(long, "state")
		row := PGLocked{State: "new"}
		if err := coll.Save(ctx, &row); err != nil {
			t.Fatal(err)
		}
		_, busy := open(&airnest.Options{BusyTimeout: 200 * time.Millisecond}, "state")
		// The lock holder: a connection of another store's database/sql
		// handle, as another program would be.
		holder, _ := open(nil, "state")
		db, err := holder.DB()
		if err != nil {
			t.Fatal(err)
		}
		hc, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer hc.Close()
		if _, err := hc.ExecContext(ctx, writeLockSQL[backendOf(dsn)]); err != nil {
			t.Fatal(err)
		}
		writes := []contended{
			{"Save", func(ctx context.Context) error { return coll.Save(ctx, &PGLocked{State: "blocked"}) }},
			{"Update", func(ctx context.Context) error {
				_, err := coll.Update(ctx, row.ID, func(v *PGLocked) error { v.N++; return nil })
				return err
			}},
			{"Tx", func(ctx context.Context) error {
				return s.Tx(ctx, func(tx *airnest.Tx) error { return coll.In(tx).Save(ctx, &PGLocked{State: "blocked"}) })
			}},
			{"8 concurrent Saves", func(ctx context.Context) error {
				errs := make(chan error, 8)
				for range 8 {
					go func() { errs <- coll.Save(ctx, &PGLocked{State: "blocked"}) }()
				}
				var first error
				for range 8 {
					if err := <-errs; first == nil || !errors.Is(err, context.DeadlineExceeded) {
						first = err
					}
				}
				return first
			}},
			{"Open with a new index", func(ctx context.Context) error {
				s := airnest.NewStore()
				airnest.Collection[PGLocked](s, airnest.Index("state", "n"))
				err := s.Open(ctx, dsn, long)
				if err == nil {
					s.Close()
				}
				return err
			}},
		}
		for _, c := range writes {
			start := time.Now()
			err := within(t, c.name, 300*time.Millisecond, c.call)
			t.Logf("%s gave up after %v", c.name, time.Since(start).Round(time.Millisecond))
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s while another program holds the write lock: %v, want the context's error", c.name, err)
			}
		}
		err = within(t, "Save with a short BusyTimeout", time.Minute, func(ctx context.Context) error {
			return busy.Save(ctx, &PGLocked{State: "blocked"})
		})
		if !errors.Is(err, airnest.ErrBusy) {
			t.Errorf("Save waiting past BusyTimeout: %v, want ErrBusy", err)
		}
		err = within(t, "Open with a short BusyTimeout", time.Minute, func(ctx context.Context) error {
			s := airnest.NewStore()
			airnest.Collection[PGLocked](s, airnest.Index("state", "n"))
			err := s.Open(ctx, dsn, &airnest.Options{BusyTimeout: 200 * time.Millisecond})
			if err == nil {
				s.Close()
			}
			return err
		})
		if !errors.Is(err, airnest.ErrBusy) {
			t.Errorf("Open waiting past BusyTimeout: %v, want ErrBusy", err)
		}
		if n, err := coll.Count(ctx); err != nil || n != 1 {
			t.Errorf("Count while another program holds the write lock: %d, %v; want 1", n, err)
		}
		if _, err := hc.ExecContext(ctx, "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
		mustStillWork(t, coll, row.ID)
	})
}
