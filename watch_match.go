package airnest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/airnest/airnest/internal/sqlgen"
)

// matcher evaluates a query's filter on a Go value, as the database
// evaluates the query's WHERE on the stored row: each column's value is
// computed from the value by the conversion Save writes it with, and
// compared with SQL's rules as airnest writes them (sqlgen's expr): NULL
// equals NULL under Eq (IS), matches no order comparison, and a negated
// comparison matches NULL; numbers compare as numbers, integer against
// real exactly; text and bytes compare byte by byte; a NaN is NULL.
type matcher struct {
	where sqlgen.Expr
	vals  []sqlValue
	cols  map[string]*indexCol // by Expr.Col
}

// match reports whether the value rv (a T) matches.
func (m *matcher) match(rv reflect.Value) (bool, error) {
	return m.eval(m.where, rv)
}

func (m *matcher) eval(e sqlgen.Expr, rv reflect.Value) (bool, error) {
	switch e.Op {
	case sqlgen.OpAnd, sqlgen.OpOr:
		and := e.Op == sqlgen.OpAnd
		for _, k := range e.Kids {
			ok, err := m.eval(k, rv)
			if err != nil || ok != and {
				return ok, err
			}
		}
		return and, nil
	case sqlgen.OpNot:
		ok, err := m.eval(sqlgen.Expr{Op: sqlgen.OpAnd, Kids: e.Kids}, rv)
		return !ok, err
	}
	col := m.cols[e.Col]
	if e.Elems != "" {
		return m.member(e, col, rv)
	}
	v, err := col.value(rv)
	if err != nil {
		return false, fmt.Errorf("%w: index %q (field %s): %v", ErrInvalid, col.name, col.field, err)
	}
	if v.kind == sqlFloat && math.IsNaN(v.f) {
		v = sqlValue{}
	}
	arg := func(i int) sqlValue { return m.vals[e.Args[i]] }
	null := v.kind == sqlNull
	switch e.Op {
	case sqlgen.OpIsNull:
		return null, nil
	case sqlgen.OpEq:
		return sameValue(v, arg(0)), nil
	case sqlgen.OpNe:
		return !sameValue(v, arg(0)), nil
	case sqlgen.OpLt:
		return !null && compareSQL(v, arg(0)) < 0, nil
	case sqlgen.OpLte:
		return !null && compareSQL(v, arg(0)) <= 0, nil
	case sqlgen.OpGt:
		return !null && compareSQL(v, arg(0)) > 0, nil
	case sqlgen.OpGte:
		return !null && compareSQL(v, arg(0)) >= 0, nil
	case sqlgen.OpBetween:
		return !null && compareSQL(v, arg(0)) >= 0 && compareSQL(v, arg(1)) <= 0, nil
	case sqlgen.OpPrefix:
		return !null && compareSQL(v, arg(0)) >= 0 && compareSQL(v, arg(1)) < 0, nil
	case sqlgen.OpIn:
		if null {
			return false, nil
		}
		list, err := inValues(e.Type, arg(0).s)
		if err != nil {
			return false, err
		}
		for _, x := range list {
			if compareSQL(v, x) == 0 {
				return true, nil
			}
		}
		return false, nil
	}
	return false, fmt.Errorf("airnest: filter operator %d has no evaluation", e.Op)
}

// member evaluates a membership filter on a slice column as its side
// table answers it: over the elements Save stores (NULL and NaN left out).
func (m *matcher) member(e sqlgen.Expr, col *indexCol, rv reflect.Value) (bool, error) {
	if e.Op == sqlgen.OpIsEmpty {
		n, err := col.value(rv) // the column holds the slice's length
		return n.i == 0, err
	}
	elems, err := col.elements(rv, nil)
	if err != nil {
		return false, fmt.Errorf("%w: index %q (field %s): %v", ErrInvalid, col.name, col.field, err)
	}
	has := func(want sqlValue) bool {
		return slices.ContainsFunc(elems, func(x sqlValue) bool { return sameValue(x, want) })
	}
	if e.Op == sqlgen.OpContains {
		return has(m.vals[e.Args[0]]), nil
	}
	list, err := inValues(e.Type, m.vals[e.Args[0]].s)
	if err != nil {
		return false, err
	}
	found := 0
	for _, want := range list {
		if has(want) {
			found++
		}
	}
	if e.Op == sqlgen.OpContainsAny {
		return found > 0, nil
	}
	return int64(found) == m.vals[e.Args[1]].i, nil // ContainsAll: its list is distinct
}

// sameValue is SQL's IS: NULL is NULL, otherwise equal values.
func sameValue(a, b sqlValue) bool {
	if a.kind == sqlNull || b.kind == sqlNull {
		return a.kind == b.kind
	}
	return compareSQL(a, b) == 0
}

// rank orders the storage classes as SQLite does: NULL, numbers, text, blobs.
func rank(k byte) int {
	switch k {
	case sqlInt, sqlFloat:
		return 1
	case sqlText:
		return 2
	case sqlBlob:
		return 3
	}
	return 0
}

// compareSQL compares two values that are not NULL as SQLite does.
func compareSQL(a, b sqlValue) int {
	if ra, rb := rank(a.kind), rank(b.kind); ra != rb {
		return ra - rb
	}
	switch {
	case a.kind == sqlInt && b.kind == sqlInt:
		return cmp3(a.i, b.i)
	case a.kind == sqlFloat && b.kind == sqlFloat:
		return cmp3(a.f, b.f)
	case a.kind == sqlInt:
		return intFloat(a.i, b.f)
	case b.kind == sqlInt:
		return -intFloat(b.i, a.f)
	case a.kind == sqlText:
		return strings.Compare(a.s, b.s)
	case a.kind == sqlBlob:
		return bytes.Compare(a.b, b.b)
	}
	return 0
}

func cmp3[N int64 | float64](a, b N) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// intFloat compares an integer with a real exactly (no rounding of i).
func intFloat(i int64, f float64) int {
	switch {
	case f >= math.MaxInt64: // 2^63: above every int64
		return -1
	case f < math.MinInt64:
		return 1
	}
	fl := math.Floor(f)
	if c := cmp3(i, int64(fl)); c != 0 {
		return c
	}
	if f > fl {
		return -1
	}
	return 0
}

// inValues decodes In's JSON list (see Query.inList) for a column of SQL
// type typ.
func inValues(typ, list string) ([]sqlValue, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(list), &raw); err != nil {
		return nil, err
	}
	out := make([]sqlValue, 0, len(raw))
	for _, r := range raw {
		s := string(r)
		switch typ {
		case "TEXT", "BLOB":
			b, err := hex.DecodeString(strings.Trim(s, `"`))
			if err != nil {
				return nil, err
			}
			if typ == "TEXT" {
				out = append(out, sqlValue{kind: sqlText, s: string(b)})
			} else {
				out = append(out, sqlValue{kind: sqlBlob, b: b})
			}
		default:
			if i, err := strconv.ParseInt(s, 10, 64); err == nil && typ == "INTEGER" {
				out = append(out, sqlValue{kind: sqlInt, i: i})
				continue
			}
			f, err := strconv.ParseFloat(s, 64)
			if err != nil && !math.IsInf(f, 0) {
				return nil, err
			}
			out = append(out, sqlValue{kind: sqlFloat, f: f})
		}
	}
	return out, nil
}
