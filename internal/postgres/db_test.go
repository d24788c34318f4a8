package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

var (
	qLoad   = backend.NewQuery(jobTable.Load())
	qExists = backend.NewQuery(jobTable.Exists())
	qDelete = backend.NewQuery(jobTable.Delete())
	qCount  = backend.NewQuery(jobTable.Count())
)

// load returns the blob stored for id, or "" when absent.
func load(c backend.Conn, id byte) (string, error) {
	st, err := c.Prepare(qLoad)
	if err != nil {
		return "", err
	}
	st.BindBlob(1, []byte{id})
	v := ""
	if st.Step() {
		v = string(st.ColumnRawBlob(0))
	}
	return v, st.Reset()
}

// wantCount checks how many rows the Job table holds.
func wantCount(t *testing.T, db *DB, want int64) {
	t.Helper()
	read(t, db, func(c backend.Conn) error {
		st, err := c.Prepare(qCount)
		if err != nil {
			return err
		}
		defer st.Reset()
		if !st.Step() {
			return st.Err()
		}
		if n := st.ColumnInt64(0); n != want {
			t.Errorf("the table holds %d rows, want %d", n, want)
		}
		return nil
	})
}

// Upsert, load, exists and delete through the generated SQL, on the cached
// statements of pooled connections.
func TestRows(t *testing.T) {
	db, _ := openDB(t, backend.Config{})
	setup(t, db)
	save(t, db, row{id: 1, blob: "a", email: sp("x")}, row{id: 2, blob: "b"})
	save(t, db, row{id: 1, blob: "a2", email: sp("x")}) // replaces
	read(t, db, func(c backend.Conn) error {
		for id, want := range map[byte]string{1: "a2", 2: "b", 3: ""} {
			if got, err := load(c, id); err != nil || got != want {
				t.Errorf("load %d: %q, %v; want %q", id, got, err, want)
			}
		}
		st, err := c.Prepare(qExists)
		if err != nil {
			return err
		}
		st.BindBlob(1, []byte{2})
		if !st.Step() || st.ColumnInt64(0) != 1 || st.ColumnType(0) != backend.Integer {
			t.Errorf("exists 2: no row or not 1: %v", st.Err())
		}
		return st.Reset()
	})
	err := db.Write(&backend.Job{Ctx: context.Background(), Run: func(c backend.Conn) error {
		st, err := c.Prepare(qDelete)
		if err != nil {
			return err
		}
		st.BindBlob(1, []byte{2})
		if err := st.Exec(); err != nil {
			return err
		}
		if c.Changes() != 1 {
			t.Errorf("Changes after deleting one row: %d", c.Changes())
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	wantCount(t, db, 1)
}

// A transaction job (Tx) whose Run fails or panics leaves nothing
// behind; the panic goes on in the caller. (A job without Tx may commit
// with its one statement, which it runs last.)
func TestWriteRollsBack(t *testing.T) {
	db, _ := openDB(t, backend.Config{})
	setup(t, db)
	boom := errors.New("boom")
	err := db.Write(&backend.Job{Ctx: context.Background(), Tx: true, Run: func(c backend.Conn) error {
		upsert(c, row{id: 1, blob: "x"})
		return boom
	}})
	if !errors.Is(err, boom) {
		t.Fatalf("Write: %v, want boom", err)
	}
	func() {
		defer func() {
			if r := recover(); r != "panic in Run" {
				t.Fatalf("recovered %v", r)
			}
		}()
		db.Write(&backend.Job{Ctx: context.Background(), Tx: true, Run: func(c backend.Conn) error {
			upsert(c, row{id: 2, blob: "y"})
			panic("panic in Run")
		}})
	}()
	// Run swallowing a statement's error cannot commit what PostgreSQL
	// already rolled back.
	save(t, db, row{id: 3, blob: "z", email: sp("e")})
	err = db.Write(&backend.Job{Ctx: context.Background(), Tx: true, Run: func(c backend.Conn) error {
		upsert(c, row{id: 4, blob: "w"})
		if err := upsert(c, row{id: 5, blob: "v", email: sp("e")}); Classify(err) != backend.Unique {
			t.Errorf("clash: %v (class %v)", err, Classify(err))
		}
		return nil
	}})
	if !errors.Is(err, backend.ErrRolledBack) {
		t.Fatalf("Write after a swallowed error: %v, want ErrRolledBack", err)
	}
	wantCount(t, db, 1)
}

// Inside a user transaction a failing statement is undone alone, as on
// SQLite: the transaction stays usable and commits the rest.
func TestStatementAtomicity(t *testing.T) {
	db, _ := openDB(t, backend.Config{})
	setup(t, db)
	save(t, db, row{id: 1, blob: "a", email: sp("taken")})
	err := db.Exclusive(context.Background(), func(c backend.Conn) error {
		if err := c.Exec(sqlgen.Postgres.Begin); err != nil {
			return err
		}
		if err := upsert(c, row{id: 2, blob: "b"}); err != nil {
			return err
		}
		err := upsert(c, row{id: 3, blob: "c", email: sp("taken")})
		if Classify(err) != backend.Unique {
			t.Errorf("unique clash: %v", err)
		}
		if !c.InTx() {
			t.Fatal("the transaction is unusable after a failed statement")
		}
		// A statement the server cannot parse (QueryRaw) is undone alone too.
		if _, err := c.PrepareOnce("SELEC v FROM \"Job\""); err == nil {
			t.Error("PrepareOnce of bad SQL succeeded")
		}
		if !c.InTx() {
			t.Fatal("the transaction is unusable after a failed prepare")
		}
		if err := upsert(c, row{id: 4, blob: "d"}); err != nil {
			return err
		}
		return c.Exec(sqlgen.Postgres.Commit)
	})
	if err != nil {
		t.Fatal(err)
	}
	read(t, db, func(c backend.Conn) error {
		for id, want := range map[byte]string{1: "a", 2: "b", 3: "", 4: "d"} {
			if got, _ := load(c, id); got != want {
				t.Errorf("id %d: %q, want %q", id, got, want)
			}
		}
		return nil
	})
}

// User code with a write connection cannot start another write from its
// goroutine (it would wait for itself); other goroutines can, at once.
func TestReentrant(t *testing.T) {
	db, _ := openDB(t, backend.Config{})
	setup(t, db)
	if db.Reentrant() {
		t.Fatal("Reentrant outside any write")
	}
	job := &backend.Job{Ctx: context.Background(), Run: func(c backend.Conn) error { return upsert(c, row{id: 9, blob: "x"}) }}
	err := db.Exclusive(context.Background(), func(c backend.Conn) error {
		if !db.Reentrant() {
			t.Error("not Reentrant inside Exclusive")
		}
		if err := db.Write(job); !errors.Is(err, backend.ErrReentrant) {
			t.Errorf("Write inside Exclusive: %v", err)
		}
		if err := db.Exclusive(context.Background(), func(backend.Conn) error { return nil }); !errors.Is(err, backend.ErrReentrant) {
			t.Errorf("Exclusive inside Exclusive: %v", err)
		}
		done := make(chan error)
		go func() { done <- db.Write(job) }()
		return <-done // another goroutine writes while this one holds its connection
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Write(&backend.Job{Ctx: context.Background(), User: true, Run: func(c backend.Conn) error {
		if !db.Reentrant() {
			t.Error("not Reentrant inside a User job")
		}
		return nil
	}})
	if err != nil || db.Reentrant() {
		t.Fatalf("after: err %v, Reentrant %v", err, db.Reentrant())
	}
}

// A snapshot does not see what commits after it began; a reader holds
// read-only sessions and is tracked by goroutine.
func TestSnapshot(t *testing.T) {
	db, _ := openDB(t, backend.Config{})
	setup(t, db)
	save(t, db, row{id: 1, blob: "before"})
	c, err := db.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !db.HeldByCaller() {
		t.Error("HeldByCaller false while holding a reader")
	}
	if err := c.BeginSnapshot(); err != nil {
		t.Fatal(err)
	}
	save(t, db, row{id: 1, blob: "after"}, row{id: 2, blob: "new"})
	if got, _ := load(c, 1); got != "before" {
		t.Errorf("snapshot sees %q", got)
	}
	if got, _ := load(c, 2); got != "" {
		t.Errorf("snapshot sees a later row: %q", got)
	}
	err = upsert(c, row{id: 3, blob: "x"})
	if Classify(err) != backend.ReadOnly {
		t.Errorf("write on a reader: %v (class %v)", err, Classify(err))
	}
	c.Rollback()
	if got, _ := load(c, 1); got != "after" {
		t.Errorf("after the snapshot: %q", got)
	}
	db.Release(c)
	if db.HeldByCaller() {
		t.Error("HeldByCaller after Release")
	}
}

// A nested Read from a goroutine that holds every reader gets one more
// instead of waiting for itself.
func TestNestedRead(t *testing.T) {
	db, _ := openDB(t, backend.Config{Readers: 1})
	a, err := db.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := db.Read(ctx)
	if err != nil {
		t.Fatalf("nested Read: %v", err)
	}
	if err := b.Each("SELECT 1", nil, nil); err != nil {
		t.Fatal(err)
	}
	// Released elsewhere, a reader still counts for the goroutine that got it.
	done := make(chan struct{})
	go func() { db.Release(b); close(done) }()
	<-done
	if !db.HeldByCaller() {
		t.Error("HeldByCaller false while still holding the first reader")
	}
	db.Release(a)
	if db.HeldByCaller() {
		t.Error("HeldByCaller true after releasing both")
	}
}

// Rows of one statement keep coming while other statements run on the
// same connection (as a loop over Scan that saves inside a Tx does).
func TestInterleavedStatements(t *testing.T) {
	db, _ := openDB(t, backend.Config{})
	setup(t, db)
	save(t, db, queryRows...)
	q := backend.NewQuery(jobTable.Scan())
	// On a reader, outside a transaction.
	read(t, db, func(c backend.Conn) error {
		st, err := c.Prepare(q)
		if err != nil {
			return err
		}
		defer st.Reset()
		n := 0
		for ; st.Step(); n++ {
			id, blob := st.ColumnRawBlob(0)[0], st.ColumnRawBlob(1)
			if got, err := load(c, id); got != string(blob) {
				t.Errorf("row %d: loaded %q (%v), streamed %q", id, got, err, blob)
			}
		}
		if n != len(queryRows) {
			t.Errorf("reader: streamed %d rows, want %d", n, len(queryRows))
		}
		return st.Err()
	})
	// In a user transaction already under way, with writes in between.
	err := db.Exclusive(context.Background(), func(c backend.Conn) error {
		c.Exec("BEGIN")
		if _, err := load(c, 1); err != nil {
			return err
		}
		st, err := c.Prepare(q)
		if err != nil {
			return err
		}
		defer st.Reset()
		n := 0
		for st.Step() {
			id := st.ColumnRawBlob(0)[0]
			blob := st.ColumnRawBlob(1)
			if err := upsert(c, row{id: id + 100, blob: "copy"}); err != nil {
				return err
			}
			if got, _ := load(c, id); got != string(blob) {
				t.Errorf("row %d: loaded %q, streamed %q", id, got, blob)
			}
			n++
		}
		if n != len(queryRows) {
			t.Errorf("streamed %d rows, want %d", n, len(queryRows))
		}
		if err := st.Err(); err != nil {
			return err
		}
		return c.Exec("COMMIT")
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A context that ends while a statement runs stops it promptly, and the
// pool goes on with a working connection.
func TestInterrupt(t *testing.T) {
	db, _ := openDB(t, backend.Config{Readers: 1})
	ctx, cancel := context.WithCancel(context.Background())
	c, err := db.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	released := false
	defer func() {
		if !released {
			db.Release(c)
		}
	}()
	st, err := c.PrepareOnce("SELECT pg_sleep(600)")
	if err != nil {
		t.Fatal(err)
	}
	stepped := make(chan bool)
	go func() { stepped <- st.Step() }()
	waitFor(t, db, "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(600)' AND state = 'active'")
	cancel() // pg_sleep(600) ends only by cancellation
	if <-stepped {
		t.Fatal("a row from a cancelled pg_sleep")
	}
	err = st.Err()
	if err == nil || Classify(err) != backend.Interrupt || !errors.Is(err, context.Canceled) {
		t.Fatalf("error of a cancelled statement: %v (class %v)", err, Classify(err))
	}
	st.Close()
	db.Release(c)
	released = true
	read(t, db, func(c backend.Conn) error { return c.Each("SELECT 1", nil, nil) })
}

// A schema sync in progress (holding Dialect.SchemaLock) holds up a write
// transaction's SchemaVersion until it commits, so the version read is
// the one the sync leaves.
func TestSchemaVersionWaitsForSync(t *testing.T) {
	db, _ := openDB(t, backend.Config{})
	if err := db.Exclusive(context.Background(), func(c backend.Conn) error {
		return c.Exec(sqlgen.Postgres.FormatTable + "; " + sqlgen.Postgres.WriteFormat)
	}); err != nil {
		t.Fatal(err)
	}
	finish := schemaSync(t, db)
	got := make(chan int64, 1)
	go func() {
		db.Write(&backend.Job{Ctx: context.Background(), Run: func(c backend.Conn) error {
			v, err := c.SchemaVersion()
			if err != nil {
				t.Error(err)
			}
			got <- v
			return err
		}})
	}()
	// Either the write waits for the lock, or it reads the version at once.
	awaitLockWaiter(t, db, finish, func() (string, bool) {
		select {
		case v := <-got:
			return fmt.Sprintf("SchemaVersion read %d", v), true
		default:
			return "", false
		}
	})
	finish()
	if v := <-got; v != 1 {
		t.Fatalf("SchemaVersion after the sync: %d, want 1", v)
	}
}

// Info names the database without its password and measures it; Backup
// and Vacuum name the tools to use instead.
func TestInfoBackupVacuum(t *testing.T) {
	db, dsn := openDB(t, backend.Config{})
	read(t, db, func(c backend.Conn) error {
		info, err := db.Info(c)
		if err != nil {
			return err
		}
		if info.Path != dsn || info.FileBytes <= 0 {
			t.Errorf("Info: %+v (URL %s)", info, dsn)
		}
		return nil
	})
	err := db.Backup(context.Background(), "x.db", backend.BackupOptions{})
	if !errors.Is(err, backend.ErrUnsupported) || !strings.Contains(err.Error(), "pg_dump") {
		t.Errorf("Backup: %v", err)
	}
	err = db.Vacuum(context.Background())
	if !errors.Is(err, backend.ErrUnsupported) || !strings.Contains(err.Error(), "autovacuum") {
		t.Errorf("Vacuum: %v", err)
	}
	sdb, err := db.SQLDB()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := sdb.QueryRow("SELECT $1::int + 1", 41).Scan(&n); err != nil || n != 42 {
		t.Errorf("database/sql: %d, %v", n, err)
	}
}

// waitFor polls query, which counts something, on a connection of its own
// until the count is positive: a state other connections reach.
func waitFor(t *testing.T, db *DB, query string) {
	t.Helper()
	sdb, err := db.SQLDB()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := sdb.QueryRow(query).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", query)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A write transaction that touches a table before it reads the schema
// version (Update: load for update, then save) does not deadlock with a
// schema sync that alters that table: its BEGIN waits for the sync first.
func TestNoDeadlockWithSchemaSync(t *testing.T) {
	db, _ := openDB(t, backend.Config{})
	setup(t, db)
	if err := db.Exclusive(context.Background(), func(c backend.Conn) error {
		return c.Exec(sqlgen.Postgres.FormatTable + "; " + sqlgen.Postgres.WriteFormat)
	}); err != nil {
		t.Fatal(err)
	}
	save(t, db, row{id: 1, blob: "a"})
	locked, jobDone := make(chan struct{}), make(chan struct{})
	syncDone := make(chan error, 1)
	sdb, err := db.SQLDB()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		syncDone <- db.Exclusive(context.Background(), func(c backend.Conn) error {
			if err := c.Exec("BEGIN; " + sqlgen.Postgres.SchemaLock); err != nil {
				return err
			}
			close(locked)
			// Alter the table once the update waits (for the lock, or, without
			// the fix, holding its row).
			for waiting := 0; waiting == 0; {
				select {
				case <-jobDone:
					return errors.New("the update ended without waiting for the sync")
				default:
				}
				if err := sdb.QueryRow("SELECT count(*) FROM pg_locks WHERE NOT granted").Scan(&waiting); err != nil {
					return err
				}
			}
			return c.Exec(jobTable.AddColumn(sqlgen.Column{Name: "later", Type: "TEXT"}) + "; " + sqlgen.Postgres.BumpSchema + "; COMMIT")
		})
	}()
	<-locked
	qLock := backend.NewQuery(jobTable.LoadForUpdate())
	var version int64
	err = db.Write(&backend.Job{Ctx: context.Background(), User: true, Run: func(c backend.Conn) error {
		st, err := c.Prepare(qLock)
		if err != nil {
			return err
		}
		st.BindBlob(1, []byte{1})
		st.Step()
		if err := st.Reset(); err != nil {
			return err
		}
		if version, err = c.SchemaVersion(); err != nil {
			return err
		}
		return upsert(c, row{id: 1, blob: "b"})
	}})
	close(jobDone)
	syncErr := <-syncDone
	if err != nil || syncErr != nil {
		t.Fatalf("update during a schema sync: %v; the sync: %v", err, syncErr)
	}
	if version != 1 {
		t.Errorf("the update read schema version %d, want the sync's 1", version)
	}
}

// Config.BusyTimeout bounds a wait for a row lock, which then fails as
// Busy; a Write's context bounds its wait for a connection.
func TestBusyAndAcquire(t *testing.T) {
	db, _ := openDB(t, backend.Config{Writers: 2, BusyTimeout: 50 * time.Millisecond})
	setup(t, db)
	save(t, db, row{id: 1, blob: "a"})
	qLock := backend.NewQuery(jobTable.LoadForUpdate())
	lockRow := func(c backend.Conn) error {
		st, err := c.Prepare(qLock)
		if err != nil {
			return err
		}
		st.BindBlob(1, []byte{1})
		st.Step()
		return st.Reset()
	}
	held, release := make(chan struct{}), make(chan struct{})
	holder := make(chan error, 1)
	go func() {
		holder <- db.Exclusive(context.Background(), func(c backend.Conn) error {
			c.Exec("BEGIN")
			if err := lockRow(c); err != nil {
				return err
			}
			close(held)
			<-release
			return c.Exec("COMMIT")
		})
	}()
	<-held
	// Without BusyTimeout it would wait for ever: bounded by a context here.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := db.Write(&backend.Job{Ctx: ctx, Run: lockRow})
	if Classify(err) != backend.Busy {
		t.Errorf("waiting past BusyTimeout for a locked row: %v (class %v)", err, Classify(err))
	}
	// Both writers busy: the second holds one, a third waits on ctx.
	err = db.Exclusive(context.Background(), func(backend.Conn) error {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		done := make(chan error)
		go func() { done <- db.Write(&backend.Job{Ctx: ctx, Run: func(backend.Conn) error { return nil }}) }()
		return <-done
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Write with every writer lent: %v", err)
	}
	close(release)
	if err := <-holder; err != nil {
		t.Fatal(err)
	}
	a, _ := db.SQLDB()
	if b, _ := db.SQLDB(); a != b {
		t.Error("SQLDB opened twice")
	}
}
