package airnest

import (
	"context"
	"fmt"
	"iter"
	"reflect"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

// Watch returns the changes of values that match the query's filters, as
// Coll.Watch does, so that a list on screen can follow the query:
//
//   - Saved: a value was saved and matches (it entered the query, or
//     changed while matching);
//   - Left: a value that matched was saved with values that no longer
//     match (Value is the new value): drop it from the list;
//   - Deleted: a value that matched was deleted.
//
// The filters are evaluated on each committed value in Go, with the
// database's rules (see Filter). A watch from now knows which values match
// when it starts (it reads their IDs, in the snapshot it starts from) and
// keeps that set in memory: about 60 bytes per matching value. A resumed
// watch (WatchOptions.Resume) cannot know what matched at its Seq: the
// first change of a value it has not seen yet is delivered as Left or
// Deleted even when the value never matched (dropping a value a list does
// not hold does nothing), and it also remembers the values seen not to
// match, about 60 bytes for each value changed since it started.
//
// The query's OrderBy does not apply (changes come in commit order);
// Limit, Offset and After make Watch yield ErrInvalid.
func (q *Query[T]) Watch(ctx context.Context, opts *WatchOptions) iter.Seq2[Change[T], error] {
	if q.err == nil && (q.limit >= 0 || q.offset >= 0 || q.after != "") {
		return func(yield func(Change[T], error) bool) {
			yield(Change[T]{}, q.invalid("Watch: Limit, Offset and After have no meaning for a stream of changes"))
		}
	}
	if q.err != nil {
		return func(yield func(Change[T], error) bool) { yield(Change[T]{}, q.err) }
	}
	return q.c.watch(ctx, opts, &queryWatch[T]{q: q, m: q.matcher(), in: map[[16]byte]bool{}})
}

// matcher is the query's filter as a matcher.
func (q *Query[T]) matcher() *matcher {
	m := &matcher{where: q.where, vals: q.vals, cols: map[string]*indexCol{sqlgen.IDColumn: idColumn[T]()}}
	for i := range q.c.c.cols {
		m.cols[q.c.c.cols[i].name] = &q.c.c.cols[i]
	}
	return m
}

// queryWatch is the watchFilter of a query watch.
type queryWatch[T any] struct {
	q *Query[T]
	m *matcher
	// in holds true for the values known to match, and (resumed watches
	// only) false for those known not to.
	in    map[[16]byte]bool
	exact bool // started from now: a value not in `in` does not match
}

func (w *queryWatch[T]) start(conn backend.Conn) error {
	w.exact = true
	r, err := w.q.start()
	if err != nil {
		return err
	}
	sql, args := w.q.sql(r, sqlgen.IDs)
	st, release, err := w.q.prepare(conn, r, sql, args)
	if err != nil {
		return err
	}
	defer release()
	for st.Step() {
		w.in[[16]byte(st.ColumnRawBlob(0))] = true
	}
	return st.Err()
}

func (w *queryWatch[T]) pass(ch *Change[T]) (bool, error) {
	id := ch.ID.u
	was, known := w.in[id]
	maybe := was || !known && !w.exact // it may have matched before
	if ch.Op == Deleted {
		delete(w.in, id)
		return maybe, nil
	}
	ok, err := w.m.match(reflect.ValueOf(&ch.Value).Elem())
	if err != nil {
		return false, fmt.Errorf("change %d: id %s: %w", ch.Seq, ch.ID, err)
	}
	switch {
	case ok:
		w.in[id] = true
		return true, nil
	case w.exact:
		delete(w.in, id)
	default:
		w.in[id] = false
	}
	ch.Op = Left
	return maybe, nil
}
