package airnest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"iter"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/airnest/airnest/internal/sqlgen"
	"github.com/airnest/airnest/internal/sqlite"
)

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

// Query is a query on one collection, made by Coll.Where. Its methods return
// a new Query and leave the receiver as it was, so a base query can be
// extended in several directions. A Query is safe for concurrent use; one
// made from a Coll bound to a Tx must stay inside the Tx's closure.
//
// A mistake in the query (an undeclared column, a value of the wrong type)
// is kept and returned, wrapping ErrInvalid, by every method that runs it.
type Query[T any] struct {
	c      *Coll[T]
	err    error
	where  sqlgen.Expr
	vals   []sqlValue
	order  []orderKey
	limit  int // -1: none
	offset int // -1: none
	after  string
}

type orderKey struct {
	col  *indexCol
	desc bool
}

// Where starts a query on the collection's declared index columns (and
// "id"): the values that every filter matches, in ID (creation) order until
// OrderBy says otherwise. Where() with no filter means every value. Filter
// values are always bound parameters; names are checked against the
// declared columns.
func (c *Coll[T]) Where(filters ...Filter) *Query[T] {
	q := &Query[T]{c: c, limit: -1, offset: -1}
	q.where, q.err = q.compile(And(filters...))
	return q
}

func (q *Query[T]) clone() *Query[T] {
	n := *q
	n.order = append([]orderKey(nil), q.order...)
	return &n
}

func (q *Query[T]) fail(format string, args ...any) *Query[T] {
	n := q.clone()
	if n.err == nil {
		n.err = q.invalid(format, args...)
	}
	return n
}

func (q *Query[T]) invalid(format string, args ...any) error {
	return errorf("airnest: %s.Where: %w: %s", q.c.c.name, ErrInvalid, fmt.Sprintf(format, args...))
}

// OrderBy sorts by col, ascending, after any earlier keys. NULL sorts first.
// Values that tie on every key are in ID order, so the order is total and
// pages never overlap.
func (q *Query[T]) OrderBy(col string) *Query[T] { return q.orderBy(col, false) }

// OrderByDesc sorts by col, descending, after any earlier keys. NULL sorts
// last; ties are broken by ID, descending when the last key is.
func (q *Query[T]) OrderByDesc(col string) *Query[T] { return q.orderBy(col, true) }

func (q *Query[T]) orderBy(name string, desc bool) *Query[T] {
	op := "OrderBy"
	if desc {
		op = "OrderByDesc"
	}
	col, err := q.column(op, name)
	if err != nil {
		n := q.clone()
		if n.err == nil {
			n.err = err
		}
		return n
	}
	n := q.clone()
	n.order = append(n.order, orderKey{col, desc})
	return n
}

// Limit returns at most n values (Count counts at most n). n must not be
// negative; Limit(0) matches nothing.
func (q *Query[T]) Limit(n int) *Query[T] {
	if n < 0 {
		return q.fail("Limit(%d): negative", n)
	}
	c := q.clone()
	c.limit = n
	return c
}

// Offset skips the first n values. Prefer After for paging: an offset
// still reads the rows it skips, and shifts when values are added.
func (q *Query[T]) Offset(n int) *Query[T] {
	if n < 0 {
		return q.fail("Offset(%d): negative", n)
	}
	c := q.clone()
	c.offset = n
	return c
}

// After continues the query after the value that cursor marks (keyset
// paging): cursor comes from Page or Cursor of a query with the same
// ordering, and "" means from the start. Unlike Offset it reads no skipped
// rows, and values added or removed meanwhile never make a page repeat or
// skip a value that stays put. A cursor is opaque, URL-safe text that a
// server may hand to its clients; it holds the marked value's sort keys and
// ID (readable by anyone who decodes it, not secret) and a checksum. A
// cursor that does not fit the query's ordering, or was damaged or cut,
// makes the query fail with ErrInvalid.
func (q *Query[T]) After(cursor string) *Query[T] {
	c := q.clone()
	c.after = cursor
	return c
}

// column resolves a column name used in a query.
func (q *Query[T]) column(op, name string) (*indexCol, error) {
	cc := q.c.c
	key := foldName(name)
	for i := range cc.cols {
		if foldName(cc.cols[i].name) == key {
			return &cc.cols[i], nil
		}
	}
	if key == sqlgen.IDColumn {
		return idColumn[T](), nil
	}
	names := make([]string, 0, len(cc.cols)+1)
	for _, c := range cc.cols {
		names = append(names, c.name)
	}
	names = append(names, sqlgen.IDColumn)
	return nil, q.invalid("%s(%s): no such column; a query can use the declared index columns (any case, underscores ignored): %s", op, quoteName(name), strings.Join(names, ", "))
}

// quoteName shows a (maybe hostile) name in an error message, shortened.
func quoteName(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + fmt.Sprintf("... (%d bytes)", len(s))
	}
	return strconv.Quote(s)
}

var idCols sync.Map // reflect.Type of ID[T] -> *indexCol

// idColumn describes the primary key as a query column.
func idColumn[T any]() *indexCol {
	t := reflect.TypeFor[ID[T]]()
	if c, ok := idCols.Load(t); ok {
		return c.(*indexCol)
	}
	typ, conv, _ := converter(t)
	f, _ := reflect.TypeFor[T]().FieldByName("ID")
	c, _ := idCols.LoadOrStore(t, &indexCol{name: sqlgen.IDColumn, field: "ID", index: f.Index, typ: t, sql: typ, conv: conv})
	return c.(*indexCol)
}

// compile checks f against the collection's columns and turns it into an
// expression whose values are collected in q.vals.
func (q *Query[T]) compile(f Filter) (sqlgen.Expr, error) {
	if !f.ok {
		return sqlgen.Expr{}, q.invalid("a zero Filter (make filters with airnest.Eq, And, ...)")
	}
	name := opNames[f.op]
	switch f.op {
	case sqlgen.OpAnd, sqlgen.OpOr, sqlgen.OpNot:
		e := sqlgen.Expr{Op: f.op, Kids: make([]sqlgen.Expr, len(f.kids))}
		for i, k := range f.kids {
			var err error
			if e.Kids[i], err = q.compile(k); err != nil {
				return sqlgen.Expr{}, err
			}
		}
		return e, nil
	}
	col, err := q.column(name, f.col)
	if err != nil {
		return sqlgen.Expr{}, err
	}
	e := sqlgen.Expr{Op: f.op, Col: col.name, Type: col.sql, Nullable: col.name != sqlgen.IDColumn && nullable(col.typ)}
	arg := func(v sqlValue) {
		e.Args = append(e.Args, len(q.vals))
		q.vals = append(q.vals, v)
	}
	where := fmt.Sprintf("%s(%s)", name, quoteName(f.col))
	switch f.op {
	case sqlgen.OpIsNull:
	case sqlgen.OpPrefix:
		if col.sql != "TEXT" {
			return sqlgen.Expr{}, q.invalid("%s: column %q (field %s %s) is not text", where, col.name, col.field, col.typ)
		}
		lo := f.vals[0].(string)
		arg(sqlValue{kind: sqlText, s: lo})
		arg(prefixEnd(lo))
	case sqlgen.OpIn:
		js, err := q.inList(where, col, f.vals)
		if err != nil {
			return sqlgen.Expr{}, err
		}
		arg(sqlValue{kind: sqlText, s: js})
	default:
		for _, v := range f.vals {
			sv, err := queryValue(col, v)
			if err != nil {
				return sqlgen.Expr{}, q.invalid("%s: %v", where, err)
			}
			if sv.kind == sqlNull && f.op != sqlgen.OpEq && f.op != sqlgen.OpNe {
				return sqlgen.Expr{}, q.invalid("%s: %s is stored as NULL, which has no order (use IsNull)", where, describe(v))
			}
			arg(sv)
		}
	}
	return e, nil
}

// inList renders In's values as one JSON array (see sqlgen's inValue).
func (q *Query[T]) inList(where string, col *indexCol, vals []any) (string, error) {
	var b []byte
	b = append(b, '[')
	for i, v := range vals {
		sv, err := queryValue(col, v)
		if err != nil {
			return "", q.invalid("%s: value %d: %v", where, i, err)
		}
		if i > 0 {
			b = append(b, ',')
		}
		switch sv.kind {
		case sqlNull:
			return "", q.invalid("%s: value %d: %s is stored as NULL, which In never matches (use Or with IsNull)", where, i, describe(v))
		case sqlInt:
			b = strconv.AppendInt(b, sv.i, 10)
		case sqlFloat:
			switch {
			case math.IsInf(sv.f, 1):
				b = append(b, "9e999"...)
			case math.IsInf(sv.f, -1):
				b = append(b, "-9e999"...)
			default:
				b = strconv.AppendFloat(b, sv.f, 'g', -1, 64)
			}
		case sqlText:
			b = append(b, '"')
			b = hex.AppendEncode(b, []byte(sv.s))
			b = append(b, '"')
		case sqlBlob:
			b = append(b, '"')
			b = hex.AppendEncode(b, sv.b)
			b = append(b, '"')
		}
	}
	b = append(b, ']')
	return string(b), nil
}

// prefixEnd is the least text greater than every text starting with p: p
// with its last byte below 0xFF incremented. When there is none (p is empty
// or all 0xFF), it is an empty blob, which SQLite sorts after all text.
func prefixEnd(p string) sqlValue {
	b := []byte(p)
	for len(b) > 0 && b[len(b)-1] == 0xFF {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		return sqlValue{kind: sqlBlob, b: []byte{}}
	}
	b[len(b)-1]++
	return sqlValue{kind: sqlText, s: string(b)}
}

// nullable reports whether a column of Go type t can hold NULL.
func nullable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Float32, reflect.Float64:
		return true
	}
	return t == timeType || t.Implements(rawIDType)
}

func describe(v any) string {
	if v == nil {
		return "nil"
	}
	s := fmt.Sprint(v)
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return fmt.Sprintf("%T value %s", v, s)
}

// queryValue converts a value given in a query to the column's SQL value,
// exactly as Save converts the field: first to the field's Go type, which
// must happen without loss.
func queryValue(col *indexCol, v any) (sqlValue, error) {
	ft := col.typ
	mismatch := func() (sqlValue, error) {
		t := fmt.Sprintf("%T", v)
		return sqlValue{}, fmt.Errorf("column %q is field %s of type %s; %s %s does not fit", col.name, col.field, ft, article(t), t)
	}
	if v == nil {
		if col.name != sqlgen.IDColumn && nullable(ft) && ft.Kind() != reflect.Float32 && ft.Kind() != reflect.Float64 {
			return sqlValue{}, nil
		}
		return sqlValue{}, fmt.Errorf("column %q is field %s of type %s, never NULL; nil does not fit", col.name, col.field, ft)
	}
	rv := reflect.ValueOf(v)
	conv := col.conv
	base := ft
	if rv.Type() != ft {
		for base.Kind() == reflect.Pointer {
			base = base.Elem()
		}
		if base != ft {
			_, c, err := converter(base)
			if err != nil {
				return sqlValue{}, err
			}
			conv = c
		}
		if rv.Type() != base {
			cv, ok := convertExact(rv, base)
			if !ok {
				return mismatch()
			}
			rv = cv
		}
	}
	sv, err := conv(rv)
	if err != nil {
		return sqlValue{}, fmt.Errorf("column %q (field %s %s): %v", col.name, col.field, ft, err)
	}
	if sv.kind == sqlFloat && math.IsNaN(sv.f) {
		sv = sqlValue{} // SQLite stores NaN as NULL
	}
	return sv, nil
}

// convertExact converts a plain Go value (a predeclared or unnamed type, as
// untyped constants become) to t when nothing is lost: 3 for an int64 or
// uint8 field, 2 for a float64, 2.0 (not 2.5) for an int, "x" for a named
// string type. Values of other named types are not converted: a Level is
// not a Priority.
func convertExact(v reflect.Value, t reflect.Type) (reflect.Value, bool) {
	if v.Type().PkgPath() != "" {
		return reflect.Value{}, false
	}
	out := reflect.New(t).Elem()
	switch k := v.Kind(); {
	case isInt(k) && isInt(t.Kind()):
		if out.OverflowInt(v.Int()) {
			return reflect.Value{}, false
		}
		out.SetInt(v.Int())
	case isUint(k) && isInt(t.Kind()):
		if v.Uint() > math.MaxInt64 || out.OverflowInt(int64(v.Uint())) {
			return reflect.Value{}, false
		}
		out.SetInt(int64(v.Uint()))
	case isInt(k) && isUint(t.Kind()):
		if v.Int() < 0 || out.OverflowUint(uint64(v.Int())) {
			return reflect.Value{}, false
		}
		out.SetUint(uint64(v.Int()))
	case isUint(k) && isUint(t.Kind()):
		if out.OverflowUint(v.Uint()) {
			return reflect.Value{}, false
		}
		out.SetUint(v.Uint())
	case isInt(k) && isFloat(t.Kind()):
		f := float64(v.Int())
		if f >= math.MaxInt64 || int64(f) != v.Int() || out.OverflowFloat(f) {
			return reflect.Value{}, false
		}
		out.SetFloat(f)
	case isFloat(k) && isFloat(t.Kind()):
		out.SetFloat(v.Float())
	case isFloat(k) && isInt(t.Kind()):
		// 2.0 is an int; 2.5, NaN and what overflows are not.
		f := v.Float()
		if f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 || out.OverflowInt(int64(f)) {
			return reflect.Value{}, false
		}
		out.SetInt(int64(f))
	case isFloat(k) && isUint(t.Kind()):
		f := v.Float()
		if f != math.Trunc(f) || f < 0 || f >= math.MaxUint64 || out.OverflowUint(uint64(f)) {
			return reflect.Value{}, false
		}
		out.SetUint(uint64(f))
	case k == reflect.Bool && t.Kind() == reflect.Bool,
		k == reflect.String && t.Kind() == reflect.String,
		k == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 &&
			t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		out.Set(v.Convert(t))
	default:
		return reflect.Value{}, false
	}
	return out, true
}

func isInt(k reflect.Kind) bool   { return k >= reflect.Int && k <= reflect.Int64 }
func isUint(k reflect.Kind) bool  { return k >= reflect.Uint && k <= reflect.Uintptr }
func isFloat(k reflect.Kind) bool { return k == reflect.Float32 || k == reflect.Float64 }

// keys is the query's complete ordering: the user's keys, then id, in the
// direction of the last key, unless id is already a key.
func (q *Query[T]) keys() ([]sqlgen.Key, []*indexCol) {
	keys := make([]sqlgen.Key, 0, len(q.order)+1)
	cols := make([]*indexCol, 0, len(q.order)+1)
	desc, hasID := false, false
	for _, o := range q.order {
		isID := o.col.name == sqlgen.IDColumn
		hasID = hasID || isID
		keys = append(keys, sqlgen.Key{Col: o.col.name, Desc: o.desc, Nullable: !isID && nullable(o.col.typ)})
		cols = append(cols, o.col)
		desc = o.desc
	}
	if !hasID {
		keys = append(keys, sqlgen.Key{Col: sqlgen.IDColumn, Desc: desc})
		cols = append(cols, idColumn[T]())
	}
	return keys, cols
}

// run is one execution of the query: its ordering, the cursor to continue
// after, and limit and offset.
type run struct {
	keys   []sqlgen.Key
	cols   []*indexCol
	after  []sqlValue // nil: from the start
	limit  int
	offset int
}

func (q *Query[T]) start() (*run, error) {
	if q.err != nil {
		return nil, q.err
	}
	keys, cols := q.keys()
	r := &run{keys: keys, cols: cols, limit: q.limit, offset: max(q.offset, 0)}
	if q.after != "" {
		after, err := q.decodeCursor(keys, q.after)
		if err != nil {
			return nil, err
		}
		r.after = after
	}
	return r, nil
}

// sql writes the statement of kind k for r and lists its parameters.
func (q *Query[T]) sql(r *run, k sqlgen.Kind) (string, []sqlgen.Arg) {
	// Whether Limit and Offset were called is part of the query's shape;
	// their values are bound parameters and never change the text.
	sel := sqlgen.Select{Where: q.where, Order: r.keys, Limit: q.limit >= 0, Offset: q.offset >= 0}
	if r.after != nil {
		sel.After = make([]bool, len(r.after))
		for i, v := range r.after {
			sel.After[i] = v.kind == sqlNull
		}
	}
	return q.c.c.table.Query(sel, k)
}

// Statements are cached per connection by SQL text; the text depends only
// on a query's shape, so a program has a bounded number of them. Shapes past
// the cap (generated filter trees) are prepared for one use.
const maxCachedQueries = 1024

var queryCache struct {
	sync.Mutex
	m map[string]*sqlite.Query
}

func cachedQuery(sql string) *sqlite.Query {
	queryCache.Lock()
	defer queryCache.Unlock()
	if q, ok := queryCache.m[sql]; ok {
		return q
	}
	if len(queryCache.m) >= maxCachedQueries {
		return nil
	}
	if queryCache.m == nil {
		queryCache.m = map[string]*sqlite.Query{}
	}
	q := sqlite.NewQuery(sql)
	queryCache.m[sql] = q
	return q
}

// prepare prepares and binds the statement; release resets or closes it.
func (q *Query[T]) prepare(conn *sqlite.Conn, r *run, sql string, args []sqlgen.Arg) (st *sqlite.Stmt, release func(), err error) {
	return q.prepareCached(conn, r, sql, args, true)
}

func (q *Query[T]) prepareCached(conn *sqlite.Conn, r *run, sql string, args []sqlgen.Arg, cache bool) (st *sqlite.Stmt, release func(), err error) {
	var cq *sqlite.Query
	if cache {
		cq = cachedQuery(sql)
	}
	if cq != nil {
		st, err = conn.Prepare(cq)
		release = func() { st.Reset() }
	} else {
		st, err = conn.PrepareOnce(sql)
		release = func() { st.Close() }
	}
	if err != nil {
		return nil, nil, err
	}
	for i, a := range args {
		var v sqlValue
		switch a.Src {
		case sqlgen.ArgValue:
			v = q.vals[a.I]
		case sqlgen.ArgCursor:
			v = r.after[a.I]
		case sqlgen.ArgLimit:
			v = sqlValue{kind: sqlInt, i: int64(r.limit)}
		case sqlgen.ArgOffset:
			v = sqlValue{kind: sqlInt, i: int64(r.offset)}
		}
		if err := v.bind(st, i+1); err != nil {
			release()
			return nil, nil, err
		}
	}
	return st, release, nil
}

// rows reads the values of one run on conn, with the cursor of each.
func (q *Query[T]) rows(conn *sqlite.Conn, r *run, row func(v T, st *sqlite.Stmt) error) error {
	sql, args := q.sql(r, sqlgen.Rows)
	st, release, err := q.prepare(conn, r, sql, args)
	if err != nil {
		return err
	}
	defer release()
	dec := q.c.c.codec.Load()
	for st.Step() {
		var v T
		if err := dec.Decode(st.ColumnRawBlob(1), &v); err != nil {
			return fmt.Errorf("id %s: %w", rowID(st.ColumnRawBlob(0)), err)
		}
		if err := row(v, st); err != nil {
			return err
		}
	}
	return st.Err()
}

// rowKeys reads the sort keys of the current row of a Rows statement.
func rowKeys(st *sqlite.Stmt, keys []sqlgen.Key) []sqlValue {
	vals := make([]sqlValue, len(keys))
	n := 2
	for i, k := range keys {
		if k.Col == sqlgen.IDColumn {
			vals[i] = sqlValue{kind: sqlBlob, b: st.ColumnBlob(0, nil)}
			continue
		}
		vals[i] = column(st, n)
		n++
	}
	return vals
}

// Find returns the matching values, in order.
// Errors: ErrInvalid (a bad query or cursor), ErrSchema (a stored value does
// not decode into T), ErrClosed, ErrTxDone, the context's error.
func (q *Query[T]) Find(ctx context.Context) ([]T, error) {
	r, err := q.start()
	if err != nil {
		return nil, err
	}
	var out []T
	err = q.c.read(ctx, "Query", func(conn *sqlite.Conn) error {
		return q.rows(conn, r, func(v T, _ *sqlite.Stmt) error {
			out = append(out, v)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// First returns the first matching value; ErrNotFound when none matches.
func (q *Query[T]) First(ctx context.Context) (T, error) {
	var zero T
	vs, err := q.Limit(1).Find(ctx)
	if err != nil {
		return zero, err
	}
	if len(vs) == 0 {
		return zero, errorf("airnest: %s.First: %w: no value matches", q.c.c.name, ErrNotFound)
	}
	return vs[0], nil
}

// Page returns the next page of at most Limit values and the cursor to pass
// to After for the page after it; the cursor is "" when no value follows.
// The query needs a Limit.
//
//	page, next, err := Jobs.Where(airnest.Eq("status", "pending")).
//		OrderBy("priority").Limit(50).After(req.Cursor).Page(ctx)
func (q *Query[T]) Page(ctx context.Context) ([]T, string, error) {
	if q.err == nil && q.limit <= 0 {
		return nil, "", q.invalid("Page needs a Limit above 0")
	}
	r, err := q.start()
	if err != nil {
		return nil, "", err
	}
	r.limit++ // one more tells whether a next page exists
	var out []T
	var last []sqlValue
	err = q.c.read(ctx, "Query", func(conn *sqlite.Conn) error {
		return q.rows(conn, r, func(v T, st *sqlite.Stmt) error {
			if len(out) < q.limit {
				last = rowKeys(st, r.keys)
			}
			out = append(out, v)
			return nil
		})
	})
	if err != nil {
		return nil, "", err
	}
	if len(out) <= q.limit {
		return out, "", nil
	}
	return out[:q.limit], q.encodeCursor(r.keys, last), nil
}

// All streams the matching values in order, a page at a time. It holds no
// connection while the loop body runs, so the body may use the store; the
// pages continue one another by key (as After does), so each value that is
// not changed meanwhile is seen once. An error is yielded once, as the last
// pair. Breaking out of the loop early releases everything.
func (q *Query[T]) All(ctx context.Context) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		r, err := q.start()
		if err != nil {
			yield(zero, err)
			return
		}
		remaining := r.limit
		page := make([]T, 0, allPage)
		for {
			n := allPage
			if remaining >= 0 && remaining < n {
				n = remaining
			}
			if n == 0 {
				return
			}
			r.limit = n
			page = page[:0]
			var last []sqlValue
			err := q.c.read(ctx, "All", func(conn *sqlite.Conn) error {
				return q.rows(conn, r, func(v T, st *sqlite.Stmt) error {
					page = append(page, v)
					if len(page) == n {
						last = rowKeys(st, r.keys)
					}
					return nil
				})
			})
			if err != nil {
				yield(zero, err)
				return
			}
			for _, v := range page {
				if !yield(v, nil) {
					return
				}
			}
			if len(page) < n {
				return
			}
			if remaining > 0 {
				remaining -= n
			}
			r.after, r.offset = last, 0
		}
	}
}

// scalar runs a one-row, one-integer statement of kind k.
func (q *Query[T]) scalar(ctx context.Context, op string, k sqlgen.Kind) (int64, error) {
	r, err := q.start()
	if err != nil {
		return 0, err
	}
	var n int64
	err = q.c.read(ctx, op, func(conn *sqlite.Conn) error {
		sql, args := q.sql(r, k)
		st, release, err := q.prepare(conn, r, sql, args)
		if err != nil {
			return err
		}
		defer release()
		if st.Step() {
			n = st.ColumnInt64(0)
		}
		return st.Err()
	})
	return n, err
}

// Count returns how many values match (within Limit and Offset). It never
// decodes a stored value, and reads only an index when one index holds every
// column the filter names (see Queries in the package doc).
func (q *Query[T]) Count(ctx context.Context) (int, error) {
	n, err := q.scalar(ctx, "Count", sqlgen.Count)
	if q.limit < 0 {
		n = max(n-int64(max(q.offset, 0)), 0) // the statement counts every match
	}
	return int(n), err
}

// Exists reports whether any value matches; it reads what Count reads.
func (q *Query[T]) Exists(ctx context.Context) (bool, error) {
	n, err := q.scalar(ctx, "Exists", sqlgen.Exists)
	return n != 0, err
}

// IDs returns the IDs of the matching values, in order, without decoding the
// stored values. Without a Limit it reads what Count reads, and sorts the
// IDs unless an index holds them in order (an Eq on a column's own index).
func (q *Query[T]) IDs(ctx context.Context) ([]ID[T], error) {
	r, err := q.start()
	if err != nil {
		return nil, err
	}
	var out []ID[T]
	err = q.c.read(ctx, "Query", func(conn *sqlite.Conn) error {
		sql, args := q.sql(r, sqlgen.IDs)
		st, release, err := q.prepare(conn, r, sql, args)
		if err != nil {
			return err
		}
		defer release()
		for st.Step() {
			var id ID[T]
			copy(id.u[:], st.ColumnRawBlob(0))
			out = append(out, id)
		}
		return st.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Delete removes the matching values (within Limit and Offset, in order)
// in one write, and returns how many it removed. It never decodes the stored
// values: it finds the matches as IDs does and removes each by its primary
// key. Coll.Where() with no filter deletes every value.
// Errors: ErrInvalid, ErrClosed, ErrTxDone, the context's error.
func (q *Query[T]) Delete(ctx context.Context) (int, error) {
	r, err := q.start()
	if err != nil {
		return 0, err
	}
	sql, args := q.sql(r, sqlgen.Delete)
	var n int
	err = q.c.writeOp(ctx, "Delete", false, func(conn *sqlite.Conn) error {
		st, release, err := q.prepare(conn, r, sql, args)
		if err != nil {
			return err
		}
		defer release()
		if err := st.Exec(); err != nil {
			return err
		}
		n = int(conn.Changes())
		return nil
	})
	return n, err
}

// Explain returns SQLite's query plan for Find, as the sqlite3 shell prints
// it, to check that a query uses an index:
//
//	QUERY PLAN
//	`--SEARCH Job USING INDEX Job__status__priority (status=?)
//
// SEARCH ... USING INDEX reads only the matching part of an index; SCAN
// <table> alone reads every row; USE TEMP B-TREE FOR ORDER BY sorts the
// matches instead of reading them in index order.
func (q *Query[T]) Explain(ctx context.Context) (string, error) {
	return q.explain(ctx, sqlgen.Rows)
}

// explain returns the plan of the statement of kind k.
func (q *Query[T]) explain(ctx context.Context, k sqlgen.Kind) (string, error) {
	r, err := q.start()
	if err != nil {
		return "", err
	}
	type node struct {
		id, parent int
		detail     string
	}
	var nodes []node
	err = q.c.read(ctx, "Query", func(conn *sqlite.Conn) error {
		sql, args := q.sql(r, k)
		st, release, err := q.prepareCached(conn, r, sqlgen.Explain(sql), args, false)
		if err != nil {
			return err
		}
		defer release()
		for st.Step() {
			nodes = append(nodes, node{st.ColumnInt(0), st.ColumnInt(1), st.ColumnText(3)})
		}
		return st.Err()
	})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("QUERY PLAN\n")
	var walk func(parent int, indent string)
	walk = func(parent int, indent string) {
		var kids []node
		for _, n := range nodes {
			if n.parent == parent {
				kids = append(kids, n)
			}
		}
		for i, n := range kids {
			branch, next := "|--", "|  "
			if i == len(kids)-1 {
				branch, next = "`--", "   "
			}
			b.WriteString(indent + branch + n.detail + "\n")
			walk(n.id, indent+next)
		}
	}
	walk(0, "")
	return b.String(), nil
}

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
		fv, err := rv.FieldByIndexErr(col.index)
		var sv sqlValue
		if err == nil {
			sv, err = col.conv(fv)
		}
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

// QueryRaw runs one SQL statement of your own and decodes the stored value in
// each row. The statement must select the blob column v of the collection's
// table (SELECT v FROM "Job" WHERE ...), under that name; other columns are
// ignored. It runs on a read-only reader connection (inside a Tx, on the
// Tx's connection) and must not write. args are bound to its ? parameters in
// order: strings, []byte, integers, floats, bools and nil as themselves,
// time.Time as unix nanoseconds (zero as NULL), an ID as its 16 bytes, a
// Stringer or TextMarshaler as its text: the way index columns are stored.
// Errors: ErrInvalid (not exactly one read-only statement, no column v, an
// argument that cannot be bound, a wrong number of arguments), ErrSchema,
// ErrClosed, the context's error, SQLite's error for a bad statement.
func (c *Coll[T]) QueryRaw(ctx context.Context, sql string, args ...any) ([]T, error) {
	name := c.c.name
	vals := make([]sqlValue, len(args))
	for i, a := range args {
		v, err := rawArg(a)
		if err != nil {
			return nil, errorf("airnest: %s.QueryRaw: %w: argument %d: %v", name, ErrInvalid, i+1, err)
		}
		vals[i] = v
	}
	var out []T
	err := c.read(ctx, "QueryRaw", func(conn *sqlite.Conn) error {
		st, err := conn.PrepareOnce(sql)
		if err != nil {
			if errors.Is(err, sqlite.ErrMultiple) {
				return fmt.Errorf("%w: it takes exactly one statement: %w", ErrInvalid, err)
			}
			return err
		}
		defer st.Close()
		if !st.ReadOnly() {
			return fmt.Errorf("%w: it runs only statements that do not write", ErrInvalid)
		}
		if n := st.BindCount(); n != len(vals) {
			return fmt.Errorf("%w: the statement has %d parameters, got %d arguments", ErrInvalid, n, len(vals))
		}
		blob := -1
		for i := range st.ColumnCount() {
			if st.ColumnName(i) == sqlgen.BlobColumn {
				blob = i
				break
			}
		}
		if blob < 0 {
			return fmt.Errorf("%w: the statement must select the stored value, column %s", ErrInvalid, sqlgen.BlobColumn)
		}
		for i, v := range vals {
			if err := v.bind(st, i+1); err != nil {
				return err
			}
		}
		dec := c.c.codec.Load()
		for st.Step() {
			if t := st.ColumnType(blob).String(); t != "BLOB" {
				return fmt.Errorf("%w: row %d: column %s is %s, not a stored value", ErrInvalid, len(out)+1, sqlgen.BlobColumn, t)
			}
			var v T
			if err := dec.Decode(st.ColumnRawBlob(blob), &v); err != nil {
				return fmt.Errorf("row %d: %w", len(out)+1, err)
			}
			out = append(out, v)
		}
		return st.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// rawArg converts a QueryRaw argument the way an index column of its type is
// stored.
func rawArg(a any) (sqlValue, error) {
	if a == nil {
		return sqlValue{}, nil
	}
	v := reflect.ValueOf(a)
	_, conv, err := converter(v.Type())
	if err != nil {
		return sqlValue{}, err
	}
	return conv(v)
}
