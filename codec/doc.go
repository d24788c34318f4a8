// Package codec encodes airnest values as CBOR (RFC 8949) with small
// integer map keys, and decodes them back.
//
// # Format
//
// A struct is a CBOR map from unsigned integer keys to field values; nested
// structs (directly, or as elements of slices, arrays, pointers and map
// values) are maps of the same kind with their own key space. Zero fields
// (reflect.Value.IsZero: nil pointers, slices and maps, "", 0, false, the
// zero time) are left out, so adding fields costs nothing for old values.
// Encoding is deterministic (RFC 8949 core deterministic: map keys sorted,
// shortest lengths). Floats use the shortest width that holds the value
// exactly (including -0, infinities and NaN payloads). time.Time is tag 0
// with an RFC 3339 string carrying nanoseconds and the zone offset; times
// outside years 0..9999 or with a zone offset that has seconds are refused at
// encode time rather than stored inexactly. Decoding restores the instant and
// the offset; the zone's name is not stored (a time whose offset matches the
// local zone comes back in time.Local). Types with their own encoding
// (cbor.Marshaler, encoding.BinaryMarshaler as a byte string, big.Int,
// cbor.RawMessage, ...) keep it.
//
// Keys come from a Registry, one per collection, that maps (key space,
// stored name) to a key. The root struct is key space "", the struct inside
// field Steps is key space "Steps", a struct inside its field Args is
// "Steps.Args". The stored name of a field is its Go name, or the name given
// by an `airnest:"name"` tag. An embedded struct is stored as one field
// named after its type, with its own key space (it is not flattened). A new
// name gets the largest key its space ever had, plus one; entries are never
// deleted, so a key is never reused. An explicit `cbor:"N,keyasint"` tag
// fixes the key; `cbor:"-"` or `airnest:"-"` skips a field. Unexported
// fields are neither encoded nor changed.
//
// # Schema evolution
//
//	change                          old stored values
//	add a field (anywhere)          decode; the field is zero
//	remove a field                  decode; the dropped data is ignored
//	reorder fields                  nothing changes
//	rename a field                  keep the old stored name: `airnest:"Old"`
//	rename a nested struct type     nothing changes (keys follow field paths)
//	change a field's type           compatible values decode (int to int64,
//	                                in range); others fail with ErrSchema
//	                                naming the field, the stored and the new
//	                                type. A wrong value is never returned.
//
// # Supported types
//
// Fields may be booleans, integers, floats, strings, byte slices, structs,
// slices, arrays, maps, pointers, interfaces, time.Time and types with their
// own encoding. chan, func, unsafe.Pointer, uintptr and complex types, and a
// pointer type that points to itself (type P *P), are refused by New (and
// so when a collection is declared) with ErrInvalid naming the field path
// and the type.
//
// # Values in interfaces
//
// A value held in an empty interface (any) decodes to the types
// encoding/json users expect, whatever Go type it was saved from:
//
//	stored                          decodes to
//	integer                         int64 (uint64 only above math.MaxInt64,
//	                                *big.Int below math.MinInt64)
//	float (any width)               float64
//	string                          string
//	byte slice                      []byte
//	bool                            bool
//	nil                             nil
//	array, slice                    []any
//	map with only string keys       map[string]any (also a struct's fields)
//	map with other keys             map[any]any (encoding/json rejects it)
//	time (tag 0 or 1)               time.Time (instant and offset)
//	big integer (tag 2 or 3)        *big.Int
//	other tag                       cbor.Tag
//
// The same holds for interfaces nested in slices, maps, pointers and
// recursive types. Keys of a typed map with interface keys (map[any]T) are
// left as fxamacker decodes them.
//
// # Limits
//
// Nil and empty slices and maps stay distinct (nil is left out, empty is
// stored). A type that contains itself (a struct such as
// Tree{Kids []*Tree}, or a slice or map type such as type L []L or type M
// map[string]M, also through pointers, arrays and other such types) cannot
// be given integer keys; it is stored with fxamacker's default rules (string
// field names, times without the exactness checks above, `airnest:` tags
// not read: use `cbor:"-"` to leave a field out), so renames and type
// changes inside it are not protected.
//
// A value that refers back to itself (n.Parent = &n, a map or slice that
// holds itself through an interface) cannot be stored: Append returns
// ErrInvalid naming the field path. Only types that can hold such a cycle
// (they reach an interface or contain themselves) are checked, by walking
// the value before encoding; as in encoding/json the walk starts tracking
// references only past 1000 levels, so ordinary values cost a walk and no
// allocation, and values of other types cost nothing.
//
// For values whose nesting depth is not bounded by their type (interface
// fields, recursive types, cbor.RawMessage) the encoding is checked against
// the decoder's limits before it is returned, so that what Append accepts
// Decode reads back. The decoder allows the maximum fxamacker permits:
// 65535 nesting levels, 2^31-1 array elements and map pairs (lengths are
// checked against the input size before anything is allocated).
package codec
