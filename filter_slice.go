package airnest

import (
	"fmt"
	"math"

	"github.com/airnest/airnest/internal/sqlgen"
)

// Contains matches values whose slice column col (declared with Index on a
// slice field such as Tags []string) holds v. v converts as Eq's value
// does, to the element type. Like the other membership filters it reads the
// column's side table through its index, never the stored values.
func Contains(col string, v any) Filter { return leaf(sqlgen.OpContains, col, v) }

// ContainsAny matches values whose slice column col holds at least one of
// vals; with no vals it matches nothing.
func ContainsAny[V any](col string, vals ...V) Filter {
	return Filter{op: sqlgen.OpContainsAny, col: col, vals: anys(vals), ok: true}
}

// ContainsAll matches values whose slice column col holds every one of
// vals (a value repeated in vals counts once); with no vals it matches
// every value.
func ContainsAll[V any](col string, vals ...V) Filter {
	return Filter{op: sqlgen.OpContainsAll, col: col, vals: anys(vals), ok: true}
}

// IsEmpty matches values whose slice column col has no element: a nil or
// empty slice, or a nil pointer on its path.
func IsEmpty(col string) Filter { return leaf(sqlgen.OpIsEmpty, col) }

func anys[V any](vals []V) []any {
	vs := make([]any, len(vals))
	for i, v := range vals {
		vs[i] = v
	}
	return vs
}

var membership = map[sqlgen.Op]bool{
	sqlgen.OpContains: true, sqlgen.OpContainsAny: true, sqlgen.OpContainsAll: true, sqlgen.OpIsEmpty: true,
}

func init() {
	opNames[sqlgen.OpContains] = "Contains"
	opNames[sqlgen.OpContainsAny] = "ContainsAny"
	opNames[sqlgen.OpContainsAll] = "ContainsAll"
	opNames[sqlgen.OpIsEmpty] = "IsEmpty"
}

// compileElems compiles a filter on a slice column, or a membership filter
// on any column.
func (q *Query[T]) compileElems(f Filter, col *indexCol) (sqlgen.Expr, error) {
	where := fmt.Sprintf("%s(%s)", opNames[f.op], quoteName(f.col))
	if col.elem == nil {
		return sqlgen.Expr{}, q.invalid("%s: column %q is field %s of type %s, not a slice: use Eq, In or IsNull", where, col.decl, col.field, col.typ)
	}
	if !membership[f.op] {
		return sqlgen.Expr{}, q.invalid("%s: column %q is field %s of type %s, a slice: filter it with Contains, ContainsAny, ContainsAll or IsEmpty", where, col.decl, col.field, col.typ)
	}
	e := sqlgen.Expr{Op: f.op, Col: col.name, Type: col.elem.sql, Elems: col.elems.Table}
	arg := func(v sqlValue) {
		e.Args = append(e.Args, len(q.vals))
		q.vals = append(q.vals, v)
	}
	switch f.op {
	case sqlgen.OpContains:
		svs, err := q.listValues(where, col.elem, f.vals)
		if err != nil {
			return sqlgen.Expr{}, err
		}
		arg(svs[0])
	case sqlgen.OpContainsAny, sqlgen.OpContainsAll:
		svs, err := q.listValues(where, col.elem, f.vals)
		if err != nil {
			return sqlgen.Expr{}, err
		}
		if f.op == sqlgen.OpContainsAll {
			svs = distinct(svs)
			if len(svs) == 0 {
				return sqlgen.Expr{Op: sqlgen.OpAnd}, nil // holds every one of none
			}
		}
		arg(sqlValue{kind: sqlText, s: jsonList(svs)})
		if f.op == sqlgen.OpContainsAll {
			arg(sqlValue{kind: sqlInt, i: int64(len(svs))})
		}
	}
	return e, nil
}

// distinct drops the values equal (as the database compares them) to an
// earlier one: ContainsAll counts the distinct elements it finds.
func distinct(svs []sqlValue) []sqlValue {
	type key struct {
		kind byte
		i    int64
		f    float64
		s    string
	}
	seen := map[key]bool{}
	out := svs[:0:0]
	for _, v := range svs {
		k := key{v.kind, v.i, v.f, v.s + string(v.b)}
		if k.kind == sqlFloat && k.f == 0 {
			k.f = 0 // -0 equals 0
		}
		if k.kind == sqlFloat && math.IsNaN(k.f) {
			continue
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, v)
		}
	}
	return out
}
