package airnest

import (
	"encoding/hex"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

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
	match  []func(*T) bool // Go predicates, see Match
	lock   bool            // Rows locks what it returns (FOR UPDATE), in a write
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
	n.vals = slices.Clip(q.vals)   // Where appends: never into another query's array
	n.match = slices.Clip(q.match) // likewise Match
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
	if err == nil && col.elem != nil {
		err = q.invalid("%s(%s): column %q is field %s of type %s, a slice, which has no order: filter it with Contains, ContainsAny, ContainsAll or IsEmpty", op, quoteName(name), col.decl, col.field, col.typ)
	}
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

// column resolves a column name used in a query: the one place where a
// filter, OrderBy or an aggregate finds its column. Names match the
// declared index names ignoring case and underscores, in each part of a
// nested path ("Meta.Owner_ID" is "meta.ownerid").
func (q *Query[T]) column(op, name string) (*indexCol, error) {
	cc := q.c.c
	key := foldName(name)
	for i := range cc.cols {
		if foldName(cc.cols[i].decl) == key {
			return &cc.cols[i], nil
		}
	}
	if key == sqlgen.IDColumn {
		return idColumn[T](), nil
	}
	names := make([]string, 0, len(cc.cols)+1)
	for _, c := range cc.cols {
		names = append(names, c.decl)
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
	c, _ := idCols.LoadOrStore(t, &indexCol{name: sqlgen.IDColumn, decl: sqlgen.IDColumn, field: "ID", steps: f.Index, typ: t, sql: typ, conv: conv})
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
	if col.elem != nil || membership[f.op] {
		return q.compileElems(f, col)
	}
	e := sqlgen.Expr{Op: f.op, Col: col.name, Type: col.sql, Nullable: col.null}
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
		if hi, ok := prefixEnd(lo); ok {
			arg(hi)
		} else {
			e.Op = sqlgen.OpGte // no text is above every text starting with lo
		}
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
			e.ArgNotNull = sv.kind != sqlNull
			arg(sv)
		}
	}
	return e, nil
}

// inList renders In's values as one JSON array (see sqlgen's inValue).
func (q *Query[T]) inList(where string, col *indexCol, vals []any) (string, error) {
	svs, err := q.listValues(where, col, vals)
	if err != nil {
		return "", err
	}
	return jsonList(svs), nil
}

// listValues converts the values of a list filter (In, ContainsAny,
// ContainsAll) to col's SQL values; none may be NULL.
func (q *Query[T]) listValues(where string, col *indexCol, vals []any) ([]sqlValue, error) {
	svs := make([]sqlValue, len(vals))
	for i, v := range vals {
		sv, err := queryValue(col, v)
		if err != nil {
			return nil, q.invalid("%s: value %d: %v", where, i, err)
		}
		if sv.kind == sqlNull {
			return nil, q.invalid("%s: value %d: %s is stored as NULL, which no column or element equals (use Or with IsNull)", where, i, describe(v))
		}
		svs[i] = sv
	}
	return svs, nil
}

// jsonList renders values as one JSON array: numbers as JSON numbers (±Inf
// as ±9e999), text and bytes hex-encoded, so every byte arrives exactly.
func jsonList(svs []sqlValue) string {
	var b []byte
	b = append(b, '[')
	for i, sv := range svs {
		if i > 0 {
			b = append(b, ',')
		}
		switch sv.kind {
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
	return string(append(b, ']'))
}

// keys is the query's complete ordering: the user's keys, then id, in the
// direction of the last key, unless id is already a key.
func (q *Query[T]) keys() ([]sqlgen.Key, []*indexCol) {
	keys := make([]sqlgen.Key, 0, len(q.order)+1)
	cols := make([]*indexCol, 0, len(q.order)+1)
	desc, hasID := false, false
	for _, o := range q.order {
		isID := o.col.name == sqlgen.IDColumn
		hasID = hasID || isID
		keys = append(keys, sqlgen.Key{Col: o.col.name, Desc: o.desc, Nullable: o.col.null})
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
	sql, args := q.c.c.table.Query(q.selectOf(r), k)
	if q.lock {
		sql += q.c.c.store.d.ForUpdate
	}
	return sql, args
}

// selectOf describes r of the query for sqlgen.
func (q *Query[T]) selectOf(r *run) sqlgen.Select {
	// Whether Limit and Offset were called is part of the query's shape;
	// their values are bound parameters and never change the text.
	sel := sqlgen.Select{Where: q.where, Order: r.keys, Limit: q.limit >= 0, Offset: q.offset >= 0}
	if r.after != nil {
		sel.After = make([]bool, len(r.after))
		for i, v := range r.after {
			sel.After[i] = v.kind == sqlNull
		}
	}
	return sel
}

// Statements are cached per connection by SQL text; the text depends only
// on a query's shape, so a program has a bounded number of them. Shapes past
// the cap (generated filter trees) are prepared for one use.
const maxCachedQueries = 1024

var queryCache struct {
	sync.Mutex
	m map[string]*backend.Query
}

func cachedQuery(sql string) *backend.Query {
	queryCache.Lock()
	defer queryCache.Unlock()
	if q, ok := queryCache.m[sql]; ok {
		return q
	}
	if len(queryCache.m) >= maxCachedQueries {
		return nil
	}
	if queryCache.m == nil {
		queryCache.m = map[string]*backend.Query{}
	}
	q := backend.NewQuery(sql)
	queryCache.m[sql] = q
	return q
}

// prepare prepares and binds the statement; release resets or closes it.
func (q *Query[T]) prepare(conn backend.Conn, r *run, sql string, args []sqlgen.Arg) (st backend.Stmt, release func(), err error) {
	return q.prepareCached(conn, r, sql, args, true)
}

func (q *Query[T]) prepareCached(conn backend.Conn, r *run, sql string, args []sqlgen.Arg, cache bool) (st backend.Stmt, release func(), err error) {
	var cq *backend.Query
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
func (q *Query[T]) rows(conn backend.Conn, r *run, row func(v T, st backend.Stmt) error) error {
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
func rowKeys(st backend.Stmt, keys []sqlgen.Key) []sqlValue {
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
