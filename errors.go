package airnest

import (
	"errors"

	"github.com/airnest/airnest/codec"
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
)
