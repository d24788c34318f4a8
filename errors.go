package airnest

import (
	"errors"
	"fmt"

	"github.com/airnest/airnest/codec"
	"github.com/airnest/airnest/internal/sqlite"
)

// Sentinel errors. Every error airnest returns wraps one of these (or a
// context error) with %w, and keeps the underlying SQLite error reachable, so
// both errors.Is(err, airnest.ErrConflict) and errors.Is(err, sqlite3.BUSY)
// work.
var (
	// ErrNotFound: no value has the requested ID, or a query matched nothing.
	ErrNotFound = errors.New("airnest: not found")
	// ErrConflict: a write broke a Unique index.
	ErrConflict = errors.New("airnest: conflict")
	// ErrTxDone: a Tx (or a collection bound to it) was used after its closure returned.
	ErrTxDone = errors.New("airnest: transaction already finished")
	// ErrClosed: the store is closed, or was never opened.
	ErrClosed = errors.New("airnest: store closed")
	// ErrSchema: a stored value cannot be decoded into the current Go type
	// (a field changed type), or the stored schema disagrees with the declaration.
	ErrSchema = codec.ErrSchema
	// ErrInvalid: a bad declaration, name, query or value.
	ErrInvalid = codec.ErrInvalid
	// ErrBusy: another process held a lock on the file for longer than
	// Options.BusyTimeout. The operation did nothing; it may be retried.
	ErrBusy = errors.New("airnest: database busy")
)

// kindOf returns the sentinel a SQLite error belongs under, if any.
func kindOf(err error) error {
	switch {
	case sqlite.IsUnique(err):
		return ErrConflict
	case sqlite.IsBusy(err):
		return ErrBusy
	}
	return nil
}

// wrapOp prefixes err with the collection and operation, adding ErrConflict
// or ErrBusy when SQLite's error is one of those.
func wrapOp(coll, op string, err error) error {
	if err == nil {
		return nil
	}
	if k := kindOf(err); k != nil && !errors.Is(err, k) {
		return fmt.Errorf("airnest: %s.%s: %w: %w", coll, op, k, err)
	}
	return fmt.Errorf("airnest: %s.%s: %w", coll, op, err)
}
