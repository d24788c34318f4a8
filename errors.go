package airnest

import (
	"errors"
	"fmt"
	"strings"

	"github.com/airnest/airnest/codec"
	"github.com/airnest/airnest/internal/backend"
)

// Sentinel errors. Every error airnest returns wraps one of these (or a
// context error) with %w, and keeps the underlying database error reachable,
// so both errors.Is(err, airnest.ErrConflict) and errors.Is(err,
// sqlite3.BUSY) (or errors.As(err, &pgErr) with a *pgconn.PgError) work.
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
	// ErrGap: a watch asked for changes that the collection's change log no
	// longer holds (retention removed them), so it cannot deliver every
	// change after the Seq it resumes from (see ChangeLog and Watch).
	ErrGap = errors.New("airnest: changes missing from the change log")
)

// kindOf returns the sentinel a database error belongs under, if any.
func kindOf(err error) error {
	switch backend.Classify(err) {
	case backend.Unique:
		return ErrConflict
	case backend.Busy:
		return ErrBusy
	}
	return nil
}

// isUnique reports a database error for a UNIQUE constraint.
func isUnique(err error) bool { return backend.Classify(err) == backend.Unique }

// wrapOp prefixes err with the collection and operation, adding ErrConflict
// or ErrBusy when the database's error is one of those.
func wrapOp(coll, op string, err error) error {
	if err == nil {
		return nil
	}
	if k := kindOf(err); k != nil && !errors.Is(err, k) {
		return errorf("airnest: %s.%s: %w: %w", coll, op, k, err)
	}
	return errorf("airnest: %s.%s: %w", coll, op, err)
}

// errorf is fmt.Errorf whose text says "airnest: " once, at the front,
// however many airnest errors it wraps: "airnest: Run.Save: conflict: ...",
// not "airnest: Run.Save: airnest: conflict: ...". errors.Is and errors.As
// see every wrapped error as usual.
func errorf(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &tidyError{msg: tidyText(err.Error()), err: err}
}

type tidyError struct {
	msg string
	err error
}

func (e *tidyError) Error() string { return e.msg }
func (e *tidyError) Unwrap() error { return e.err }

const errPrefix = "airnest: "

// tidyText keeps the first "airnest: " of s and drops the later ones.
func tidyText(s string) string {
	i := strings.Index(s, errPrefix)
	if i < 0 {
		return s
	}
	i += len(errPrefix)
	return s[:i] + strings.ReplaceAll(s[i:], errPrefix, "")
}

// article is "a" or "an", whichever goes before the type name s.
func article(s string) string {
	s = strings.TrimLeft(s, "*[]")
	if s != "" && strings.ContainsRune("aeiouAEIOU", rune(s[0])) {
		return "an"
	}
	return "a"
}
