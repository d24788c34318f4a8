package airnest

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

// Match returns the query narrowed by a Go predicate: only values for which
// fn returns true are matched. It is for conditions the index columns
// cannot express (a field that is not indexed, a computation over several
// fields). Several Match calls AND together, and with the filters.
//
// The database runs the filters first; fn then runs in Go on every value
// they leave, so a Match query reads and decodes every one of those values:
// narrow it with filters on index columns where you can. Offset and Limit
// count only values that fn accepts, and so do Count, Exists, First, Page
// and its cursors. Find, Count, IDs and the rest read in pages of a few
// hundred values and keep only what they return, so memory stays constant
// whatever the number of values read; outside a Tx each page is read in its
// own snapshot, as in All (run the query inside Store.View for one
// snapshot). Delete and Update check fn again, inside the transaction that
// writes, on the value as it is then.
//
// fn gets a pointer to the decoded value and must not keep it or change
// it. A panic in fn stops the query, which returns an error wrapping
// ErrInvalid that says so. fn == nil is an error wrapping ErrInvalid.
// Explain shows the database's plan followed by a line saying that Match
// runs in Go.
func (q *Query[T]) Match(fn func(v *T) bool) *Query[T] {
	if fn == nil {
		return q.fail("Match(nil): a nil function")
	}
	n := q.clone()
	n.match = append(n.match, fn)
	return n
}

// A Match query reads matchPage rows with its first statement. Where no
// page is held in memory (no pageEnd), each further statement reads twice
// as many, up to maxMatchPage: a statement whose ordering needs a sort
// sorts every match after the cursor, so pages of one size would make a
// large scan quadratic. (On SQLite such a scan is one statement.)
const (
	matchPage    = 256
	maxMatchPage = 1 << 16
)

// test reports whether v passes every Match function, turning a panic in
// one into an error.
func (q *Query[T]) test(v *T) (ok bool, err error) {
	if len(q.match) == 0 {
		return true, nil
	}
	defer func() {
		if r := recover(); r != nil {
			ok, err = false, fmt.Errorf("%w: the Match function panicked on id %s: %v", ErrInvalid, *q.c.c.idOf(v), r)
		}
	}()
	for _, fn := range q.match {
		if !fn(v) {
			return false, nil
		}
	}
	return true, nil
}

// errStop ends a scan early without an error.
var errStop = errors.New("stop")

// scanQuery is the query a Match scan runs in the database: the filters
// and ordering, without Limit or Offset (those count matches, in Go), and
// with a limit of one page per statement.
func (q *Query[T]) scanQuery() *Query[T] {
	s := q.clone()
	s.limit, s.offset, s.match = matchPage, -1, nil
	return s
}

// eachMatch reads the query's values in pages and calls row for each one
// that every Match function accepts, after skipping skip of them, until
// limit (-1: no limit) were passed to row or row returns false. keys gives
// the current row's sort keys, for a cursor; it is valid only during row.
// pageEnd, when not nil, runs after each page of matchPage rows, holding no
// connection; returning false stops. row runs while a connection is held.
func (q *Query[T]) eachMatch(ctx context.Context, op string, skip, limit int, row func(v T, keys func() []sqlValue) (bool, error), pageEnd func() (bool, error)) error {
	r, err := q.start()
	if err != nil {
		return err
	}
	s := q.scanQuery()
	r.offset = 0
	size := matchPage
	// Where stopping a statement early is free and no page is held, one
	// statement reads everything: LIMIT makes SQLite sort by a slower
	// method, and every page would sort the rest of the matches again.
	whole := pageEnd == nil && q.c.c.store.d.CheapStop
	if whole {
		s.limit = -1
	}
	passed := 0
	for {
		if limit >= 0 && passed >= limit {
			return nil
		}
		n, stopped := 0, false
		r.limit = size
		if whole {
			r.limit = -1
		}
		var last []sqlValue
		err := q.c.read(ctx, op, func(conn backend.Conn) error {
			return s.rows(conn, r, func(v T, st backend.Stmt) error {
				n++
				if n == size {
					last = rowKeys(st, r.keys)
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				ok, err := q.test(&v)
				if err != nil || !ok {
					return err
				}
				if skip > 0 {
					skip--
					return nil
				}
				passed++
				more, err := row(v, func() []sqlValue { return rowKeys(st, r.keys) })
				if err != nil {
					return err
				}
				if !more || (limit >= 0 && passed >= limit) {
					stopped = true
					return errStop
				}
				return nil
			})
		})
		if err != nil && !errors.Is(err, errStop) {
			return err
		}
		if pageEnd != nil {
			more, err := pageEnd()
			if err != nil || !more {
				return err
			}
		}
		if stopped || n < size || whole {
			return nil
		}
		r.after = last
		if pageEnd == nil {
			size = min(2*size, maxMatchPage)
		}
	}
}

// matchFind is Find of a Match query.
func (q *Query[T]) matchFind(ctx context.Context) ([]T, error) {
	var out []T
	err := q.eachMatch(ctx, "Query", max(q.offset, 0), q.limit, func(v T, _ func() []sqlValue) (bool, error) {
		out = append(out, v)
		return true, nil
	}, nil)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// matchPageOf is Page of a Match query: one match more than Limit tells
// whether a next page exists.
func (q *Query[T]) matchPageOf(ctx context.Context) ([]T, string, error) {
	var out []T
	var last []sqlValue
	more := false
	err := q.eachMatch(ctx, "Query", max(q.offset, 0), q.limit+1, func(v T, keys func() []sqlValue) (bool, error) {
		if len(out) == q.limit {
			more = true
			return false, nil
		}
		out = append(out, v)
		if len(out) == q.limit {
			last = keys()
		}
		return true, nil
	}, nil)
	if err != nil || !more {
		return out, "", err
	}
	k, _ := q.keys()
	return out, q.encodeCursor(k, last), nil
}

// matchAll is All of a Match query: each page's matches are yielded after
// the page is read, holding no connection.
func (q *Query[T]) matchAll(ctx context.Context) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		page := make([]T, 0, matchPage)
		err := q.eachMatch(ctx, "All", max(q.offset, 0), q.limit, func(v T, _ func() []sqlValue) (bool, error) {
			page = append(page, v)
			return true, nil
		}, func() (bool, error) {
			for _, v := range page {
				if !yield(v, nil) {
					return false, nil
				}
			}
			page = page[:0]
			return true, nil
		})
		if err != nil {
			var zero T
			yield(zero, err)
		}
	}
}

// matchCount counts the matches of a Match query within Offset and
// Limit, reading them as Find does but keeping none.
func (q *Query[T]) matchCount(ctx context.Context, op string, limit int) (int, error) {
	n := 0
	err := q.eachMatch(ctx, op, max(q.offset, 0), limit, func(T, func() []sqlValue) (bool, error) {
		n++
		return true, nil
	}, nil)
	return n, err
}

// matchIDs is IDs of a Match query.
func (q *Query[T]) matchIDs(ctx context.Context) ([]ID[T], error) {
	var out []ID[T]
	err := q.eachMatch(ctx, "Query", max(q.offset, 0), q.limit, func(v T, _ func() []sqlValue) (bool, error) {
		out = append(out, *q.c.c.idOf(&v))
		return true, nil
	}, nil)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// matchExplain is Explain of a Match query: the plan of the statement that
// reads its pages, and a last line for the part that runs in Go.
func (q *Query[T]) matchExplain(ctx context.Context) (string, error) {
	plan, err := q.scanQuery().explain(ctx, sqlgen.Rows)
	if err != nil {
		return "", err
	}
	return plan + fmt.Sprintf("\nGO MATCH: %d Go function(s) test every value the plan above returns; Offset and Limit count what they accept", len(q.match)), nil
}
