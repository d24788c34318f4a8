package airnest

import (
	"bytes"
	"database/sql/driver"
	"fmt"
	"time"

	"github.com/gofrs/uuid/v5"
)

// ID is the identity of a value of type T: a UUIDv7, so IDs sort in creation
// order. It is stored as a 16-byte BLOB primary key. ID[Job] and ID[Session]
// are distinct types, so the compiler rejects one where the other is expected.
//
// The zero ID means "not saved yet": Save assigns a fresh one.
// ID is a small value type, safe to copy and to use from many goroutines.
type ID[T any] struct {
	u uuid.UUID
}

// NewID returns a fresh UUIDv7 identity. IDs made by one process are strictly
// increasing (the generator keeps a monotonic counter within a millisecond).
func NewID[T any]() ID[T] {
	u, err := uuid.NewV7()
	if err != nil {
		// uuid.NewV7 fails only when the system's random source fails.
		panic(fmt.Sprintf("airnest: cannot generate UUIDv7: %v", err))
	}
	return ID[T]{u}
}

// ParseID parses the canonical text form (as String returns it) or any form
// gofrs/uuid accepts. The error wraps ErrInvalid.
func ParseID[T any](s string) (ID[T], error) {
	u, err := uuid.FromString(s)
	if err != nil {
		return ID[T]{}, fmt.Errorf("%w: id %q: %v", ErrInvalid, s, err)
	}
	return ID[T]{u}, nil
}

// IDFromBytes makes an ID from its 16-byte stored form.
func IDFromBytes[T any](b []byte) (ID[T], error) {
	u, err := uuid.FromBytes(b)
	if err != nil {
		return ID[T]{}, fmt.Errorf("%w: id bytes: %v", ErrInvalid, err)
	}
	return ID[T]{u}, nil
}

// String returns the canonical 36-character form.
func (id ID[T]) String() string { return id.u.String() }

// IsZero reports whether id is the zero ID (never assigned).
func (id ID[T]) IsZero() bool { return id.u.IsNil() }

// Bytes returns the 16-byte stored form.
func (id ID[T]) Bytes() []byte { return id.u.Bytes() }

// UUID returns the underlying UUID.
func (id ID[T]) UUID() uuid.UUID { return id.u }

// Time returns the creation time encoded in a UUIDv7, with millisecond
// precision; the zero time when id is not a UUIDv7.
func (id ID[T]) Time() time.Time {
	if id.u.Version() != uuid.V7 {
		return time.Time{}
	}
	ts, err := uuid.TimestampFromV7(id.u)
	if err != nil {
		return time.Time{}
	}
	t, err := ts.Time()
	if err != nil {
		return time.Time{}
	}
	return t
}

// Compare orders IDs by their bytes, which for UUIDv7 is creation order.
func (id ID[T]) Compare(other ID[T]) int { return bytes.Compare(id.u[:], other.u[:]) }

// MarshalText implements encoding.TextMarshaler (and so JSON as a string).
func (id ID[T]) MarshalText() ([]byte, error) { return []byte(id.u.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID[T]) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*id = ID[T]{}
		return nil
	}
	u, err := uuid.FromString(string(b))
	if err != nil {
		return fmt.Errorf("%w: id %q: %v", ErrInvalid, b, err)
	}
	id.u = u
	return nil
}

// MarshalCBOR encodes the ID as a 16-byte CBOR byte string (0x50 + bytes).
func (id ID[T]) MarshalCBOR() ([]byte, error) {
	b := make([]byte, 17)
	b[0] = 0x50
	copy(b[1:], id.u[:])
	return b, nil
}

// UnmarshalCBOR decodes a 16-byte CBOR byte string (or an empty one, for the zero ID).
func (id *ID[T]) UnmarshalCBOR(b []byte) error {
	switch {
	case len(b) == 17 && b[0] == 0x50:
		copy(id.u[:], b[1:])
		return nil
	case len(b) == 1 && (b[0] == 0x40 || b[0] == 0xf6): // empty bytes or null
		*id = ID[T]{}
		return nil
	}
	return fmt.Errorf("%w: id: want a 16-byte CBOR byte string, got % x", ErrSchema, b)
}

// Value implements driver.Valuer, so an ID can be a database/sql argument.
func (id ID[T]) Value() (driver.Value, error) { return id.u.Bytes(), nil }

// Scan implements sql.Scanner for the 16-byte form.
func (id *ID[T]) Scan(src any) error {
	b, ok := src.([]byte)
	if !ok {
		return fmt.Errorf("%w: id: cannot scan %T", ErrInvalid, src)
	}
	u, err := uuid.FromBytes(b)
	if err != nil {
		return fmt.Errorf("%w: id: %v", ErrInvalid, err)
	}
	id.u = u
	return nil
}

// rawID lets the index and query code recognise an ID[X] of any X.
type rawID interface{ rawID() [16]byte }

func (id ID[T]) rawID() [16]byte { return id.u }

// MustParseID is ParseID that panics on a malformed id, for constants in
// tests and examples.
func MustParseID[T any](s string) ID[T] {
	id, err := ParseID[T](s)
	if err != nil {
		panic(err)
	}
	return id
}
