package airnest

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlite"
)

type pragmaRec struct {
	ID ID[pragmaRec]
	N  int
}

// Every connection, the writer and each reader, carries the same settings.
func TestPragmasOnEveryConnection(t *testing.T) {
	for _, tc := range []struct {
		opts *Options
		sync int64
	}{{nil, 2}, {&Options{Sync: SyncNormal}, 1}} {
		ctx := context.Background()
		s := NewStore()
		recs := Collection[pragmaRec](s)
		if err := s.Open(ctx, filepath.Join(t.TempDir(), "p.db"), &Options{Sync: optsSync(tc.opts), Readers: 3}); err != nil {
			t.Fatal(err)
		}
		// Open all three readers at once.
		var wg, inside sync.WaitGroup
		inside.Add(3)
		for range 3 {
			wg.Go(func() {
				s.View(ctx, func(tx *Tx) error {
					_, err := recs.In(tx).Count(ctx)
					inside.Done()
					inside.Wait() // hold this reader until all three are open
					return err
				})
			})
		}
		wg.Wait()
		type setting struct {
			pragma string
			want   any
		}
		every := []setting{
			{"synchronous", tc.sync},
			{"busy_timeout", int64(5000)},
			{"foreign_keys", int64(1)},
			{"trusted_schema", int64(0)},
			{"journal_mode", "wal"},
			{"hard_heap_limit", int64(defaultMemoryLimit)}, // the 256 MiB default applies
		}
		writes := append(every, setting{"wal_autocheckpoint", int64(4000)}, setting{"query_only", int64(0)})
		check := func(who string, c *sqlite.Conn) error {
			want := writes
			if who == "reader" {
				want = append(every, setting{"query_only", int64(1)})
			}
			for _, p := range want {
				var got any
				err := query(c, "PRAGMA "+p.pragma, nil, func(st backend.Stmt) error {
					if _, ok := p.want.(string); ok {
						got = st.ColumnText(0)
					} else {
						got = st.ColumnInt64(0)
					}
					return nil
				})
				if err != nil {
					return err
				}
				if got != p.want {
					t.Errorf("%s: PRAGMA %s = %v, want %v", who, p.pragma, got, p.want)
				}
			}
			return nil
		}
		if err := s.sqliteDB().W.Exclusive(ctx, func(c *sqlite.Conn) error { return check("writer", c) }); err != nil {
			t.Fatal(err)
		}
		n := 0
		if err := s.sqliteDB().R.Each(ctx, func(c *sqlite.Conn) error { n++; return check("reader", c) }); err != nil {
			t.Fatal(err)
		}
		if n != 3 {
			t.Fatalf("checked %d readers, want 3", n)
		}
		// Store.DB's connections: the writer's settings, on each of several
		// connections held at once.
		db, err := s.DB()
		if err != nil {
			t.Fatal(err)
		}
		var held []*sql.Conn
		for range 3 {
			dc, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, dc)
			for _, p := range writes {
				var str string
				var num int64
				var got any = &num
				if _, ok := p.want.(string); ok {
					got = &str
				}
				if err := dc.QueryRowContext(ctx, "PRAGMA "+p.pragma).Scan(got); err != nil {
					t.Fatal(err)
				}
				if got == &num {
					got = num
				} else {
					got = str
				}
				if got != p.want {
					t.Errorf("DB: PRAGMA %s = %v, want %v", p.pragma, got, p.want)
				}
			}
		}
		for _, dc := range held {
			dc.Close()
		}
		s.Close()
	}
}

func optsSync(o *Options) Sync {
	if o == nil {
		return SyncFull
	}
	return o.Sync
}

// sqliteDB is the SQLite backend of a store opened on a file.
func (s *Store) sqliteDB() *sqlite.DB { return s.db.(*sqlite.DB) }
