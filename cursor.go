package airnest

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"math"
	"reflect"

	"github.com/airnest/airnest/internal/sqlgen"
)

// Cursor returns the cursor that marks v in this query's ordering, for After:
// the page after it starts with the value that follows v. v need not be
// stored; its sort keys and ID are what count.
func (q *Query[T]) Cursor(v T) (string, error) {
	if q.err != nil {
		return "", q.err
	}
	keys, cols := q.keys()
	vals := make([]sqlValue, len(keys))
	rv := reflect.ValueOf(&v).Elem()
	for i, col := range cols {
		sv, err := col.value(rv)
		if err != nil {
			return "", q.invalid("Cursor: column %q (field %s): %v", col.name, col.field, err)
		}
		if sv.kind == sqlFloat && math.IsNaN(sv.f) {
			sv = sqlValue{}
		}
		vals[i] = sv
	}
	return q.encodeCursor(keys, vals), nil
}

// A cursor is base64url (unpadded, strict) of: a version byte, a 4-byte
// hash of the table and ordering it belongs to, each sort key's value as a
// kind byte and its bytes (varint, 8-byte float, or length-prefixed text or
// blob), then a CRC-32 of all that. The CRC makes every change of one
// character, and every truncation, an invalid cursor rather than another
// valid one (a CRC-32 catches every error burst up to 32 bits; a cut cursor
// passes only by a 1 in 2^32 chance).
const cursorVersion = 2

var cursorEncoding = base64.RawURLEncoding.Strict()

func (q *Query[T]) cursorHash(keys []sqlgen.Key) []byte {
	h := fnv.New32a()
	h.Write([]byte(q.c.c.name))
	for _, k := range keys {
		fmt.Fprintf(h, "\x00%s\x00%t", k.Col, k.Desc)
	}
	return h.Sum(nil)
}

func (q *Query[T]) encodeCursor(keys []sqlgen.Key, vals []sqlValue) string {
	b := []byte{cursorVersion}
	b = append(b, q.cursorHash(keys)...)
	for _, v := range vals {
		b = append(b, v.kind)
		switch v.kind {
		case sqlInt:
			b = binary.AppendVarint(b, v.i)
		case sqlFloat:
			b = binary.BigEndian.AppendUint64(b, math.Float64bits(v.f))
		case sqlText:
			b = binary.AppendUvarint(b, uint64(len(v.s)))
			b = append(b, v.s...)
		case sqlBlob:
			b = binary.AppendUvarint(b, uint64(len(v.b)))
			b = append(b, v.b...)
		}
	}
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	return cursorEncoding.EncodeToString(b)
}

var errCursor = errors.New("not a cursor of this query")

func (q *Query[T]) decodeCursor(keys []sqlgen.Key, s string) ([]sqlValue, error) {
	b, err := cursorEncoding.DecodeString(s)
	if err != nil || len(b) < 9 || b[0] != cursorVersion {
		return nil, q.invalid("After: %v", errCursor)
	}
	sum := len(b) - 4
	if crc32.ChecksumIEEE(b[:sum]) != binary.BigEndian.Uint32(b[sum:]) {
		return nil, q.invalid("After: %v (damaged or cut)", errCursor)
	}
	b = b[:sum]
	if !bytes.Equal(b[1:5], q.cursorHash(keys)) {
		return nil, q.invalid("After: the cursor was made for another collection or ordering")
	}
	b = b[5:]
	cols := q.keyCols(keys)
	vals := make([]sqlValue, len(keys))
	for i, k := range keys {
		if len(b) == 0 {
			return nil, q.invalid("After: %v", errCursor)
		}
		v := sqlValue{kind: b[0]}
		b = b[1:]
		ok := true
		switch v.kind {
		case sqlNull:
			ok = k.Nullable
		case sqlInt:
			var n int
			v.i, n = binary.Varint(b)
			ok, b = n > 0 && cols[i] == "INTEGER", b[max(n, 0):]
		case sqlFloat:
			ok = len(b) >= 8 && cols[i] == "REAL"
			if ok {
				v.f, b = math.Float64frombits(binary.BigEndian.Uint64(b)), b[8:]
			}
		case sqlText, sqlBlob:
			l, n := binary.Uvarint(b)
			ok = n > 0 && l <= uint64(len(b)-n)
			if ok {
				if v.kind == sqlText {
					v.s, ok = string(b[n:n+int(l)]), cols[i] == "TEXT"
				} else {
					v.b, ok = b[n:n+int(l)], cols[i] == "BLOB"
				}
				b = b[n+int(l):]
			}
		default:
			ok = false
		}
		if k.Col == sqlgen.IDColumn && (v.kind != sqlBlob || len(v.b) != 16) {
			ok = false
		}
		if !ok {
			return nil, q.invalid("After: %v", errCursor)
		}
		vals[i] = v
	}
	if len(b) != 0 {
		return nil, q.invalid("After: %v", errCursor)
	}
	return vals, nil
}

// keyCols is the SQL type of each sort key's column.
func (q *Query[T]) keyCols(keys []sqlgen.Key) []string {
	types := make([]string, len(keys))
	for i, k := range keys {
		types[i] = "BLOB"
		for _, c := range q.c.c.cols {
			if c.name == k.Col {
				types[i] = c.sql
			}
		}
	}
	return types
}
