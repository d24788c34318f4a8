package airnest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/goid"
)

// Tx is a transaction across collections, given to the closure of Store.Tx
// (read-write) or Store.View (read-only snapshot). Use it through
// Coll.In(tx). A Tx must not leave its closure: used afterwards, it returns
// ErrTxDone. It is not for concurrent use by several goroutines.
type Tx struct {
	store    *Store
	conn     backend.Conn
	ctx      context.Context
	readOnly bool
	done     atomic.Bool
	depth    int
}

// Tx runs fn in one write transaction: on SQLite it excludes every other
// writer; on PostgreSQL it runs at READ COMMITTED, and Load and Update
// through it lock the row they read until it ends. If fn returns nil
// the transaction commits; if it returns an error, or ctx is done, it rolls
// back and Tx returns that error; if fn panics it rolls back and the panic
// goes on. Rollback runs even when ctx is cancelled.
//
// Writes inside fn go through Coll.In(tx). Calling Store.Tx again from inside
// fn nests: the inner closure runs in a SAVEPOINT that its error rolls back
// alone. A write through the store that bypasses tx (Jobs.Save instead of
// Jobs.In(tx).Save) from inside fn returns ErrInvalid rather than waiting for
// itself forever.
func (s *Store) Tx(ctx context.Context, fn func(tx *Tx) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if s.db.Reentrant() {
		active, ok := s.active.Load(goid.Current())
		if !ok {
			return s.writeErr(backend.ErrReentrant)
		}
		return active.(*Tx).savepoint(ctx, fn)
	}
	began := false
	err := s.db.Exclusive(ctx, func(conn backend.Conn) (err error) {
		began = true
		if ctx.Done() != nil {
			conn.SetInterrupt(ctx)
		}
		if err := conn.Exec(s.d.Begin); err != nil {
			conn.SetInterrupt(context.Background())
			return wrapOp("Store", "Tx", ctxErr(ctx, err))
		}
		tx := &Tx{store: s, conn: conn, ctx: ctx}
		g := goid.Current()
		s.active.Store(g, tx)
		defer func() {
			s.active.Delete(g)
			tx.done.Store(true)
			if r := recover(); r != nil {
				conn.Rollback()
				panic(r)
			}
		}()
		if err := fn(tx); err != nil {
			conn.Rollback()
			return err
		}
		if err := ctx.Err(); err != nil {
			conn.Rollback()
			return err
		}
		if !conn.InTx() {
			return errorf("airnest: Tx: %w", backend.ErrRolledBack)
		}
		conn.SetInterrupt(context.Background())
		if err := conn.Exec(s.d.Commit); err != nil {
			conn.Rollback()
			return errorf("airnest: Tx: commit: %w", err)
		}
		return nil
	})
	if err != nil && !began && !errors.Is(err, backend.ErrReentrant) {
		// No connection to begin on (a pool waited out ctx, a server
		// gone): say whose error it is.
		return wrapOp("Store", "Tx", ctxErr(ctx, err))
	}
	if err == nil {
		s.committed()
	}
	return s.writeErr(err)
}

var savepointSeq atomic.Int64

// savepoint runs a nested Store.Tx inside tx.
func (tx *Tx) savepoint(ctx context.Context, fn func(*Tx) error) error {
	if tx.done.Load() {
		return ErrTxDone
	}
	name := fmt.Sprintf("airnest_sp%d", savepointSeq.Add(1))
	if err := tx.conn.Exec("SAVEPOINT " + name); err != nil {
		return err
	}
	inner := &Tx{store: tx.store, conn: tx.conn, ctx: ctx, depth: tx.depth + 1}
	undo := func() {
		if tx.conn.InTx() {
			tx.conn.Exec("ROLLBACK TO " + name + "; RELEASE " + name)
		}
	}
	defer func() {
		inner.done.Store(true)
		if r := recover(); r != nil {
			undo()
			panic(r)
		}
	}()
	if err := fn(inner); err != nil {
		undo()
		return err
	}
	if err := ctx.Err(); err != nil {
		undo()
		return err
	}
	return tx.conn.Exec("RELEASE " + name)
}

// View runs fn on a read-only snapshot: every read inside sees the database
// as it was when View began, across collections, while writers go on.
// Writes through a View's Tx return ErrInvalid.
func (s *Store) View(ctx context.Context, fn func(tx *Tx) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	conn, err := s.readConn(ctx)
	if err != nil {
		return errorf("airnest: View: %w", ctxErr(ctx, err))
	}
	defer s.db.Release(conn)
	// BEGIN is deferred: the snapshot starts at the first read, so read now.
	if err := conn.BeginSnapshot(); err != nil {
		return errorf("airnest: View: %w", ctxErr(ctx, err))
	}
	tx := &Tx{store: s, conn: conn, ctx: ctx, readOnly: true}
	defer tx.done.Store(true)
	return fn(tx)
}

// run executes one operation of a collection bound to tx; write marks an
// operation that writes.
func (tx *Tx) run(ctx context.Context, coll, op string, write bool, fn func(backend.Conn) error) error {
	if tx.done.Load() {
		return errorf("airnest: %s.%s: %w", coll, op, ErrTxDone)
	}
	if tx.readOnly && write {
		return errorf("airnest: %s.%s: %w: a write inside a read-only View", coll, op, ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !tx.readOnly && !tx.conn.InTx() {
		return errorf("airnest: %s.%s: %w: %w", coll, op, ErrTxDone, backend.ErrRolledBack)
	}
	if ctx != tx.ctx && ctx.Done() != nil {
		// The statement stops when either the Tx's context or this call's
		// is done.
		both, cancel := context.WithCancel(tx.ctx)
		stop := context.AfterFunc(ctx, cancel)
		tx.conn.SetInterrupt(both)
		defer func() {
			stop()
			cancel()
			tx.conn.SetInterrupt(tx.ctx)
		}()
	}
	err := guarded(tx.conn, fn)
	return wrapOp(coll, op, ctxErr(tx.ctx, ctxErr(ctx, err)))
}
