package postgres

import (
	"context"
	"net"
	"sync/atomic"
	"testing"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
	"github.com/jackc/pgx/v5/pgxpool"
)

// countingConn counts the requests a client sends: pgconn writes each
// request (a query, a batch, a prepare) to the socket in one Write.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(b)
}

// openCounting opens a database whose writer connections count requests
// in n; one writer, so every job sees the same warmed-up statements.
func openCounting(t testing.TB, n *atomic.Int64) *DB {
	t.Helper()
	configHook = func(w, _ *pgxpool.Config) {
		dial := w.ConnConfig.DialFunc
		w.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return countingConn{c, n}, nil
		}
	}
	defer func() { configHook = nil }()
	db, _ := openDB(t, backend.Config{Writers: 1})
	setup(t, db)
	if err := db.Exclusive(context.Background(), func(c backend.Conn) error {
		return c.Exec(sqlgen.Postgres.FormatTable + "; " + sqlgen.Postgres.WriteFormat)
	}); err != nil {
		t.Fatal(err)
	}
	return db
}

// saveJob is what a Save does: read the schema version, upsert.
func saveJob(r row) *backend.Job { return saveJobCtx(context.Background(), r) }

func saveJobCtx(ctx context.Context, r row) *backend.Job {
	return &backend.Job{Ctx: ctx, Run: func(c backend.Conn) error {
		if _, err := c.SchemaVersion(); err != nil {
			return err
		}
		return upsert(c, r)
	}}
}

// A single Save costs one round trip (BEGIN, schema lock and check, the
// upsert and COMMIT in one batch), two under a context that can end (COMMIT
// apart), and a write inside a user transaction no more than outside: its
// savepoint travels with it.
func TestRoundTrips(t *testing.T) {
	var n atomic.Int64
	db := openCounting(t, &n)
	// The first Save reads the schema version; the second prepares the check.
	for id := range byte(2) {
		if err := db.Write(saveJob(row{id: 10 + id, blob: "warm"})); err != nil {
			t.Fatal(err)
		}
	}
	n.Store(0)
	if err := db.Write(saveJob(row{id: 2, blob: "x"})); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 1 {
		t.Errorf("one Save: %d round trips, want 1", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n.Store(0)
	if err := db.Write(saveJobCtx(ctx, row{id: 5, blob: "c"})); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got != 2 {
		t.Errorf("one Save under a context that can end: %d round trips, want 2", got)
	}
	// An Update: the read that locks the row, the schema version, the
	// write, COMMIT. The version travels with the BEGIN and the read.
	update := &backend.Job{Ctx: context.Background(), Tx: true, User: true, Run: func(c backend.Conn) error {
		if _, err := load(c, 2); err != nil {
			return err
		}
		if _, err := c.SchemaVersion(); err != nil {
			return err
		}
		return upsert(c, row{id: 2, blob: "updated"})
	}}
	for range 2 { // the first prepares
		n.Store(0)
		if err := db.Write(update); err != nil {
			t.Fatal(err)
		}
	}
	if got := n.Load(); got != 3 {
		t.Errorf("one Update: %d round trips, want 3", got)
	}
	read(t, db, func(c backend.Conn) error {
		for _, id := range []byte{2, 5} {
			if v, err := load(c, id); err != nil || v == "" {
				t.Errorf("row %d after its Save: %q, %v", id, v, err)
			}
		}
		return nil
	})
	err := db.Exclusive(context.Background(), func(c backend.Conn) error {
		c.Exec("BEGIN")
		if err := upsert(c, row{id: 3, blob: "y"}); err != nil {
			return err
		}
		n.Store(0)
		if err := upsert(c, row{id: 4, blob: "z"}); err != nil {
			return err
		}
		if got := n.Load(); got != 1 {
			t.Errorf("a guarded write in a transaction: %d round trips, want 1", got)
		}
		return c.Exec("COMMIT")
	})
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkSave: one Save per Write job.
func BenchmarkSave(b *testing.B) {
	var n atomic.Int64
	db := openCounting(b, &n)
	b.ResetTimer()
	for i := range b.N {
		if err := db.Write(saveJob(row{id: byte(i), blob: "value"})); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n.Load())/float64(b.N), "roundtrips/op")
}

// txSize is how many writes BenchmarkTxWrite's transactions hold: fewer
// than 64, the subtransactions PostgreSQL tracks without overflow.
const txSize = 50

// BenchmarkTxWrite: upserts inside user transactions, each guarded by
// its savepoint (guard) or not, to price the guard.
func BenchmarkTxWrite(b *testing.B) {
	for _, guard := range []bool{false, true} {
		name := "bare"
		if guard {
			name = "savepoint"
		}
		b.Run(name, func(b *testing.B) {
			var n atomic.Int64
			db := openCounting(b, &n)
			b.ResetTimer()
			err := db.Exclusive(context.Background(), func(c backend.Conn) error {
				c.(*conn).user = guard
				c.Exec("BEGIN")
				for i := range b.N {
					if err := upsert(c, row{id: byte(i % 200), blob: "value"}); err != nil {
						return err
					}
					if i%txSize == txSize-1 {
						c.Exec("COMMIT")
						c.Exec("BEGIN")
					}
				}
				return c.Exec("COMMIT")
			})
			if err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkLoad: one Load on a pooled reader.
func BenchmarkLoad(b *testing.B) {
	db, _ := openDB(b, backend.Config{})
	setup(b, db)
	save(b, db, row{id: 1, blob: "value"})
	b.ResetTimer()
	for range b.N {
		c, err := db.Read(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if v, err := load(c, 1); err != nil || v != "value" {
			b.Fatal(v, err)
		}
		db.Release(c)
	}
}
