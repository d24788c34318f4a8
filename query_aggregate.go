package airnest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

// Number is the Go types Sum can add up into.
type Number interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 |
		~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uintptr |
		~float32 | ~float64
}

// Sum returns the sum of column col over the values q matches (within its
// Limit and Offset), ignoring NULLs; 0 when there are none. col is a
// numeric index column, spelt as in filters. An integer V needs an integer
// column, whose sum is exact: a sum outside int64's range, or one that
// does not fit V, is an error wrapping ErrInvalid, never a wrapped-around
// number. A float V takes any numeric column.
//
//	total, err := airnest.Sum[int64](ctx, Jobs.Where(airnest.Eq("status", "done")), "priority")
//
// The database adds up the column; a query with Match is added up in Go,
// over the values Match accepts. Errors: ErrInvalid (a bad query, column
// or V), ErrSchema, ErrClosed, ErrTxDone, the context's error.
func Sum[V Number, T any](ctx context.Context, q *Query[T], col string) (V, error) {
	var zero V
	a, err := q.aggregate(ctx, "Sum", col, sqlgen.AggSum, reflect.TypeFor[V]())
	if err != nil {
		return zero, err
	}
	out := reflect.New(reflect.TypeFor[V]()).Elem()
	switch v := a.v; {
	case v.kind == sqlNull:
		return zero, nil
	case isFloat(out.Kind()) && v.kind == sqlFloat:
		out.SetFloat(v.f)
	case isFloat(out.Kind()):
		out.SetFloat(float64(v.i))
	case isInt(out.Kind()) && !out.OverflowInt(v.i):
		out.SetInt(v.i)
	case isUint(out.Kind()) && v.i >= 0 && !out.OverflowUint(uint64(v.i)):
		out.SetUint(uint64(v.i))
	default:
		return zero, a.failf("the sum %d does not fit a %s", v.i, out.Type())
	}
	return out.Interface().(V), nil
}

// Avg returns the mean of column col over the values q matches, ignoring
// NULLs, as a float64; ErrNotFound when there are none. col is a numeric
// index column. See Sum.
func Avg[T any](ctx context.Context, q *Query[T], col string) (float64, error) {
	a, err := q.aggregate(ctx, "Avg", col, sqlgen.AggAvg, reflect.TypeFor[float64]())
	if err != nil {
		return 0, err
	}
	if a.v.kind == sqlNull {
		return 0, a.none()
	}
	if a.v.kind == sqlInt {
		return float64(a.v.i), nil
	}
	return a.v.f, nil
}

// Min returns the least value of column col over the values q matches,
// ignoring NULLs, in the column's order (see Lt); ErrNotFound when there is
// none. V is the column's field type, or what it points to (int for a
// *int field), or string for a text column. A time comes back in UTC (the
// column holds unix nanoseconds). See Sum.
func Min[V any, T any](ctx context.Context, q *Query[T], col string) (V, error) {
	return extreme[V](ctx, q, "Min", col, sqlgen.AggMin)
}

// Max returns the greatest value of column col; see Min.
func Max[V any, T any](ctx context.Context, q *Query[T], col string) (V, error) {
	return extreme[V](ctx, q, "Max", col, sqlgen.AggMax)
}

func extreme[V any, T any](ctx context.Context, q *Query[T], op, col string, agg sqlgen.Agg) (V, error) {
	var zero V
	a, err := q.aggregate(ctx, op, col, agg, reflect.TypeFor[V]())
	if err != nil {
		return zero, err
	}
	if a.v.kind == sqlNull {
		return zero, a.none()
	}
	v, err := a.goValue(a.v)
	if err != nil {
		return zero, err
	}
	return v.Interface().(V), nil
}

// CountBy returns how many of the values q matches have each value of
// column col (a GROUP BY); values whose column is NULL are not counted
// (count them with IsNull). K is the column's field type, or what it
// points to, or string for a text column; a time key is in UTC.
//
//	byStatus, err := airnest.CountBy[string](ctx, Jobs.Where(), "status")
//
// See Sum.
func CountBy[K comparable, T any](ctx context.Context, q *Query[T], col string) (map[K]int64, error) {
	kt := reflect.TypeFor[K]()
	a, err := q.aggregate(ctx, "CountBy", col, sqlgen.AggGroup, kt)
	if err != nil {
		return nil, err
	}
	out := make(map[K]int64, len(a.groups))
	for _, g := range a.groups {
		k, err := a.goValue(g.key)
		if err != nil {
			return nil, err
		}
		out[k.Interface().(K)] += g.n
	}
	return out, nil
}

// aggResult is an aggregate as the database returns it.
type aggResult struct {
	v      sqlValue   // Sum, Avg, Min, Max; NULL for none
	groups []aggGroup // CountBy
	coll   string
	op     string
	col    *indexCol
	goType reflect.Type // the result type asked for
}

type aggGroup struct {
	key sqlValue
	n   int64
}

func (a *aggResult) failf(format string, args ...any) error {
	return errorf("airnest: %s.%s: %w: column %q (field %s %s): %s", a.coll, a.op, ErrInvalid, a.col.name, a.col.field, a.col.typ, fmt.Sprintf(format, args...))
}

func (a *aggResult) none() error {
	return errorf("airnest: %s.%s: %w: no value has a %q", a.coll, a.op, ErrNotFound, a.col.name)
}

// aggregate checks that a result of Go type want fits column name for op,
// and computes agg: in the database, or in Go for a Match query.
func (q *Query[T]) aggregate(ctx context.Context, op, name string, agg sqlgen.Agg, want reflect.Type) (*aggResult, error) {
	if q.err != nil {
		return nil, q.err
	}
	col, err := q.column(op, name)
	if err != nil {
		return nil, err
	}
	a := &aggResult{coll: q.c.c.name, op: op, col: col, goType: want}
	if err := a.check(agg); err != nil {
		return nil, err
	}
	if q.match != nil {
		err = q.aggregateInGo(ctx, a, agg)
	} else {
		err = q.aggregateInDB(ctx, a, agg)
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// base is t without pointers.
func base(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// check says whether the result type fits the column for agg.
func (a *aggResult) check(agg sqlgen.Agg) error {
	ft, want := base(a.col.typ), a.goType
	if a.col.elems != nil {
		return a.failf("a slice column holds its elements apart; %s takes a column of one value", a.op)
	}
	numeric := (isInt(ft.Kind()) || isUint(ft.Kind()) || isFloat(ft.Kind())) && a.col.sql != "TEXT"
	switch agg {
	case sqlgen.AggSum, sqlgen.AggAvg:
		switch {
		case !numeric:
			return a.failf("%s needs a numeric column", a.op)
		case isFloat(want.Kind()):
		case a.col.sql == "REAL":
			return a.failf("Sum[%s] of a float column: use a float type", want)
		}
		return nil
	case sqlgen.AggGroup:
		if want.Kind() == reflect.Pointer {
			return a.failf("CountBy[%s]: a pointer key compares by address; use CountBy[%s]", want, want.Elem())
		}
	}
	if want == a.col.typ || want == ft || (want.Kind() == reflect.String && a.col.sql == "TEXT" && want.PkgPath() == "") {
		if a.col.sql == "TEXT" && want.Kind() != reflect.String && !reflect.PointerTo(base(want)).Implements(textUnmarshalerType) {
			return a.failf("%s is stored as its String(), which %s cannot turn back into a %s: use %s[string]", ft, a.op, ft, a.op)
		}
		return nil
	}
	return a.failf("%s[%s] does not fit: use %s[%s]", a.op, want, a.op, ft)
}

var (
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	scannerType         = reflect.TypeFor[sql.Scanner]()
)

// goValue turns a column value back into the result type.
func (a *aggResult) goValue(v sqlValue) (reflect.Value, error) {
	t := a.goType
	out := reflect.New(base(t)).Elem()
	bad := func() (reflect.Value, error) {
		return reflect.Value{}, a.failf("the stored value %s does not fit a %s", v, t)
	}
	switch k := out.Kind(); {
	case out.Type() == timeType && v.kind == sqlInt:
		out.Set(reflect.ValueOf(time.Unix(0, v.i).UTC()))
	case reflect.PointerTo(out.Type()).Implements(scannerType) && out.Type().Implements(rawIDType) && v.kind == sqlBlob:
		if err := out.Addr().Interface().(sql.Scanner).Scan(v.b); err != nil {
			return bad()
		}
	case k == reflect.String && v.kind == sqlText:
		out.SetString(v.s)
	case reflect.PointerTo(out.Type()).Implements(textUnmarshalerType) && v.kind == sqlText:
		if err := out.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(v.s)); err != nil {
			return bad()
		}
	case k == reflect.Slice && out.Type().Elem().Kind() == reflect.Uint8 && v.kind == sqlBlob:
		out.SetBytes(bytes.Clone(v.b))
	case k == reflect.Bool && v.kind == sqlInt:
		out.SetBool(v.i != 0)
	case isInt(k) && v.kind == sqlInt && !out.OverflowInt(v.i):
		out.SetInt(v.i)
	case isUint(k) && v.kind == sqlInt && v.i >= 0 && !out.OverflowUint(uint64(v.i)):
		out.SetUint(uint64(v.i))
	case isFloat(k) && v.kind == sqlFloat:
		out.SetFloat(v.f)
	case isFloat(k) && v.kind == sqlInt:
		out.SetFloat(float64(v.i))
	default:
		return bad()
	}
	if t.Kind() == reflect.Pointer {
		out = out.Addr()
	}
	return out, nil
}

// aggregateInDB runs the aggregate's statement.
func (q *Query[T]) aggregateInDB(ctx context.Context, a *aggResult, agg sqlgen.Agg) error {
	r, err := q.start()
	if err != nil {
		return err
	}
	sql, args := q.c.c.table.Aggregate(q.selectOf(r), agg, a.col.name, a.col.sql)
	err = q.c.read(ctx, a.op, func(conn backend.Conn) error {
		st, release, err := q.prepare(conn, r, sql, args)
		if err != nil {
			return err
		}
		defer release()
		for st.Step() {
			if agg == sqlgen.AggGroup {
				a.groups = append(a.groups, aggGroup{column(st, 0), st.ColumnInt64(1)})
				continue
			}
			a.v = column(st, 0)
		}
		return st.Err()
	})
	if err != nil {
		if agg == sqlgen.AggSum && strings.Contains(err.Error(), "integer overflow") {
			return a.failf("the sum is outside int64's range (%v)", err)
		}
		return err
	}
	if a.v.kind == sqlText && agg == sqlgen.AggSum { // PostgreSQL's exact numeric sum
		i, err := strconv.ParseInt(a.v.s, 10, 64)
		if err != nil {
			return a.failf("the sum %s is outside int64's range", a.v.s)
		}
		a.v = sqlValue{kind: sqlInt, i: i}
	}
	return nil
}

// aggregateInGo computes the aggregate over the values a Match query
// accepts, as the database would over the column.
func (q *Query[T]) aggregateInGo(ctx context.Context, a *aggResult, agg sqlgen.Agg) error {
	var (
		sum    int64
		fsum   float64
		n      int64
		groups = map[groupKey]int64{}
	)
	err := q.eachMatch(ctx, a.op, max(q.offset, 0), q.limit, func(v T, _ func() []sqlValue) (bool, error) {
		sv, err := a.col.value(reflect.ValueOf(&v).Elem())
		if err != nil {
			return false, fmt.Errorf("id %s: %w", *q.c.c.idOf(&v), err)
		}
		if sv.kind == sqlFloat && math.IsNaN(sv.f) || sv.kind == sqlNull {
			return true, nil // stored as NULL
		}
		n++
		switch agg {
		case sqlgen.AggSum, sqlgen.AggAvg:
			if sv.kind == sqlFloat {
				fsum += sv.f
				return true, nil
			}
			fsum += float64(sv.i)
			s := sum + sv.i // wraps on overflow, which this detects
			if agg == sqlgen.AggSum && (sv.i > 0 && s < sum || sv.i < 0 && s > sum) {
				return false, a.failf("the sum is outside int64's range")
			}
			sum = s
		case sqlgen.AggMin:
			if n == 1 || compareSQL(sv, a.v) < 0 {
				a.v = sv
			}
		case sqlgen.AggMax:
			if n == 1 || compareSQL(sv, a.v) > 0 {
				a.v = sv
			}
		case sqlgen.AggGroup:
			groups[keyOf(sv)]++
		}
		return true, nil
	}, nil)
	if err != nil {
		return err
	}
	switch {
	case n == 0 && agg != sqlgen.AggGroup:
		a.v = sqlValue{}
	case agg == sqlgen.AggSum && a.col.sql == "REAL":
		a.v = sqlValue{kind: sqlFloat, f: fsum}
	case agg == sqlgen.AggSum:
		a.v = sqlValue{kind: sqlInt, i: sum}
	case agg == sqlgen.AggAvg:
		a.v = sqlValue{kind: sqlFloat, f: fsum / float64(n)}
	}
	for k, c := range groups {
		a.groups = append(a.groups, aggGroup{k.value(), c})
	}
	return nil
}

// groupKey is a comparable form of a non-NULL sqlValue.
type groupKey struct {
	kind byte
	i    int64
	f    float64
	s    string // text, or a blob's bytes
}

func keyOf(v sqlValue) groupKey {
	if v.kind == sqlBlob {
		return groupKey{kind: v.kind, s: string(v.b)}
	}
	return groupKey{v.kind, v.i, v.f, v.s}
}

func (k groupKey) value() sqlValue {
	if k.kind == sqlBlob {
		return sqlValue{kind: sqlBlob, b: []byte(k.s)}
	}
	return sqlValue{kind: k.kind, i: k.i, f: k.f, s: k.s}
}
