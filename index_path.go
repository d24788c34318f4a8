package airnest

import (
	"fmt"
	"hash/fnv"
	"reflect"
	"strings"

	"github.com/airnest/airnest/internal/sqlgen"
)

// An index name is a field of T ("status"), or a dotted path through nested
// structs and pointers to structs ("meta.owner"), each part matched to a Go
// field as fieldFor matches, or the name of an IndexFunc. A nested path's
// column is named by its parts joined with "__" ("meta__owner"); one longer
// than maxPathColumn bytes is cut and ends with a hash of the whole path,
// so that every database keeps it whole and the name stays the same from
// one run to the next.
const maxPathColumn = 48

// pathColumn is the SQL column name of a declared path's parts.
func pathColumn(parts []string) string {
	n := strings.Join(parts, "__")
	if len(n) <= maxPathColumn {
		return n
	}
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(n)))
	return fmt.Sprintf("%s_%08x", n[:maxPathColumn-9], h.Sum32())
}

// fieldPath finds the field that the parts of a declared path reach in t:
// the field number of each step, the Go spelling of the path, the field's
// type, and whether a pointer to a struct lies on the way (which makes the
// column NULL when it is nil).
func fieldPath(t reflect.Type, parts []string) (steps []int, goPath string, leaf reflect.Type, viaPtr bool, err error) {
	cur := t
	var names []string
	for i, part := range parts {
		if i > 0 {
			for cur.Kind() == reflect.Pointer {
				cur, viaPtr = cur.Elem(), true
			}
			if cur.Kind() != reflect.Struct {
				return nil, "", nil, false, fmt.Errorf("field %s is a %s, not a struct: it has no field %q", strings.Join(names, "."), cur, part)
			}
		}
		f, ok, err := fieldFor(cur, part)
		if err != nil {
			return nil, "", nil, false, err
		}
		if !ok {
			where := cur.String()
			if i > 0 {
				where = "field " + strings.Join(names, ".") + " (" + where + ")"
			}
			return nil, "", nil, false, fmt.Errorf("%s has no such field %q (fields: %s)", where, part, strings.Join(fieldNames(cur), ", "))
		}
		steps = append(steps, f.Index[0])
		names = append(names, f.Name)
		cur = f.Type
	}
	return steps, strings.Join(names, "."), cur, viaPtr, nil
}

// resolveIndex plans the index column that name declares on T.
func resolveIndex(coll string, t reflect.Type, name string, funcs map[string]*indexFunc) (indexCol, error) {
	parts := strings.Split(name, ".")
	for _, p := range parts {
		if err := sqlgen.ValidName(p); err != nil {
			return indexCol{}, fmt.Errorf("%w: collection %q: index %q: %v", ErrInvalid, coll, name, err)
		}
	}
	if l := strings.ToLower(name); l == sqlgen.IDColumn || l == sqlgen.BlobColumn {
		return indexCol{}, fmt.Errorf("%w: collection %q: index %q: the names id and v are taken by airnest's own columns", ErrInvalid, coll, name)
	}
	col := indexCol{decl: name, name: pathColumn(parts)}
	var viaPtr bool
	if f, ok := funcs[foldName(name)]; ok {
		col.field, col.typ, col.fn = "IndexFunc "+name, f.v, f.call
	} else {
		var err error
		col.steps, col.field, col.typ, viaPtr, err = fieldPath(t, parts)
		if err != nil {
			return indexCol{}, fmt.Errorf("%w: collection %q: index %q: %v", ErrInvalid, coll, name, err)
		}
	}
	what := "field " + col.field
	if col.fn != nil {
		what = "IndexFunc result"
	}
	typ, conv, err := converter(col.typ)
	if err == nil {
		col.sql, col.conv, col.null = typ, conv, viaPtr || nullable(col.typ)
		return col, nil
	}
	elem, ok := sliceElem(col.typ)
	if !ok {
		return indexCol{}, fmt.Errorf("%w: collection %q: index %q: %s: %v (or a slice of one)", ErrInvalid, coll, name, what, err)
	}
	etyp, econv, eerr := converter(elem)
	if eerr != nil {
		return indexCol{}, fmt.Errorf("%w: collection %q: index %q: %s: the slice's elements: %v", ErrInvalid, coll, name, what, eerr)
	}
	col.sql, col.conv = "INTEGER", sliceLen
	col.elem = &indexCol{name: col.name, decl: col.decl, field: col.field + "[]", typ: elem, sql: etyp, conv: econv}
	col.elems = &sqlgen.Elems{Table: sqlgen.ElemsTable(coll, col.name), Type: etyp}
	return col, nil
}

// column is the bookkeeping record of c.
func (c *indexCol) column(unique bool) sqlgen.Column {
	sc := sqlgen.Column{Name: c.name, Type: c.sql, Unique: unique, Func: c.fn != nil, Elems: c.elems}
	if c.decl != c.name {
		sc.Path = c.decl
	}
	return sc
}

// leaf returns the column's Go value in rv, an addressable T; ok is false
// when a nil pointer on the path leaves none. A panic in an IndexFunc is
// an error.
func (c *indexCol) leaf(rv reflect.Value) (v reflect.Value, ok bool, err error) {
	if c.fn != nil {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("the IndexFunc panicked: %v", r)
			}
		}()
		return c.fn(rv), true, nil
	}
	for i, n := range c.steps {
		if i > 0 {
			for rv.Kind() == reflect.Pointer {
				if rv.IsNil() {
					return reflect.Value{}, false, nil
				}
				rv = rv.Elem()
			}
		}
		rv = rv.Field(n)
	}
	return rv, true, nil
}

// value computes the column's SQL value from rv, an addressable T: NULL
// when a nil pointer lies on the path (length 0 for a slice).
func (c *indexCol) value(rv reflect.Value) (sqlValue, error) {
	fv, ok, err := c.leaf(rv)
	switch {
	case err != nil:
		return sqlValue{}, err
	case !ok && c.elem != nil:
		return sqlValue{kind: sqlInt}, nil
	case !ok:
		return sqlValue{}, nil
	}
	return c.conv(fv)
}

// indexFunc is one IndexFunc declaration.
type indexFunc struct {
	name string
	t, v reflect.Type
	call func(rv reflect.Value) reflect.Value // rv: an addressable T
}

// IndexFunc declares an index column computed by fn from each value, for
// what no single field holds ("the domain of the email address"):
//
//	Users = airnest.Collection[User](store,
//		airnest.IndexFunc("email_domain", func(u *User) string {
//			_, domain, _ := strings.Cut(u.Email, "@")
//			return domain
//		}))
//
// The column works as a declared field's does: filters, OrderBy, paging,
// Explain, a composite index naming it ("email_domain,created_at"). V
// follows Index's rules for column types, and a slice V is indexed by its
// elements (see Contains). Every Save, Update, Tx and Migrate calls fn and
// writes its result with the value, and Open back-fills the column of the
// values already stored. fn must be a pure function of the value: it must
// not change it, and it may run on another goroutine. A panic in fn fails
// that write with ErrInvalid.
//
// T is checked against the collection when it is declared: an IndexFunc of
// another type makes Collection panic (NewCollection: an error wrapping
// ErrInvalid) naming the collection and the index. Store.Verify recomputes
// the column; the airnest command, without the Go function, cannot.
func IndexFunc[T, V any](name string, fn func(*T) V) Option {
	f := &indexFunc{name: name, t: reflect.TypeFor[T](), v: reflect.TypeFor[V](), call: func(rv reflect.Value) reflect.Value {
		out := fn(rv.Addr().Interface().(*T))
		return reflect.ValueOf(&out).Elem()
	}}
	return Option{func(o *collOptions) {
		o.indexes = append(o.indexes, indexDecl{spec: name, fn: f})
	}}
}

// indexFuncs checks the IndexFunc declarations against T and maps them by
// their folded name.
func indexFuncs(coll string, t reflect.Type, o *collOptions) (map[string]*indexFunc, error) {
	funcs := map[string]*indexFunc{}
	for _, d := range o.indexes {
		f := d.fn
		if f == nil {
			continue
		}
		if f.t != t {
			return nil, fmt.Errorf("%w: collection %q: IndexFunc %q takes a *%s, but the collection holds %s values", ErrInvalid, coll, f.name, f.t, t)
		}
		if strings.Contains(f.name, ".") || strings.Contains(f.name, ",") {
			return nil, fmt.Errorf("%w: collection %q: IndexFunc %q: want a plain name (letters, digits and _), not a path or a list", ErrInvalid, coll, f.name)
		}
		if prev, ok := funcs[foldName(f.name)]; ok {
			return nil, fmt.Errorf("%w: collection %q: IndexFunc %q and %q have the same name (names match ignoring case and underscores)", ErrInvalid, coll, prev.name, f.name)
		}
		funcs[foldName(f.name)] = f
	}
	return funcs, nil
}
