package airnest

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

// A slice of an index-able type ([]string, []int, []time.Time, ...) is
// indexed by its elements: each distinct element is a row (elem, id) of the
// column's side table (sqlgen.Elems), written in the same transaction as
// the value, and found through the side table's primary key by Contains,
// ContainsAny and ContainsAll. The column in the collection's table holds
// the slice's length, for IsEmpty and for Verify. Elements stored as NULL
// (NaN, nil pointers) have no row: no filter can ask for them.

// sliceElem reports whether t (or what it points to) is a slice indexed by
// its elements, and their type.
func sliceElem(t reflect.Type) (reflect.Type, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Slice || t.Elem().Kind() == reflect.Uint8 {
		return nil, false
	}
	return t.Elem(), true
}

// sliceLen is the column value of a slice: its length (a nil slice or
// pointer: 0).
func sliceLen(v reflect.Value) (sqlValue, error) {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return sqlValue{kind: sqlInt}, nil
		}
		v = v.Elem()
	}
	return sqlValue{kind: sqlInt, i: int64(v.Len())}, nil
}

// elements appends the SQL values of the slice column's elements in rv (an
// addressable T) to out, leaving out those stored as NULL.
func (c *indexCol) elements(rv reflect.Value, out []sqlValue) ([]sqlValue, error) {
	fv, ok, err := c.leaf(rv)
	if err != nil || !ok {
		return out, err
	}
	for fv.Kind() == reflect.Pointer {
		if fv.IsNil() {
			return out, nil
		}
		fv = fv.Elem()
	}
	for i := range fv.Len() {
		sv, err := c.elem.conv(fv.Index(i))
		if err != nil {
			return nil, fmt.Errorf("element %d: %v", i, err)
		}
		if sv.kind == sqlNull || sv.kind == sqlFloat && math.IsNaN(sv.f) {
			continue
		}
		out = append(out, sv)
	}
	return out, nil
}

// appendElems appends the elements of every slice column of v to vals,
// after the column values: per slice column, in column order, their count
// then the elements. upsert writes them to the side tables.
func appendElems(cols []indexCol, rv reflect.Value, vals []sqlValue) ([]sqlValue, error) {
	for i := range cols {
		col := &cols[i]
		if col.elem == nil {
			continue
		}
		n := len(vals)
		vals = append(vals, sqlValue{kind: sqlInt})
		var err error
		if vals, err = col.elements(rv, vals); err != nil {
			return nil, fmt.Errorf("%w: index %q (field %s): %v", ErrInvalid, col.decl, col.field, err)
		}
		vals[n].i = int64(len(vals) - n - 1)
	}
	return vals, nil
}

// elemsChunk is how many elements one INSERT into a side table carries.
const elemsChunk = 32

var elemQueries sync.Map // SQL text -> *backend.Query

func elemQuery(sql string) *backend.Query {
	if q, ok := elemQueries.Load(sql); ok {
		return q.(*backend.Query)
	}
	q, _ := elemQueries.LoadOrStore(sql, backend.NewQuery(sql))
	return q.(*backend.Query)
}

// putElems replaces the side-table rows of id with elems.
func putElems(conn backend.Conn, t sqlgen.Table, e *sqlgen.Elems, id []byte, elems []sqlValue) error {
	st, err := conn.Prepare(elemQuery(t.DeleteElems(e)))
	if err != nil {
		return err
	}
	st.BindBlob(1, id)
	if err := st.Exec(); err != nil {
		return err
	}
	for len(elems) > 0 {
		n := elemsChunk
		if len(elems) < n {
			n = 1
		}
		st, err := conn.Prepare(elemQuery(t.InsertElems(e, n)))
		if err != nil {
			return err
		}
		for i, v := range elems[:n] {
			err := v.bind(st, 2*i+1)
			if err == nil {
				err = st.BindBlob(2*i+2, id)
			}
			if err != nil {
				st.Reset()
				return fmt.Errorf("element %s: %w", v, err)
			}
		}
		if err := st.Exec(); err != nil {
			return err
		}
		elems = elems[n:]
	}
	return nil
}

// writeElems writes the side tables of one upserted row: rest is what
// appendElems added after the declared columns' values, kept the elements
// of the kept slice columns (p.kept order, nil for the others).
func (c *collection[T]) writeElems(conn backend.Conn, p *writePlan, id []byte, rest []sqlValue, kept [][]sqlValue) error {
	t := sqlgen.Table{D: c.table.D, Name: c.name}
	for i := range c.cols {
		col := &c.cols[i]
		if col.elem == nil {
			continue
		}
		if len(rest) == 0 {
			return fmt.Errorf("airnest: collection %q: no elements for slice index %q", c.name, col.decl)
		}
		n := int(rest[0].i)
		if err := putElems(conn, t, col.elems, id, rest[1:1+n]); err != nil {
			return fmt.Errorf("index %q (field %s): %w", col.decl, col.field, err)
		}
		rest = rest[1+n:]
	}
	for i, col := range p.kept {
		if col.elem == nil {
			continue
		}
		if err := putElems(conn, t, col.elems, id, kept[i]); err != nil {
			return fmt.Errorf("index %q (kept for another version; field %s): %w", col.decl, col.field, err)
		}
	}
	return nil
}

// hasElems reports whether the collection declares a slice column: its
// writes are several statements, which need a transaction even alone.
func (c *collection[T]) hasElems() bool {
	for i := range c.cols {
		if c.cols[i].elem != nil {
			return true
		}
	}
	p := c.plan.Load()
	for i := range p.kept {
		if p.kept[i].elem != nil {
			return true
		}
	}
	return false
}

// columnKind is a column's SQL type with its elements' when it is a
// slice's: a change of either is a change of type.
func columnKind(c sqlgen.Column) string {
	if c.Elems != nil {
		return "a slice of " + c.Elems.Type
	}
	return c.Type
}

// createElems creates the side table of a slice column, if col is one.
func (c *collection[T]) createElems(conn backend.Conn, d *sqlgen.Dialect, col sqlgen.Column) error {
	if col.Elems == nil {
		return nil
	}
	for _, name := range []string{col.Elems.Table, sqlgen.ElemsIndex(col.Elems)} {
		if err := c.nameFree(conn, d, name, col.Elems.Table); err != nil {
			return err
		}
	}
	for _, ddl := range (sqlgen.Table{D: d, Name: c.name}).CreateElems(col.Elems) {
		if err := conn.Exec(ddl); err != nil {
			return err
		}
	}
	return nil
}

// backfillElems writes the side tables of one back-filled row: rest is
// what appendElems added after the values of cols.
func (c *collection[T]) backfillElems(conn backend.Conn, cols []indexCol, id []byte, rest []sqlValue) error {
	t := sqlgen.Table{D: c.table.D, Name: c.name}
	for _, col := range cols {
		if col.elem == nil {
			continue
		}
		n := int(rest[0].i)
		if err := putElems(conn, t, col.elems, id, rest[1:1+n]); err != nil {
			return fmt.Errorf("collection %q: back-filling index %q: id %s: %w", c.name, col.decl, rowID(id), err)
		}
		rest = rest[1+n:]
	}
	return nil
}

// keptColumn plans the writes of a column that another version of the
// program declared (stored in the bookkeeping as col) from T, if T has
// the field it is computed from; never for an IndexFunc's.
func keptColumn(coll string, t reflect.Type, col sqlgen.Column) (indexCol, bool) {
	if col.Func {
		return indexCol{}, false
	}
	decl := col.Path
	if decl == "" {
		decl = col.Name
	}
	kc, err := resolveIndex(coll, t, decl, nil)
	if err != nil || columnKind(kc.column(false)) != columnKind(col) {
		return indexCol{}, false
	}
	kc.name = col.Name
	if kc.elems != nil {
		kc.elems = col.Elems
	}
	return kc, true
}

// useStoredElems points the slice columns at their side tables as the
// bookkeeping names them (a declaration spelt in another case keeps the
// table it had).
func (c *collection[T]) useStoredElems(stored *storedCollection) {
	for i := range c.cols {
		if c.cols[i].elem == nil {
			continue
		}
		for _, sc := range stored.Columns {
			if sc.Elems != nil && strings.EqualFold(sc.Name, c.cols[i].name) {
				c.cols[i].elems = sc.Elems
			}
		}
	}
}
