package airnest

import (
	"context"
	"fmt"

	"github.com/airnest/airnest/internal/backend"
)

// SaveAll stores every value of vs in one write transaction: all of them,
// or, if one fails, none. Like Save it is an upsert and sets each zero ID
// to a fresh NewID first; if SaveAll fails, those IDs are zero again. Two
// entries with the same ID are saved in order, the last one wins.
// An empty vs does nothing.
// Errors: ErrInvalid (a nil entry, or a value that cannot be encoded or
// indexed), ErrConflict (a Unique index clash), ErrClosed, ErrTxDone, the
// context's error; the message names the failing entry by its position in
// vs and its ID.
func (c *Coll[T]) SaveAll(ctx context.Context, vs []*T) error {
	cc := c.c
	for i, v := range vs {
		if v == nil {
			return errorf("airnest: %s.SaveAll: %w: value %d of %d is nil", cc.name, ErrInvalid, i, len(vs))
		}
	}
	if len(vs) == 0 {
		return nil
	}
	var assigned []int
	for i, v := range vs {
		if idp := cc.idOf(v); idp.IsZero() {
			*idp = NewID[T]()
			assigned = append(assigned, i)
		}
	}
	err := c.saveAll(ctx, vs)
	if err != nil {
		for _, i := range assigned {
			*cc.idOf(vs[i]) = ID[T]{}
		}
	}
	return err
}

// writeTx runs fn as one write transaction of its own: all of its writes
// or none. (A write job of the group-commit writer may share its
// transaction with other jobs, which keep what a failing job wrote before
// its error.) Inside a Tx it runs in a savepoint that an error rolls back
// alone, so the Tx goes on without fn's partial writes.
func (c *Coll[T]) writeTx(ctx context.Context, op string, fn func(conn backend.Conn) error) error {
	name := c.c.name
	switch {
	case c.tx == nil:
		return c.c.store.Tx(ctx, func(tx *Tx) error { return tx.run(ctx, name, op, true, fn) })
	case c.tx.readOnly:
		return c.tx.run(ctx, name, op, true, fn) // refused, as every write in a View
	}
	return c.tx.savepoint(ctx, func(inner *Tx) error { return inner.run(ctx, name, op, true, fn) })
}

func (c *Coll[T]) saveAll(ctx context.Context, vs []*T) error {
	cc := c.c
	return c.writeTx(ctx, "SaveAll", func(conn backend.Conn) error {
		b := saveBufs.Get().(*saveBuf)
		defer saveBufs.Put(b)
		for i, v := range vs {
			id := *cc.idOf(v)
			blob, vals, err := cc.encode(b.blob[:0], v, b.vals[:0])
			if err == nil {
				b.blob, b.vals = blob, vals
				err = cc.write(conn, id, blob, vals)
			}
			if err != nil {
				return fmt.Errorf("value %d of %d (id %s): %w", i, len(vs), id, err)
			}
			if i%256 == 255 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// loadBatch is how many IDs LoadMany asks for in one statement; they travel
// as one bound parameter, so no database's parameter limit applies.
const loadBatch = 500

// LoadMany returns the values with the given IDs in one call, a few
// hundred IDs per statement: vals[i] is the value of ids[i], or T's zero
// value when no value has that ID, and missing lists each such ID once, in
// the order of ids (a zero ID is always missing). A repeated ID gives its
// value at each of its positions. Outside a Tx the batches are not one
// snapshot (use Store.View for that).
// Errors: ErrSchema (a stored value does not decode into T), ErrClosed,
// ErrTxDone, the context's error. A missing ID is not an error.
func (c *Coll[T]) LoadMany(ctx context.Context, ids []ID[T]) (vals []T, missing []ID[T], err error) {
	vals = make([]T, len(ids))
	at := make(map[ID[T]][]int, len(ids)) // positions of each ID still to find
	var order []ID[T]                     // distinct IDs, first occurrence first
	for i, id := range ids {
		if _, ok := at[id]; !ok {
			order = append(order, id)
		}
		at[id] = append(at[id], i)
	}
	found := make(map[ID[T]]bool, len(order))
	want := make([]ID[T], 0, min(len(order), loadBatch))
	for start := 0; start < len(order); start += loadBatch {
		want = want[:0]
		for _, id := range order[start:min(start+loadBatch, len(order))] {
			if !id.IsZero() {
				want = append(want, id)
			}
		}
		if len(want) == 0 {
			continue
		}
		q := c.Where(In("id", want...))
		r, err := q.start()
		if err != nil {
			return nil, nil, err
		}
		err = c.read(ctx, "LoadMany", func(conn backend.Conn) error {
			return q.rows(conn, r, func(v T, st backend.Stmt) error {
				var id ID[T]
				copy(id.u[:], st.ColumnRawBlob(0))
				found[id] = true
				for _, i := range at[id] {
					vals[i] = v
				}
				return nil
			})
		})
		if err != nil {
			return nil, nil, err
		}
	}
	for _, id := range order {
		if !found[id] {
			missing = append(missing, id)
		}
	}
	return vals, missing, nil
}
