package airnest

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

// sqlValue is a value as SQLite stores it in an index column.
type sqlValue struct {
	kind byte
	i    int64
	f    float64
	s    string
	b    []byte
}

const (
	sqlNull byte = iota
	sqlInt
	sqlFloat
	sqlText
	sqlBlob
)

func (v sqlValue) bind(st backend.Stmt, param int) error {
	switch v.kind {
	case sqlInt:
		return st.BindInt64(param, v.i)
	case sqlFloat:
		return st.BindFloat(param, v.f)
	case sqlText:
		return st.BindText(param, v.s)
	case sqlBlob:
		return st.BindBlob(param, v.b)
	}
	return st.BindNull(param)
}

// String renders v for error messages and Verify reports.
func (v sqlValue) String() string {
	switch v.kind {
	case sqlInt:
		return fmt.Sprint(v.i)
	case sqlFloat:
		return fmt.Sprint(v.f)
	case sqlText:
		return fmt.Sprintf("%q", v.s)
	case sqlBlob:
		return fmt.Sprintf("x'%x'", v.b)
	}
	return "NULL"
}

// column reads the stored value of column col of the current row.
func column(st backend.Stmt, col int) sqlValue {
	switch st.ColumnType(col) {
	case backend.Integer:
		return sqlValue{kind: sqlInt, i: st.ColumnInt64(col)}
	case backend.Float:
		return sqlValue{kind: sqlFloat, f: st.ColumnFloat(col)}
	case backend.Text:
		return sqlValue{kind: sqlText, s: st.ColumnText(col)}
	case backend.Blob:
		return sqlValue{kind: sqlBlob, b: st.ColumnBlob(col, nil)}
	}
	return sqlValue{}
}

func (v sqlValue) equal(o sqlValue) bool {
	if v.kind != o.kind {
		return false
	}
	switch v.kind {
	case sqlInt:
		return v.i == o.i
	case sqlFloat:
		return v.f == o.f || math.IsNaN(v.f) && math.IsNaN(o.f)
	case sqlText:
		return v.s == o.s
	case sqlBlob:
		return string(v.b) == string(o.b)
	}
	return true
}

// indexCol is one declared index column: where its value lives in T and
// how a Go value becomes its SQL value.
type indexCol struct {
	name  string // SQL column name: as declared, or "meta__owner" for "meta.owner"
	decl  string // the name as declared, which queries match (see foldName)
	field string // Go field name, or dotted path ("Meta.Owner"), or IndexFunc's name
	steps []int  // field numbers from T to the value (see leaf); nil for IndexFunc
	fn    func(reflect.Value) reflect.Value
	typ   reflect.Type
	sql   string // INTEGER, REAL, TEXT, BLOB
	conv  func(reflect.Value) (sqlValue, error)
	null  bool // the column can hold NULL
	// A slice column holds the slice's length; elem converts one element
	// and elems is the side table holding them.
	elem  *indexCol
	elems *sqlgen.Elems
}

var (
	timeType          = reflect.TypeFor[time.Time]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	stringerType      = reflect.TypeFor[fmt.Stringer]()
	rawIDType         = reflect.TypeFor[rawID]()
)

// Index times are unix nanoseconds; SQLite INTEGER holds years 1678 to 2262.
var (
	minIndexTime = time.Unix(0, math.MinInt64)
	maxIndexTime = time.Unix(0, math.MaxInt64)
)

// converter picks the SQL type of an index column from its Go type.
// Numbers stay numbers (so 10 sorts after 9), times become unix nanoseconds.
func converter(t reflect.Type) (string, func(reflect.Value) (sqlValue, error), error) {
	switch {
	case t == timeType:
		return "INTEGER", func(v reflect.Value) (sqlValue, error) {
			tm := v.Interface().(time.Time)
			if tm.IsZero() {
				return sqlValue{}, nil
			}
			if tm.Before(minIndexTime) || tm.After(maxIndexTime) {
				return sqlValue{}, fmt.Errorf("time %s is outside the indexable range (years 1678 to 2262)", tm)
			}
			return sqlValue{kind: sqlInt, i: tm.UnixNano()}, nil
		}, nil
	case t.Kind() != reflect.Pointer && t.Implements(rawIDType): // *ID goes through the pointer case, so nil is NULL
		return "BLOB", func(v reflect.Value) (sqlValue, error) {
			id := v.Interface().(rawID).rawID()
			if id == ([16]byte{}) {
				return sqlValue{}, nil
			}
			return sqlValue{kind: sqlBlob, b: id[:]}, nil
		}, nil
	case t.Kind() == reflect.Pointer:
		typ, elem, err := converter(t.Elem())
		if err != nil {
			return "", nil, err
		}
		return typ, func(v reflect.Value) (sqlValue, error) {
			if v.IsNil() {
				return sqlValue{}, nil
			}
			return elem(v.Elem())
		}, nil
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		return "BLOB", func(v reflect.Value) (sqlValue, error) {
			if v.IsNil() {
				return sqlValue{}, nil
			}
			return sqlValue{kind: sqlBlob, b: v.Bytes()}, nil
		}, nil
	case t.Implements(textMarshalerType) && !isNumber(t.Kind()):
		return "TEXT", func(v reflect.Value) (sqlValue, error) {
			b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
			if err != nil {
				return sqlValue{}, err
			}
			return sqlValue{kind: sqlText, s: string(b)}, nil
		}, nil
	}
	switch t.Kind() {
	case reflect.Bool:
		return "INTEGER", func(v reflect.Value) (sqlValue, error) {
			if v.Bool() {
				return sqlValue{kind: sqlInt, i: 1}, nil
			}
			return sqlValue{kind: sqlInt, i: 0}, nil
		}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "INTEGER", func(v reflect.Value) (sqlValue, error) {
			return sqlValue{kind: sqlInt, i: v.Int()}, nil
		}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "INTEGER", func(v reflect.Value) (sqlValue, error) {
			u := v.Uint()
			if u > math.MaxInt64 {
				return sqlValue{}, fmt.Errorf("%d does not fit a signed 64-bit INTEGER column", u)
			}
			return sqlValue{kind: sqlInt, i: int64(u)}, nil
		}, nil
	case reflect.Float32, reflect.Float64:
		return "REAL", func(v reflect.Value) (sqlValue, error) {
			return sqlValue{kind: sqlFloat, f: v.Float()}, nil
		}, nil
	case reflect.String:
		return "TEXT", func(v reflect.Value) (sqlValue, error) {
			return sqlValue{kind: sqlText, s: v.String()}, nil
		}, nil
	}
	if t.Implements(stringerType) {
		return "TEXT", func(v reflect.Value) (sqlValue, error) {
			return sqlValue{kind: sqlText, s: v.Interface().(fmt.Stringer).String()}, nil
		}, nil
	}
	return "", nil, fmt.Errorf("type %s cannot be an index column (want a number, bool, string, []byte, time.Time, airnest.ID, a Stringer or TextMarshaler, or a pointer to one)", t)
}

func isNumber(k reflect.Kind) bool {
	return k >= reflect.Int && k <= reflect.Float64
}

// fieldFor finds the Go field a declared index name refers to: the names
// match ignoring case and underscores ("created_at" is CreatedAt). A name
// that two fields match (StartedAt and Started_At) is an error.
func fieldFor(t reflect.Type, name string) (reflect.StructField, bool, error) {
	want := foldName(name)
	var found reflect.StructField
	ok := false
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || foldName(f.Name) != want {
			continue
		}
		if ok {
			return found, false, fmt.Errorf("%q matches both field %s and field %s (names match ignoring case and underscores): rename one", name, found.Name, f.Name)
		}
		found, ok = f, true
	}
	return found, ok, nil
}

// foldName is the spelling-free key of a field or column name: lower case,
// without underscores. Index declarations and queries match names by it.
func foldName(name string) string {
	return strings.ToLower(strings.ReplaceAll(name, "_", ""))
}

func fieldNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() {
			names = append(names, f.Name)
		}
	}
	return names
}

// planIndexes resolves the declared index names of T.
func planIndexes(coll string, t reflect.Type, o *collOptions) ([]indexCol, []sqlgen.Column, []sqlgen.Composite, error) {
	var cols []indexCol
	var sqlCols []sqlgen.Column
	seen := map[string]int{}
	funcs, err := indexFuncs(coll, t, o)
	if err != nil {
		return nil, nil, nil, err
	}
	add := func(name string, unique, composite bool) (int, error) {
		if i, ok := seen[name]; ok {
			if cols[i].elem != nil && (unique || composite) {
				return 0, fmt.Errorf("%w: collection %q: index %q: field %s is a slice, whose elements have an index of their own; it cannot be Unique or part of a composite index", ErrInvalid, coll, name, cols[i].field)
			}
			if unique {
				sqlCols[i].Unique = true
			}
			return i, nil
		}
		col, err := resolveIndex(coll, t, name, funcs)
		if err != nil {
			return 0, err
		}
		if col.elem != nil && (unique || composite) {
			return 0, fmt.Errorf("%w: collection %q: index %q: field %s is a slice, whose elements have an index of their own; it cannot be Unique or part of a composite index", ErrInvalid, coll, name, col.field)
		}
		for _, c := range cols {
			if c.field == col.field {
				return 0, fmt.Errorf("%w: collection %q: index %q and %q both name field %s", ErrInvalid, coll, c.decl, name, col.field)
			}
			if strings.EqualFold(c.name, col.name) {
				return 0, fmt.Errorf("%w: collection %q: index %q and %q would both be SQL column %q: declare one of them only", ErrInvalid, coll, c.decl, name, col.name)
			}
		}
		seen[name] = len(cols)
		cols = append(cols, col)
		sqlCols = append(sqlCols, col.column(unique))
		return len(cols) - 1, nil
	}
	var comps []sqlgen.Composite
	for _, d := range o.indexes {
		parts := strings.Split(d.spec, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		if len(parts) == 1 {
			i, err := add(parts[0], d.unique, false)
			if err != nil {
				return nil, nil, nil, err
			}
			sqlCols[i].Indexed = cols[i].elem == nil // a slice's index is its side table
			continue
		}
		names := make([]string, len(parts))
		for j, p := range parts {
			i, err := add(p, false, true)
			if err != nil {
				return nil, nil, nil, err
			}
			names[j] = cols[i].name
		}
		comps = append(comps, sqlgen.Composite{Columns: names, Unique: d.unique})
	}
	return cols, sqlCols, comps, nil
}
