package airnest

import "github.com/airnest/airnest/internal/sqlgen"

// Filter is one condition of a query on a declared index column (or "id"),
// made by Eq, Ne, Lt, Lte, Gt, Gte, In, Between, Prefix, IsNull and combined
// by And, Or and Not. A Filter is a plain value, safe to share and reuse.
//
// A column can hold NULL when its field is a pointer or a []byte (nil), a
// time.Time (zero), an ID (zero) or a float (NaN). Eq(col, nil) and IsNull
// match NULL; Ne matches NULL when its value is not NULL; Lt, Lte, Gt, Gte,
// Between, In and Prefix never match NULL, and their values may not be NULL.
// Not is plain logical negation: Not(Lt("n", 5)) matches a NULL n.
type Filter struct {
	op   sqlgen.Op
	col  string
	vals []any
	kids []Filter
	ok   bool // false for the zero Filter
}

func leaf(op sqlgen.Op, col string, vals ...any) Filter {
	return Filter{op: op, col: col, vals: vals, ok: true}
}

// Eq matches values whose column col equals v. v must have the field's Go
// type, or be a constant or plain Go value that converts to it without loss
// (an int for an int64 or uint16 field, a string for a named string type).
// It is converted exactly as Save writes the column: a time.Time as unix
// nanoseconds, an ID as its 16 bytes, a Stringer or TextMarshaler as its
// text. v == nil (or a zero time or ID) matches NULL on a nullable column.
func Eq(col string, v any) Filter { return leaf(sqlgen.OpEq, col, v) }

// Ne matches values whose column col differs from v (NULL differs from any
// value that is not NULL).
func Ne(col string, v any) Filter { return leaf(sqlgen.OpNe, col, v) }

// Lt matches values whose column col is less than v, in SQLite's order:
// numbers (and times) as numbers, text and bytes byte by byte.
func Lt(col string, v any) Filter { return leaf(sqlgen.OpLt, col, v) }

// Lte matches values whose column col is at most v.
func Lte(col string, v any) Filter { return leaf(sqlgen.OpLte, col, v) }

// Gt matches values whose column col is greater than v.
func Gt(col string, v any) Filter { return leaf(sqlgen.OpGt, col, v) }

// Gte matches values whose column col is at least v.
func Gte(col string, v any) Filter { return leaf(sqlgen.OpGte, col, v) }

// Between matches values whose column col lies between lo and hi, both
// included.
func Between(col string, lo, hi any) Filter { return leaf(sqlgen.OpBetween, col, lo, hi) }

// In matches values whose column col equals one of vals. Any number of
// values works: they travel as one bound parameter, not one per value.
// In with no values matches nothing; In(col) needs the type spelt out,
// In[string]("status"), or an empty slice, In("status", names...).
func In[V any](col string, vals ...V) Filter {
	vs := make([]any, len(vals))
	for i, v := range vals {
		vs[i] = v
	}
	return Filter{op: sqlgen.OpIn, col: col, vals: vs, ok: true}
}

// Prefix matches values whose text column col starts with prefix, byte for
// byte: case-sensitive, and % or _ in prefix are ordinary characters. It is
// a range on the column's index, not a LIKE.
func Prefix(col, prefix string) Filter { return leaf(sqlgen.OpPrefix, col, prefix) }

// IsNull matches values whose column col is NULL (see Filter).
func IsNull(col string) Filter { return leaf(sqlgen.OpIsNull, col) }

// And matches values that every filter matches; And() matches everything.
func And(filters ...Filter) Filter {
	return Filter{op: sqlgen.OpAnd, kids: filters, ok: true}
}

// Or matches values that at least one filter matches; Or() matches nothing.
func Or(filters ...Filter) Filter {
	return Filter{op: sqlgen.OpOr, kids: filters, ok: true}
}

// Not matches the values f does not match.
func Not(f Filter) Filter {
	return Filter{op: sqlgen.OpNot, kids: []Filter{f}, ok: true}
}

var opNames = map[sqlgen.Op]string{
	sqlgen.OpAnd: "And", sqlgen.OpOr: "Or", sqlgen.OpNot: "Not",
	sqlgen.OpEq: "Eq", sqlgen.OpNe: "Ne", sqlgen.OpLt: "Lt", sqlgen.OpLte: "Lte",
	sqlgen.OpGt: "Gt", sqlgen.OpGte: "Gte", sqlgen.OpBetween: "Between",
	sqlgen.OpPrefix: "Prefix", sqlgen.OpIn: "In", sqlgen.OpIsNull: "IsNull",
}
