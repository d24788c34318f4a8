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
	name  string // column name as declared
	field string // Go field name
	index []int  // reflect field index path
	typ   reflect.Type
	sql   string // INTEGER, REAL, TEXT, BLOB
	conv  func(reflect.Value) (sqlValue, error)
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
	add := func(name string, unique bool) (int, error) {
		if i, ok := seen[name]; ok {
			if unique {
				sqlCols[i].Unique = true
			}
			return i, nil
		}
		if err := sqlgen.ValidName(name); err != nil {
			return 0, fmt.Errorf("%w: collection %q: index: %v", ErrInvalid, coll, err)
		}
		if l := strings.ToLower(name); l == sqlgen.IDColumn || l == sqlgen.BlobColumn {
			return 0, fmt.Errorf("%w: collection %q: index %q: the names id and v are taken by airnest's own columns", ErrInvalid, coll, name)
		}
		f, ok, err := fieldFor(t, name)
		if err != nil {
			return 0, fmt.Errorf("%w: collection %q: index: %v", ErrInvalid, coll, err)
		}
		if !ok {
			return 0, fmt.Errorf("%w: collection %q: index %q: %s has no such field (fields: %s)", ErrInvalid, coll, name, t, strings.Join(fieldNames(t), ", "))
		}
		typ, conv, err := converter(f.Type)
		if err != nil {
			return 0, fmt.Errorf("%w: collection %q: index %q: field %s: %v", ErrInvalid, coll, name, f.Name, err)
		}
		for _, c := range cols {
			if c.field == f.Name {
				return 0, fmt.Errorf("%w: collection %q: index %q and %q both name field %s", ErrInvalid, coll, c.name, name, f.Name)
			}
		}
		seen[name] = len(cols)
		cols = append(cols, indexCol{name: name, field: f.Name, index: f.Index, typ: f.Type, sql: typ, conv: conv})
		sqlCols = append(sqlCols, sqlgen.Column{Name: name, Type: typ, Unique: unique})
		return len(cols) - 1, nil
	}
	var comps []sqlgen.Composite
	for _, d := range o.indexes {
		parts := strings.Split(d.spec, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		if len(parts) == 1 {
			i, err := add(parts[0], d.unique)
			if err != nil {
				return nil, nil, nil, err
			}
			sqlCols[i].Indexed = true
			continue
		}
		for _, p := range parts {
			if _, err := add(p, false); err != nil {
				return nil, nil, nil, err
			}
		}
		comps = append(comps, sqlgen.Composite{Columns: parts, Unique: d.unique})
	}
	return cols, sqlCols, comps, nil
}
