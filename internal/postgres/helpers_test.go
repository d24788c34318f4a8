package postgres

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/pgtest"
	"github.com/airnest/airnest/internal/sqlgen"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.StopShared()
	os.Exit(code)
}

// openDB opens a fresh database of the shared test server, closed at cleanup.
func openDB(t testing.TB, cfg backend.Config) (*DB, string) {
	t.Helper()
	dsn := pgtest.Database(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := Open(ctx, dsn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db.(*DB), dsn
}

// jobTable is the collection table the tests drive as airnest would.
var jobTable = sqlgen.Table{D: sqlgen.Postgres, Name: "Job", Columns: []sqlgen.Column{
	{Name: "status", Type: "TEXT", Indexed: true},
	{Name: "n", Type: "INTEGER", Indexed: true},
	{Name: "score", Type: "REAL"},
	{Name: "tag", Type: "BLOB"},
	{Name: "email", Type: "TEXT", Indexed: true, Unique: true},
}}

// row is one Job row: nil fields are NULL.
type row struct {
	id     byte
	blob   string
	status *string
	n      *int64
	score  *float64
	tag    []byte
	email  *string
}

func sp(s string) *string   { return &s }
func ip(n int64) *int64     { return &n }
func fp(f float64) *float64 { return &f }

// setup creates the Job table and its indexes, and the format table that
// airnest's Open makes before any write (where write jobs read the schema
// version).
func setup(t testing.TB, db *DB) {
	t.Helper()
	err := db.Exclusive(context.Background(), func(c backend.Conn) error {
		ddl := sqlgen.Postgres.FormatTable + "; " + sqlgen.Postgres.WriteFormat + "; " + jobTable.CreateTable()
		for _, col := range jobTable.Columns {
			if col.Indexed {
				ddl += "; " + jobTable.CreateIndex(col)
			}
		}
		return c.Exec(ddl)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// qUpsert may fail on the table's Unique email, as airnest marks it.
var qUpsert = func() *backend.Query {
	q := backend.NewQuery(jobTable.Upsert())
	q.MayFail = true
	return q
}()

// upsert binds r to the table's Upsert and runs it.
func upsert(c backend.Conn, r row) error {
	st, err := c.Prepare(qUpsert)
	if err != nil {
		return err
	}
	st.BindBlob(1, []byte{r.id})
	st.BindBlob(2, []byte(r.blob))
	st.BindInt64(3, 1)
	if r.status != nil {
		st.BindText(4, *r.status)
	} else {
		st.BindNull(4)
	}
	if r.n != nil {
		st.BindInt64(5, *r.n)
	} else {
		st.BindNull(5)
	}
	if r.score != nil {
		st.BindFloat(6, *r.score)
	} else {
		st.BindNull(6)
	}
	if r.tag != nil {
		st.BindBlob(7, r.tag)
	} else {
		st.BindNull(7)
	}
	if r.email != nil {
		st.BindText(8, *r.email)
	} else {
		st.BindNull(8)
	}
	return st.Exec()
}

// save writes rows in one Write job.
func save(t testing.TB, db *DB, rows ...row) {
	t.Helper()
	err := db.Write(&backend.Job{Ctx: context.Background(), Tx: true, Run: func(c backend.Conn) error {
		for _, r := range rows {
			if err := upsert(c, r); err != nil {
				return err
			}
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
}

// read runs fn on a reader.
func read(t testing.TB, db *DB, fn func(c backend.Conn) error) {
	t.Helper()
	c, err := db.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Release(c)
	if err := fn(c); err != nil {
		t.Fatal(err)
	}
}

// schemaSync runs a schema sync on db that holds the schema lock until the
// returned function is called, which bumps the schema version, commits
// and waits for the sync to end.
func schemaSync(t *testing.T, db *DB) (finish func()) {
	t.Helper()
	locked, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- db.Exclusive(context.Background(), func(c backend.Conn) error {
			if err := c.Exec("BEGIN; " + sqlgen.Postgres.SchemaLock); err != nil {
				return err
			}
			close(locked)
			<-release
			return c.Exec(sqlgen.Postgres.BumpSchema + "; COMMIT")
		})
	}()
	<-locked
	var once sync.Once
	return func() {
		once.Do(func() {
			close(release)
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
}

// awaitLockWaiter returns once a session of db's server waits for an
// advisory lock. ended reports (without blocking) whether the side that
// should wait has finished instead, which fails the test.
func awaitLockWaiter(t *testing.T, db *DB, finish func(), ended func() (string, bool)) {
	t.Helper()
	sdb, err := db.SQLDB()
	if err != nil {
		t.Fatal(err)
	}
	for waiting := 0; waiting == 0; {
		if what, ok := ended(); ok {
			finish()
			t.Fatalf("%s while a schema sync held the lock", what)
		}
		if err := sdb.QueryRow("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
}
