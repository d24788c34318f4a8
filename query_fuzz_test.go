package airnest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/airnest/airnest/internal/sqlgen"
)

type fuzzRec struct {
	ID  ID[fuzzRec]
	N   int64
	S   string
	At  time.Time
	Ref ID[fuzzRec]
	B   bool
	F   float64
	P   *int32
	Raw []byte
}

var fuzzCols = []string{"n", "s", "at", "ref", "b", "f", "p", "raw", "id"}

// fuzzValues are the values a query may use: fuzzed ones, or fixed ones.
type fuzzValues struct {
	n   int64
	s   string
	f   float64
	b   []byte
	nul bool // use nil where the shape asks for a nullable value
}

func (v fuzzValues) id() ID[fuzzRec] {
	var id ID[fuzzRec]
	copy(id.u[:], v.b)
	return id
}

func (v fuzzValues) of(col string, null bool) any {
	if null && v.nul {
		switch col {
		case "at":
			return time.Time{}
		case "ref":
			return ID[fuzzRec]{}
		case "p", "raw":
			return nil
		}
	}
	switch col {
	case "n":
		return v.n
	case "s":
		return v.s
	case "at":
		return time.Unix(0, v.n)
	case "ref", "id":
		return v.id()
	case "b":
		return v.n&1 == 1
	case "f":
		return v.f
	case "p":
		return int32(v.n)
	}
	return v.b
}

// sqlOf is the value's SQL form for a cursor key of the given column type.
func (v fuzzValues) sqlOf(typ string, null bool) sqlValue {
	if null {
		return sqlValue{}
	}
	switch typ {
	case "INTEGER":
		return sqlValue{kind: sqlInt, i: v.n}
	case "REAL":
		return sqlValue{kind: sqlFloat, f: v.f}
	case "TEXT":
		return sqlValue{kind: sqlText, s: v.s}
	}
	b := make([]byte, 16)
	copy(b, v.b)
	return sqlValue{kind: sqlBlob, b: b}
}

// shape reads the structure of a query from bytes; values come from vals.
// A column name is part of the shape: name is the one a filter may use
// instead of a declared column, and named records that one did.
type shape struct {
	b     []byte
	name  string
	vals  fuzzValues
	named bool
}

func (s *shape) next() int {
	if len(s.b) == 0 {
		return 0
	}
	c := int(s.b[0])
	s.b = s.b[1:]
	return c
}

func (s *shape) filter(depth int) Filter {
	op := s.next() % 14
	if depth >= 4 && op < 3 {
		op += 3
	}
	switch op {
	case 0, 1:
		kids := make([]Filter, s.next()%4)
		for i := range kids {
			kids[i] = s.filter(depth + 1)
		}
		if op == 0 {
			return And(kids...)
		}
		return Or(kids...)
	case 2:
		return Not(s.filter(depth + 1))
	}
	col := fuzzCols[s.next()%len(fuzzCols)]
	null := s.next()%4 == 0
	v := s.vals.of(col, null)
	switch op {
	case 3:
		return Eq(col, v)
	case 4:
		return Ne(col, v)
	case 5:
		return Lt(col, v)
	case 6:
		return Lte(col, v)
	case 7:
		return Gt(col, v)
	case 8:
		return Gte(col, v)
	case 9:
		return Between(col, v, v)
	case 10:
		vs := make([]any, s.next()%5)
		for i := range vs {
			vs[i] = v
		}
		return In(col, vs...)
	case 11:
		return Prefix("s", s.vals.s)
	case 12:
		return IsNull(col)
	}
	s.named = true
	return Filter{op: sqlgen.OpEq, col: s.name, vals: []any{v}, ok: true} // a name from the fuzzer
}

func (s *shape) query(c *Coll[fuzzRec]) *Query[fuzzRec] {
	q := c.Where(s.filter(0))
	for range s.next() % 4 {
		col := fuzzCols[s.next()%len(fuzzCols)]
		if s.next()%2 == 0 {
			q = q.OrderBy(col)
		} else {
			q = q.OrderByDesc(col)
		}
	}
	if s.next()%2 == 0 {
		q = q.Limit(int(s.vals.n & 0xffff))
	}
	if s.next()%2 == 0 {
		q = q.Offset(int(s.vals.n >> 48 & 0xffff))
	}
	if s.next()%2 == 0 && q.err == nil {
		keys, _ := q.keys()
		types := q.keyCols(keys)
		vals := make([]sqlValue, len(keys))
		for i, k := range keys {
			vals[i] = s.vals.sqlOf(types[i], k.Nullable && s.next()%3 == 0)
		}
		q = q.After(q.encodeCursor(keys, vals))
	}
	return q
}

var fuzzStore struct {
	sync.Mutex
	coll *Coll[fuzzRec]
}

// fuzzColl is a collection with a few values, shared by the tests here.
func fuzzColl(t testing.TB) *Coll[fuzzRec] {
	fuzzStore.Lock()
	defer fuzzStore.Unlock()
	if fuzzStore.coll == nil {
		s, err := OpenMemory(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewCollection[fuzzRec](s, Index("n", "s", "at", "ref", "b", "f", "p", "raw", "s,n"))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			r := fuzzRec{N: int64(i), S: fmt.Sprint(i % 3), At: time.Unix(0, int64(i)), B: i%2 == 0, F: float64(i) / 2}
			if i%3 == 0 {
				p := int32(i)
				r.P = &p
				r.Raw = []byte{byte(i)}
			}
			if err := c.Save(context.Background(), &r); err != nil {
				t.Fatal(err)
			}
		}
		fuzzStore.coll = c
	}
	return fuzzStore.coll
}

// FuzzQuerySQL builds a query of a fuzzed shape from fuzzed values and checks
// that its SQL text and parameter layout are exactly those of the same shape
// built from fixed values: no value ever becomes SQL text. A fuzzed column
// name (part of the shape) must be a declared column or fail the query. It
// also runs the query, so every shape must be valid SQL.
func FuzzQuerySQL(f *testing.F) {
	f.Add([]byte{3, 1}, "pending", int64(3), 1.5, []byte("0123456789abcdef"))
	f.Add([]byte{0, 3, 3, 1, 0, 5, 2, 0, 2, 2, 1, 0, 1, 0, 0, 0, 0}, `x"; DROP TABLE "fuzzRec`, int64(-1), math.Inf(1), []byte{})
	f.Add([]byte{2, 1, 10, 0, 0, 4, 1, 5, 1, 0, 0, 0}, "' OR 1=1 --", int64(math.MinInt64), math.NaN(), []byte{0xff})
	f.Add([]byte{13, 0, 1}, `n" OR 1=1 OR "n`, int64(7), 0.0, []byte{1}) // a hostile column name
	c := fuzzColl(f)
	fixed := fuzzValues{n: 5, s: "fixed", f: 2.5, b: []byte("fedcba9876543210")}
	f.Fuzz(func(t *testing.T, b []byte, s string, n int64, fl float64, raw []byte) {
		if len(b) > 256 {
			return
		}
		gs := &shape{b: b, name: s, vals: fuzzValues{n: n, s: s, f: fl, b: raw, nul: true}}
		got := gs.query(c)
		fx := fixed
		if _, ok := prefixEnd(s); !ok {
			// A Prefix that every text above it starts with has no upper
			// bound: one of two fixed texts, chosen by that fact alone.
			fx.s = ""
		}
		want := (&shape{b: b, name: s, vals: fx}).query(c)
		declared := slices.ContainsFunc(fuzzCols, func(c string) bool { return foldName(c) == foldName(s) })
		if gs.named && got.err == nil && !declared {
			t.Fatalf("a query on the undeclared column %q did not fail", s)
		}
		if got.err != nil {
			if !errors.Is(got.err, ErrInvalid) {
				t.Fatalf("query error %v does not wrap ErrInvalid", got.err)
			}
			return // a value that does not fit its column, or a bad name
		}
		if want.err != nil {
			t.Fatalf("fixed values fail where fuzzed ones pass: %v", want.err)
		}
		rg, err := got.start()
		if err != nil {
			t.Fatal(err)
		}
		rw, err := want.start()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []sqlgen.Kind{sqlgen.Rows, sqlgen.IDs, sqlgen.Count, sqlgen.Exists, sqlgen.Delete} {
			sg, ag := got.sql(rg, k)
			sw, aw := want.sql(rw, k)
			if sg != sw || !slices.Equal(ag, aw) {
				t.Fatalf("SQL depends on values:\n%s\n%v\n%s\n%v", sg, ag, sw, aw)
			}
			if len(got.vals) != len(want.vals) {
				t.Fatalf("%d values, %d with fixed values", len(got.vals), len(want.vals))
			}
		}
		ctx := context.Background()
		if _, err := got.Find(ctx); err != nil {
			t.Fatalf("Find: %v", err)
		}
		if _, err := got.Count(ctx); err != nil {
			t.Fatalf("Count: %v", err)
		}
		if _, err := got.Explain(ctx); err != nil {
			t.Fatalf("Explain: %v", err)
		}
	})
}

// TestQueryValueConversionMatchesSave checks that each kind of query value
// becomes the SQL value Save writes for the field holding it.
func TestQueryValueConversionMatchesSave(t *testing.T) {
	t.Parallel()
	c := fuzzColl(t)
	p := int32(-4)
	r := fuzzRec{N: -3, S: "s", At: time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC), Ref: NewID[fuzzRec](), B: true, F: 0.1, P: &p, Raw: []byte{0}}
	rv := reflect.ValueOf(&r).Elem()
	for _, col := range c.c.cols {
		fv, _, err := col.leaf(rv)
		if err != nil {
			t.Fatal(err)
		}
		want, err := col.conv(fv)
		if err != nil {
			t.Fatal(err)
		}
		got, err := queryValue(&col, fv.Interface())
		if err != nil || !got.equal(want) {
			t.Errorf("%s: query value %v, %v; Save writes %v", col.name, got, err, want)
		}
		if fv.Kind() == reflect.Pointer {
			got, err = queryValue(&col, fv.Elem().Interface())
			if err != nil || !got.equal(want) {
				t.Errorf("%s: query value of *%s %v, %v; Save writes %v", col.name, fv.Elem().Type(), got, err, want)
			}
		}
	}
}
