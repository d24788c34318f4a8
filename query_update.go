package airnest

import (
	"context"
	"fmt"

	"github.com/airnest/airnest/internal/backend"
)

// Update calls fn on every value the query matches and saves those for
// which fn reports a change, in batches: each batch of a few hundred values
// is one write transaction, so other writers are never held up for long.
// It returns how many values it saved.
//
// Each batch reads its values again inside its transaction (locking their
// rows where the database locks rows) and skips any that a concurrent
// writer changed so that the filters or Match functions no longer accept
// it; fn sees the value as it is in that transaction, and no concurrent
// update is lost. fn returns false to leave a value as it is, or an error,
// which stops Update: that batch writes nothing, earlier batches stay
// committed and are counted in the result. Inside a Tx (Coll.In(tx)) every
// batch is part of that transaction. fn must not change the ID, and must
// not write through the store (it runs inside the write, as Coll.Update's
// function does); a panic in fn goes on in the caller after the batch rolls
// back.
//
// Without Limit, Offset or After the values are visited in ID order,
// whatever the query's ordering, in constant memory; with any of them the
// query's IDs are read first (IDs), so that a value fn moves within the
// ordering is neither visited twice nor makes another one skipped.
// Errors: ErrInvalid (a bad query, fn == nil, fn changed the ID), ErrSchema,
// ErrConflict (a Unique index clash), fn's error, ErrClosed, ErrTxDone, the
// context's error.
func (q *Query[T]) Update(ctx context.Context, fn func(v *T) (changed bool, err error)) (int, error) {
	if fn == nil {
		return 0, q.invalid("Update(nil): a nil function")
	}
	cc := q.c.c
	return q.writeMatches(ctx, "Update", func(conn backend.Conn, v *T) (bool, error) {
		id := *cc.idOf(v)
		changed, err := fn(v)
		if err != nil || !changed {
			return false, err
		}
		if err := ctx.Err(); err != nil {
			return false, err // the caller gave up while fn ran: write nothing
		}
		if got := *cc.idOf(v); got != id {
			return false, fmt.Errorf("%w: the update function changed the ID from %s to %s", ErrInvalid, id, got)
		}
		b := saveBufs.Get().(*saveBuf)
		defer saveBufs.Put(b)
		blob, vals, err := cc.encode(b.blob[:0], v, b.vals[:0])
		if err != nil {
			return false, fmt.Errorf("id %s: %w", id, err)
		}
		b.blob, b.vals = blob, vals
		if err := cc.write(conn, id, blob, vals); err != nil {
			return false, fmt.Errorf("id %s: %w", id, err)
		}
		return true, nil
	})
}

// matchDelete is Delete of a Match query.
func (q *Query[T]) matchDelete(ctx context.Context) (int, error) {
	cc := q.c.c
	return q.writeMatches(ctx, "Delete", func(conn backend.Conn, v *T) (bool, error) {
		return true, cc.deleteOn(conn, *cc.idOf(v))
	})
}

// writeMatches finds the query's matches and, a batch at a time, runs
// apply on each of them inside one write transaction per batch, on the
// value read again in that transaction. It returns how many apply reported
// as written in the batches that committed.
func (q *Query[T]) writeMatches(ctx context.Context, op string, apply func(conn backend.Conn, v *T) (bool, error)) (int, error) {
	if q.err != nil {
		return 0, q.err
	}
	total := 0
	flush := func(ids []ID[T]) error {
		n, err := q.writeBatch(ctx, op, ids, apply)
		total += n
		return err
	}
	if q.limit >= 0 || q.offset >= 0 || q.after != "" {
		// Which values these are depends on the ordering, which apply may
		// change: fix them first.
		ids, err := q.IDs(ctx)
		if err != nil {
			return 0, err
		}
		for len(ids) > 0 {
			n := min(len(ids), matchPage)
			if err := flush(ids[:n]); err != nil {
				return total, err
			}
			ids = ids[n:]
		}
		return total, nil
	}
	// In ID order, which no write changes: each page's matches are written
	// before the next page is read.
	scan := q.clone()
	scan.order = nil
	batch := make([]ID[T], 0, matchPage)
	err := scan.eachMatch(ctx, op, 0, -1, func(v T, _ func() []sqlValue) (bool, error) {
		batch = append(batch, *q.c.c.idOf(&v))
		return true, nil
	}, func() (bool, error) {
		if len(batch) == 0 {
			return true, nil
		}
		err := flush(batch)
		batch = batch[:0]
		return err == nil, err
	})
	return total, err
}

// writeBatch is one transaction of writeMatches: it reads the values of
// ids that the query's filters still match (locking their rows where the
// database locks rows), tests them with the Match functions again, and
// applies apply to those that pass.
func (q *Query[T]) writeBatch(ctx context.Context, op string, ids []ID[T], apply func(conn backend.Conn, v *T) (bool, error)) (int, error) {
	b := q.clone()
	b.order, b.limit, b.offset, b.after, b.match, b.lock = nil, -1, -1, "", nil, true
	b = b.Where(In("id", ids...))
	r, err := b.start()
	if err != nil {
		return 0, err
	}
	n := 0
	err = q.c.writeTx(ctx, op, func(conn backend.Conn) error {
		n = 0
		vals := make([]T, 0, len(ids))
		// Read them all before writing any: a statement still stepping
		// over the table would see some of the writes.
		if err := b.rows(conn, r, func(v T, _ backend.Stmt) error {
			vals = append(vals, v)
			return nil
		}); err != nil {
			return err
		}
		for i := range vals {
			ok, err := q.test(&vals[i])
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			w, err := apply(conn, &vals[i])
			if err != nil {
				return err
			}
			if w {
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
