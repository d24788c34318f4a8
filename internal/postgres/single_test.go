package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/pgtest"
	"github.com/airnest/airnest/internal/sqlgen"
)

// openTwo opens two DBs on one fresh database, as two processes would,
// with the format table and the Job table made.
func openTwo(t *testing.T) (*DB, *DB) {
	t.Helper()
	dsn := pgtest.Database(t)
	var dbs [2]*DB
	for i := range dbs {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		db, err := Open(ctx, dsn, backend.Config{Writers: 1})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db.(*DB)
	}
	setup(t, dbs[0])
	if err := dbs[0].Exclusive(context.Background(), func(c backend.Conn) error {
		return c.Exec(sqlgen.Postgres.FormatTable + "; " + sqlgen.Postgres.WriteFormat)
	}); err != nil {
		t.Fatal(err)
	}
	return dbs[0], dbs[1]
}

// bumpSchema changes the schema version as another process's schema sync.
func bumpSchema(t *testing.T, db *DB) {
	t.Helper()
	if err := db.Exclusive(context.Background(), func(c backend.Conn) error {
		return c.Exec("BEGIN; " + sqlgen.Postgres.SchemaLock + "; " + sqlgen.Postgres.BumpSchema + "; COMMIT")
	}); err != nil {
		t.Fatal(err)
	}
}

// A one-statement write guesses the schema version it last saw. When
// another process changed the schema since, the guess is caught by the
// server before the statement writes, and the job runs again with the
// version read: what it stores is planned with the new version only. The
// same holds when the job's first statement is a read (a re-plan reads
// the collection's columns before it writes).
func TestSingleWriteStaleSchema(t *testing.T) {
	for _, readFirst := range []bool{false, true} {
		t.Run(fmt.Sprint("readFirst=", readFirst), func(t *testing.T) {
			db, other := openTwo(t)
			var seen []int64
			job := func(id byte) *backend.Job {
				seen = seen[:0]
				return &backend.Job{Ctx: context.Background(), Run: func(c backend.Conn) error {
					v, err := c.SchemaVersion()
					if err != nil {
						return err
					}
					seen = append(seen, v)
					if readFirst {
						if _, err := load(c, id); err != nil {
							return err
						}
					}
					// The value records the version its plan was made with.
					return upsert(c, row{id: id, blob: fmt.Sprintf("planned at %d", v)})
				}}
			}
			for id := range byte(2) { // reads the version, then prepares the check
				if err := db.Write(job(id)); err != nil {
					t.Fatal(err)
				}
			}
			if fmt.Sprint(seen) != "[0]" {
				t.Fatalf("versions seen by the job: %v, want [0]", seen)
			}
			bumpSchema(t, other)
			if err := db.Write(job(7)); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(seen) != "[0 1]" {
				t.Errorf("versions seen by the job after another's sync: %v, want [0 1] (the guess, then the version read)", seen)
			}
			wantStored(t, db, 7, "planned at 1")
			// The version read is remembered: the next job guesses right.
			if err := db.Write(job(8)); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(seen) != "[1]" {
				t.Errorf("versions seen by the next job: %v, want [1]", seen)
			}
		})
	}
}

// A one-statement job keeps failing as it did: a failed statement
// commits nothing, the error is the statement's, and the connection is
// ready for the next job.
func TestSingleWriteFails(t *testing.T) {
	db, _ := openTwo(t)
	for i := range 3 {
		email := fmt.Sprintf("a%d@x", i)
		if err := db.Write(saveJob(row{id: byte(i), blob: "v", email: &email})); err != nil {
			t.Fatal(err)
		}
	}
	dup := "a0@x"
	err := db.Write(saveJob(row{id: 9, blob: "dup", email: &dup}))
	if Classify(err) != backend.Unique {
		t.Fatalf("a Unique clash: %v, want a unique violation", err)
	}
	if err := db.Write(saveJob(row{id: 10, blob: "after"})); err != nil {
		t.Fatalf("the next job: %v", err)
	}
	wantStored(t, db, 9, "")
	wantStored(t, db, 10, "after")
	// A second statement after the one that committed is refused, not run
	// outside any transaction.
	err = db.Write(&backend.Job{Ctx: context.Background(), Run: func(c backend.Conn) error {
		if err := upsert(c, row{id: 11, blob: "one"}); err != nil {
			return err
		}
		return upsert(c, row{id: 12, blob: "two"})
	}})
	if err == nil {
		t.Fatal("a second statement in a one-statement job succeeded")
	}
	wantStored(t, db, 12, "")
}

// A guessed version is checked under the shared schema lock: a Save that
// starts while another process's schema sync holds the lock waits for it,
// then sees the sync's version and writes with a plan made for it.
func TestSingleWriteWaitsForSync(t *testing.T) {
	db, other := openTwo(t)
	var seen []int64
	job := &backend.Job{Ctx: context.Background(), Run: func(c backend.Conn) error {
		v, err := c.SchemaVersion()
		if err != nil {
			return err
		}
		seen = append(seen, v)
		return upsert(c, row{id: 3, blob: fmt.Sprintf("planned at %d", v)})
	}}
	for range 2 { // reads the version, then prepares the check
		seen = nil
		if err := db.Write(job); err != nil {
			t.Fatal(err)
		}
	}
	finish := schemaSync(t, other)
	seen = nil
	saved := make(chan error, 1)
	go func() { saved <- db.Write(job) }()
	awaitLockWaiter(t, other, finish, func() (string, bool) {
		select {
		case err := <-saved:
			return fmt.Sprintf("the Save finished (%v)", err), true
		default:
			return "", false
		}
	})
	finish()
	if err := <-saved; err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seen) != "[0 1]" {
		t.Errorf("versions seen: %v, want [0 1]", seen)
	}
	wantStored(t, db, 3, "planned at 1")
}

// wantStored checks the value stored for id ("": none).
func wantStored(t *testing.T, db *DB, id byte, want string) {
	t.Helper()
	read(t, db, func(c backend.Conn) error {
		if v, err := load(c, id); err != nil || v != want {
			t.Errorf("row %d: %q, %v; want %q", id, v, err, want)
		}
		return nil
	})
}
