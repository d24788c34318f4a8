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
// # Limits
//
// Nil and empty slices and maps stay distinct (nil is left out, empty is
// stored). Values held in interface fields decode to fxamacker's default
// types (uint64/int64, float64, string, []byte, []any, map[any]any,
// time.Time). A struct type that contains itself (through pointers, slices
// or maps) cannot be given integer keys; it is stored with fxamacker's
// default rules (string field names, times without the exactness checks
// above), so renames and type changes inside it are not protected. For
// values whose nesting depth is not bounded by their type (interface fields,
// recursive types, cbor.RawMessage) the encoding is checked against the
// decoder's limits before it is returned, so that what Append accepts
// Decode reads back. The decoder allows the maximum fxamacker permits:
// 65535 nesting levels, 2^31-1 array elements and map pairs (lengths are
// checked against the input size before anything is allocated).
package codec
