package airnest

import (
	"context"
	"iter"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

// Find returns the matching values, in order.
// Errors: ErrInvalid (a bad query or cursor), ErrSchema (a stored value does
// not decode into T), ErrClosed, ErrTxDone, the context's error.
func (q *Query[T]) Find(ctx context.Context) ([]T, error) {
	if q.match != nil {
		return q.matchFind(ctx)
	}
	r, err := q.start()
	if err != nil {
		return nil, err
	}
	var out []T
	err = q.c.read(ctx, "Query", func(conn backend.Conn) error {
		return q.rows(conn, r, func(v T, _ backend.Stmt) error {
			out = append(out, v)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// First returns the first matching value; ErrNotFound when none matches.
func (q *Query[T]) First(ctx context.Context) (T, error) {
	var zero T
	vs, err := q.Limit(1).Find(ctx)
	if err != nil {
		return zero, err
	}
	if len(vs) == 0 {
		return zero, errorf("airnest: %s.First: %w: no value matches", q.c.c.name, ErrNotFound)
	}
	return vs[0], nil
}

// Page returns the next page of at most Limit values and the cursor to pass
// to After for the page after it; the cursor is "" when no value follows.
// The query needs a Limit.
//
//	page, next, err := Jobs.Where(airnest.Eq("status", "pending")).
//		OrderBy("priority").Limit(50).After(req.Cursor).Page(ctx)
func (q *Query[T]) Page(ctx context.Context) ([]T, string, error) {
	if q.err == nil && q.limit <= 0 {
		return nil, "", q.invalid("Page needs a Limit above 0")
	}
	if q.match != nil {
		return q.matchPageOf(ctx)
	}
	r, err := q.start()
	if err != nil {
		return nil, "", err
	}
	r.limit++ // one more tells whether a next page exists
	var out []T
	var last []sqlValue
	err = q.c.read(ctx, "Query", func(conn backend.Conn) error {
		return q.rows(conn, r, func(v T, st backend.Stmt) error {
			if len(out) < q.limit {
				last = rowKeys(st, r.keys)
			}
			out = append(out, v)
			return nil
		})
	})
	if err != nil {
		return nil, "", err
	}
	if len(out) <= q.limit {
		return out, "", nil
	}
	return out[:q.limit], q.encodeCursor(r.keys, last), nil
}

// All streams the matching values in order, a page at a time. It holds no
// connection while the loop body runs, so the body may use the store; the
// pages continue one another by key (as After does), so each value that is
// not changed meanwhile is seen once. An error is yielded once, as the last
// pair. Breaking out of the loop early releases everything.
func (q *Query[T]) All(ctx context.Context) iter.Seq2[T, error] {
	if q.match != nil {
		return q.matchAll(ctx)
	}
	return func(yield func(T, error) bool) {
		var zero T
		r, err := q.start()
		if err != nil {
			yield(zero, err)
			return
		}
		remaining := r.limit
		page := make([]T, 0, allPage)
		for {
			n := allPage
			if remaining >= 0 && remaining < n {
				n = remaining
			}
			if n == 0 {
				return
			}
			r.limit = n
			page = page[:0]
			var last []sqlValue
			err := q.c.read(ctx, "All", func(conn backend.Conn) error {
				return q.rows(conn, r, func(v T, st backend.Stmt) error {
					page = append(page, v)
					if len(page) == n {
						last = rowKeys(st, r.keys)
					}
					return nil
				})
			})
			if err != nil {
				yield(zero, err)
				return
			}
			for _, v := range page {
				if !yield(v, nil) {
					return
				}
			}
			if len(page) < n {
				return
			}
			if remaining > 0 {
				remaining -= n
			}
			r.after, r.offset = last, 0
		}
	}
}

// scalar runs a one-row, one-integer statement of kind k.
func (q *Query[T]) scalar(ctx context.Context, op string, k sqlgen.Kind) (int64, error) {
	r, err := q.start()
	if err != nil {
		return 0, err
	}
	var n int64
	err = q.c.read(ctx, op, func(conn backend.Conn) error {
		sql, args := q.sql(r, k)
		st, release, err := q.prepare(conn, r, sql, args)
		if err != nil {
			return err
		}
		defer release()
		if st.Step() {
			n = st.ColumnInt64(0)
		}
		return st.Err()
	})
	return n, err
}

// Count returns how many values match (within Limit and Offset). It never
// decodes a stored value, and reads only an index when one index holds every
// column the filter names (see Queries in the package doc).
func (q *Query[T]) Count(ctx context.Context) (int, error) {
	if q.match != nil {
		return q.matchCount(ctx, "Count", q.limit)
	}
	n, err := q.scalar(ctx, "Count", sqlgen.Count)
	if q.limit < 0 {
		n = max(n-int64(max(q.offset, 0)), 0) // the statement counts every match
	}
	return int(n), err
}

// Exists reports whether any value matches; it reads what Count reads.
func (q *Query[T]) Exists(ctx context.Context) (bool, error) {
	if q.match != nil {
		limit := 1
		if q.limit == 0 {
			limit = 0
		}
		n, err := q.matchCount(ctx, "Exists", limit)
		return n != 0, err
	}
	n, err := q.scalar(ctx, "Exists", sqlgen.Exists)
	return n != 0, err
}

// IDs returns the IDs of the matching values, in order, without decoding the
// stored values. Without a Limit it reads what Count reads, and sorts the
// IDs unless an index holds them in order (an Eq on a column's own index).
func (q *Query[T]) IDs(ctx context.Context) ([]ID[T], error) {
	if q.match != nil {
		return q.matchIDs(ctx)
	}
	r, err := q.start()
	if err != nil {
		return nil, err
	}
	var out []ID[T]
	err = q.c.read(ctx, "Query", func(conn backend.Conn) error {
		sql, args := q.sql(r, sqlgen.IDs)
		st, release, err := q.prepare(conn, r, sql, args)
		if err != nil {
			return err
		}
		defer release()
		for st.Step() {
			var id ID[T]
			copy(id.u[:], st.ColumnRawBlob(0))
			out = append(out, id)
		}
		return st.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Delete removes the matching values (within Limit and Offset, in order)
// in one write, and returns how many it removed. It never decodes the stored
// values: it finds the matches as IDs does and removes each by its primary
// key. Coll.Where() with no filter deletes every value.
// Errors: ErrInvalid, ErrClosed, ErrTxDone, the context's error.
func (q *Query[T]) Delete(ctx context.Context) (int, error) {
	if q.match != nil {
		return q.matchDelete(ctx)
	}
	r, err := q.start()
	if err != nil {
		return 0, err
	}
	sql, args := q.sql(r, sqlgen.Delete)
	var n int
	err = q.c.writeOp(ctx, "Delete", false, func(conn backend.Conn) error {
		st, release, err := q.prepare(conn, r, sql, args)
		if err != nil {
			return err
		}
		defer release()
		if err := st.Exec(); err != nil {
			return err
		}
		n = int(conn.Changes())
		return nil
	})
	return n, err
}

// Explain returns the database's query plan for Find, to check that a
// query uses an index. On SQLite it is drawn as the sqlite3 shell prints it:
//
//	QUERY PLAN
//	`--SEARCH Job USING INDEX Job__status__priority (status=?)
//
// SEARCH ... USING INDEX reads only the matching part of an index; SCAN
// <table> alone reads every row; USE TEMP B-TREE FOR ORDER BY sorts the
// matches instead of reading them in index order. On PostgreSQL it is the
// text of EXPLAIN (COSTS OFF) under the same "QUERY PLAN" header: Index
// Scan or Bitmap Index Scan on an index, Seq Scan reads every row.
func (q *Query[T]) Explain(ctx context.Context) (string, error) {
	if q.match != nil {
		return q.matchExplain(ctx)
	}
	return q.explain(ctx, sqlgen.Rows)
}

// explain returns the plan of the statement of kind k.
func (q *Query[T]) explain(ctx context.Context, k sqlgen.Kind) (string, error) {
	r, err := q.start()
	if err != nil {
		return "", err
	}
	var plan string
	err = q.c.read(ctx, "Query", func(conn backend.Conn) error {
		sql, args := q.sql(r, k)
		st, release, err := q.prepareCached(conn, r, q.c.c.store.d.Explain(sql), args, false)
		if err != nil {
			return err
		}
		defer release()
		plan, err = conn.Plan(st)
		return err
	})
	return plan, err
}
