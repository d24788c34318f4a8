package airnest_test

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airnest/airnest"
)

// Rec has one index column of every kind a query must handle.
type Rec struct {
	ID    airnest.ID[Rec]
	Tag   string // not indexed: names the value in test failures
	N     int
	U8    uint8
	S     string
	At    time.Time
	Ref   airnest.ID[Job]
	B     bool
	F     float64
	P     *int
	Raw   []byte
	Level Level
}

var recIndexes = airnest.Index("n", "u8", "s", "at", "ref", "b", "f", "p", "raw", "level")

// recStoreAt declares Rec on the store at dsn and opens it, closed when
// the test ends.
func recStoreAt(t testing.TB, dsn string, opts ...airnest.Option) (*airnest.Store, *airnest.Coll[Rec]) {
	t.Helper()
	s := airnest.NewStore()
	if len(opts) == 0 {
		opts = []airnest.Option{recIndexes}
	}
	recs := airnest.Collection[Rec](s, opts...)
	if err := s.Open(bg, dsn, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, recs
}

var (
	t0   = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ref1 = airnest.NewID[Job]()
	ref2 = airnest.NewID[Job]()
)

// highText sorts after other text byte-wise: invalid UTF-8 where the
// backend's text holds any bytes, else the highest code point.
var highText = map[string]string{"sqlite": "\xff", "postgres": "\U0010FFFF"}

// recFixture is a small set with ties, NULLs and awkward text, for the
// backend of dsn.
func recFixture(dsn string) []Rec {
	hi := highText[backendOf(dsn)]
	return []Rec{
		{Tag: "a", N: 1, U8: 1, S: "apple", At: t0, Ref: ref1, B: true, F: 0.5, P: ptr(1), Raw: []byte{1}, Level: 1},
		{Tag: "b", N: 2, U8: 2, S: "Apple", At: t0.Add(time.Hour), Ref: ref2, B: false, F: 1.5, P: nil, Raw: nil, Level: 2},
		{Tag: "c", N: 3, U8: 3, S: "ap%le", At: time.Time{}, B: true, F: -2, P: ptr(3), Raw: []byte{1, 2}, Level: 3},
		{Tag: "d", N: 3, U8: 255, S: "ap_le", At: t0.Add(-time.Hour), Ref: ref1, B: false, F: 2.5, P: ptr(-1), Raw: []byte{}, Level: 1},
		{Tag: "e", N: -7, U8: 0, S: "", At: t0.Add(time.Nanosecond), B: true, F: 1e300, P: ptr(0), Raw: []byte{0xff}, Level: 10},
		{Tag: "f", N: 10, U8: 10, S: "b" + hi + hi, At: t0, Ref: ref2, B: false, F: 0.5, P: nil, Raw: []byte{1, 0}, Level: 9},
		{Tag: "g", N: 100, U8: 100, S: hi + hi, At: time.Time{}, B: true, F: math.Inf(-1), P: ptr(100), Level: 2},
		{Tag: "h", N: 3, U8: 7, S: "apricot", At: t0.Add(time.Minute), Ref: ref1, B: true, F: 3, P: ptr(3), Raw: []byte{2}, Level: 3},
	}
}

func saveAll(t testing.TB, recs *airnest.Coll[Rec], vs []Rec) []Rec {
	t.Helper()
	for i := range vs {
		if err := recs.Save(bg, &vs[i]); err != nil {
			t.Fatal(err)
		}
	}
	return vs
}

// saveTx saves many values in one transaction.
func saveTx(t testing.TB, s *airnest.Store, recs *airnest.Coll[Rec], vs []Rec) []Rec {
	t.Helper()
	err := s.Tx(bg, func(tx *airnest.Tx) error {
		in := recs.In(tx)
		for i := range vs {
			if err := in.Save(bg, &vs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func tags(vs []Rec) string {
	var b strings.Builder
	for _, v := range vs {
		b.WriteString(v.Tag)
	}
	return b.String()
}

func TestQueryFilters(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		_, recs := recStoreAt(t, dsn)
		all := saveAll(t, recs, recFixture(dsn))
		hi := highText[backendOf(dsn)]
		intp := func(p *int, f func(int) bool) bool { return p != nil && f(*p) }
		cases := []struct {
			name string
			f    airnest.Filter
			want func(r Rec) bool
		}{
			{"int Eq", airnest.Eq("n", 3), func(r Rec) bool { return r.N == 3 }},
			{"int Eq int64", airnest.Eq("n", int64(3)), func(r Rec) bool { return r.N == 3 }},
			{"int Eq uint8", airnest.Eq("n", uint8(3)), func(r Rec) bool { return r.N == 3 }},
			{"int Ne", airnest.Ne("n", 3), func(r Rec) bool { return r.N != 3 }},
			{"int Lt", airnest.Lt("n", 3), func(r Rec) bool { return r.N < 3 }},
			{"int Lte", airnest.Lte("n", 3), func(r Rec) bool { return r.N <= 3 }},
			{"int Gt", airnest.Gt("n", 3), func(r Rec) bool { return r.N > 3 }},
			{"int Gte", airnest.Gte("n", 3), func(r Rec) bool { return r.N >= 3 }},
			{"int Between", airnest.Between("n", 2, 10), func(r Rec) bool { return r.N >= 2 && r.N <= 10 }},
			{"int In", airnest.In("n", 1, 10, 99), func(r Rec) bool { return r.N == 1 || r.N == 10 }},
			{"int Not In", airnest.Not(airnest.In("n", 1, 10, 99)), func(r Rec) bool { return r.N != 1 && r.N != 10 }},
			{"uint8 Gte int", airnest.Gte("u8", 100), func(r Rec) bool { return r.U8 >= 100 }},
			{"uint8 Eq 255", airnest.Eq("u8", 255), func(r Rec) bool { return r.U8 == 255 }},
			{"string Eq", airnest.Eq("s", "apple"), func(r Rec) bool { return r.S == "apple" }},
			{"string Ne", airnest.Ne("s", "apple"), func(r Rec) bool { return r.S != "apple" }},
			{"string Lt", airnest.Lt("s", "apple"), func(r Rec) bool { return r.S < "apple" }},
			{"string Gte", airnest.Gte("s", "b"), func(r Rec) bool { return r.S >= "b" }},
			{"string Between", airnest.Between("s", "ap", "apq"), func(r Rec) bool { return r.S >= "ap" && r.S <= "apq" }},
			{"string In", airnest.In("s", "apple", "", hi+hi, "nope"), func(r Rec) bool { return r.S == "apple" || r.S == "" || r.S == hi+hi }},
			{"Prefix is case-sensitive", airnest.Prefix("s", "ap"), func(r Rec) bool { return strings.HasPrefix(r.S, "ap") }},
			{"Prefix upper", airnest.Prefix("s", "App"), func(r Rec) bool { return strings.HasPrefix(r.S, "App") }},
			{"Prefix % is literal", airnest.Prefix("s", "ap%"), func(r Rec) bool { return strings.HasPrefix(r.S, "ap%") }},
			{"Prefix _ is literal", airnest.Prefix("s", "ap_"), func(r Rec) bool { return strings.HasPrefix(r.S, "ap_") }},
			{"Prefix empty", airnest.Prefix("s", ""), func(r Rec) bool { return true }},
			{"Prefix high", airnest.Prefix("s", hi), func(r Rec) bool { return strings.HasPrefix(r.S, hi) }},
			{"Prefix b high", airnest.Prefix("s", "b"+hi), func(r Rec) bool { return strings.HasPrefix(r.S, "b"+hi) }},
			{"Not Prefix", airnest.Not(airnest.Prefix("s", "ap")), func(r Rec) bool { return !strings.HasPrefix(r.S, "ap") }},
			{"time Eq", airnest.Eq("at", t0), func(r Rec) bool { return r.At.Equal(t0) }},
			{"time Eq other zone", airnest.Eq("at", t0.In(time.FixedZone("X", 7200))), func(r Rec) bool { return r.At.Equal(t0) }},
			{"time Eq zero is NULL", airnest.Eq("at", time.Time{}), func(r Rec) bool { return r.At.IsZero() }},
			{"time IsNull", airnest.IsNull("at"), func(r Rec) bool { return r.At.IsZero() }},
			{"time Lt", airnest.Lt("at", t0), func(r Rec) bool { return !r.At.IsZero() && r.At.Before(t0) }},
			{"time Gt ns", airnest.Gt("at", t0), func(r Rec) bool { return r.At.After(t0) }},
			{"time Not Gt", airnest.Not(airnest.Gt("at", t0)), func(r Rec) bool { return !r.At.After(t0) }},
			{"time Between", airnest.Between("at", t0, t0.Add(time.Minute)), func(r Rec) bool {
				return !r.At.IsZero() && !r.At.Before(t0) && !r.At.After(t0.Add(time.Minute))
			}},
			{"time In", airnest.In("at", t0, t0.Add(time.Hour)), func(r Rec) bool { return r.At.Equal(t0) || r.At.Equal(t0.Add(time.Hour)) }},
			{"ID Eq", airnest.Eq("ref", ref1), func(r Rec) bool { return r.Ref == ref1 }},
			{"ID Ne", airnest.Ne("ref", ref1), func(r Rec) bool { return r.Ref != ref1 }},
			{"ID IsNull", airnest.IsNull("ref"), func(r Rec) bool { return r.Ref.IsZero() }},
			{"ID In", airnest.In("ref", ref2, airnest.NewID[Job]()), func(r Rec) bool { return r.Ref == ref2 }},
			{"id Eq", airnest.Eq("id", all[3].ID), func(r Rec) bool { return r.ID == all[3].ID }},
			{"id In", airnest.In("id", all[0].ID, all[5].ID), func(r Rec) bool { return r.ID == all[0].ID || r.ID == all[5].ID }},
			{"id Gt", airnest.Gt("id", all[5].ID), func(r Rec) bool { return r.ID.Compare(all[5].ID) > 0 }},
			{"bool Eq", airnest.Eq("b", true), func(r Rec) bool { return r.B }},
			{"bool Ne", airnest.Ne("b", true), func(r Rec) bool { return !r.B }},
			{"bool In", airnest.In("b", false), func(r Rec) bool { return !r.B }},
			{"float Eq", airnest.Eq("f", 0.5), func(r Rec) bool { return r.F == 0.5 }},
			{"float Eq int", airnest.Eq("f", 3), func(r Rec) bool { return r.F == 3 }},
			{"float Lt", airnest.Lt("f", 1), func(r Rec) bool { return r.F < 1 }},
			{"float Gte", airnest.Gte("f", 2.5), func(r Rec) bool { return r.F >= 2.5 }},
			{"float In", airnest.In("f", 0.5, 1e300, math.Inf(-1), 0.1), func(r Rec) bool { return r.F == 0.5 || r.F == 1e300 || math.IsInf(r.F, -1) }},
			{"pointer Eq nil", airnest.Eq("p", nil), func(r Rec) bool { return r.P == nil }},
			{"pointer Eq value", airnest.Eq("p", 3), func(r Rec) bool { return intp(r.P, func(n int) bool { return n == 3 }) }},
			{"pointer Eq pointer", airnest.Eq("p", ptr(3)), func(r Rec) bool { return intp(r.P, func(n int) bool { return n == 3 }) }},
			{"pointer Eq nil pointer", airnest.Eq("p", (*int)(nil)), func(r Rec) bool { return r.P == nil }},
			{"pointer Ne", airnest.Ne("p", 3), func(r Rec) bool { return !intp(r.P, func(n int) bool { return n == 3 }) }},
			{"pointer Ne nil", airnest.Ne("p", nil), func(r Rec) bool { return r.P != nil }},
			{"pointer Lt", airnest.Lt("p", 3), func(r Rec) bool { return intp(r.P, func(n int) bool { return n < 3 }) }},
			{"pointer Not Lt", airnest.Not(airnest.Lt("p", 3)), func(r Rec) bool { return !intp(r.P, func(n int) bool { return n < 3 }) }},
			{"pointer Between", airnest.Between("p", 0, 3), func(r Rec) bool { return intp(r.P, func(n int) bool { return n >= 0 && n <= 3 }) }},
			{"pointer Not Between", airnest.Not(airnest.Between("p", 0, 3)), func(r Rec) bool { return !intp(r.P, func(n int) bool { return n >= 0 && n <= 3 }) }},
			{"pointer In", airnest.In("p", 1, 100), func(r Rec) bool { return intp(r.P, func(n int) bool { return n == 1 || n == 100 }) }},
			{"pointer Not In", airnest.Not(airnest.In("p", 1, 100)), func(r Rec) bool { return !intp(r.P, func(n int) bool { return n == 1 || n == 100 }) }},
			{"pointer IsNull", airnest.IsNull("p"), func(r Rec) bool { return r.P == nil }},
			{"pointer Not IsNull", airnest.Not(airnest.IsNull("p")), func(r Rec) bool { return r.P != nil }},
			{"bytes Eq", airnest.Eq("raw", []byte{1, 2}), func(r Rec) bool { return r.Raw != nil && bytes.Equal(r.Raw, []byte{1, 2}) }},
			{"bytes Eq empty", airnest.Eq("raw", []byte{}), func(r Rec) bool { return r.Raw != nil && len(r.Raw) == 0 }},
			{"bytes IsNull", airnest.IsNull("raw"), func(r Rec) bool { return r.Raw == nil }},
			{"bytes Gt", airnest.Gt("raw", []byte{1}), func(r Rec) bool { return r.Raw != nil && bytes.Compare(r.Raw, []byte{1}) > 0 }},
			{"bytes In", airnest.In("raw", []byte{1}, []byte{0xff}), func(r Rec) bool {
				return r.Raw != nil && (bytes.Equal(r.Raw, []byte{1}) || bytes.Equal(r.Raw, []byte{0xff}))
			}},
			{"named int Eq int", airnest.Eq("level", 3), func(r Rec) bool { return r.Level == 3 }},
			{"named int Eq Level", airnest.Eq("level", Level(3)), func(r Rec) bool { return r.Level == 3 }},
			{"named int sorts as number", airnest.Gt("level", 2), func(r Rec) bool { return r.Level > 2 }},
			{"And", airnest.And(airnest.Eq("b", true), airnest.Gt("n", 1)), func(r Rec) bool { return r.B && r.N > 1 }},
			{"Or", airnest.Or(airnest.Eq("s", "apple"), airnest.Lt("n", 0)), func(r Rec) bool { return r.S == "apple" || r.N < 0 }},
			{"Not And", airnest.Not(airnest.And(airnest.Eq("b", true), airnest.Gt("n", 1))), func(r Rec) bool { return !(r.B && r.N > 1) }},
			{"Not Or", airnest.Not(airnest.Or(airnest.Eq("s", "apple"), airnest.IsNull("p"))), func(r Rec) bool { return !(r.S == "apple" || r.P == nil) }},
			{"Not Not", airnest.Not(airnest.Not(airnest.Eq("n", 3))), func(r Rec) bool { return r.N == 3 }},
			{"nested", airnest.Or(airnest.And(airnest.Eq("n", 3), airnest.Not(airnest.Eq("s", "ap%le"))), airnest.In("level", 9, 10)),
				func(r Rec) bool { return r.N == 3 && r.S != "ap%le" || r.Level == 9 || r.Level == 10 }},
			{"empty And", airnest.And(), func(r Rec) bool { return true }},
			{"empty Or", airnest.Or(), func(r Rec) bool { return false }},
			{"Not empty Or", airnest.Not(airnest.Or()), func(r Rec) bool { return true }},
			{"In nothing", airnest.In[int]("n"), func(r Rec) bool { return false }},
			{"Not In nothing", airnest.Not(airnest.In[string]("s")), func(r Rec) bool { return true }},
		}
		for _, tc := range cases {
			var want []Rec
			for _, r := range all {
				if tc.want(r) {
					want = append(want, r)
				}
			}
			q := recs.Where(tc.f)
			got, err := q.Find(bg)
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			if tags(got) != tags(want) {
				t.Errorf("%s: got %q, want %q", tc.name, tags(got), tags(want))
			}
			n, err := q.Count(bg)
			if err != nil || n != len(want) {
				t.Errorf("%s: Count = %d, %v; want %d", tc.name, n, err, len(want))
			}
			ok, err := q.Exists(bg)
			if err != nil || ok != (len(want) > 0) {
				t.Errorf("%s: Exists = %v, %v", tc.name, ok, err)
			}
			ids, err := q.IDs(bg)
			if err != nil || len(ids) != len(want) {
				t.Errorf("%s: IDs = %d, %v", tc.name, len(ids), err)
			}
			for i := range ids {
				if ids[i] != want[i].ID {
					t.Errorf("%s: IDs[%d] differs", tc.name, i)
				}
			}
		}
	})
}

func TestQueryValueTypeErrors(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		_, recs := recStoreAt(t, dsn)
		saveAll(t, recs, recFixture(dsn))
		cases := []struct {
			f    airnest.Filter
			want []string // the message names these
		}{
			{airnest.Eq("n", "3"), []string{"Rec", `"n"`, "int", "string"}},
			{airnest.Eq("n", 1.5), []string{"Rec", `"n"`, "int", "float64"}},
			{airnest.Eq("n", int64(math.MaxInt64)), nil}, // fits an int: no error
			{airnest.Eq("u8", 256), []string{`"u8"`, "uint8", "int"}},
			{airnest.Eq("u8", -1), []string{`"u8"`, "uint8"}},
			{airnest.Eq("s", time.Now()), []string{`"s"`, "string", "time.Time"}},
			{airnest.Eq("s", 3), []string{`"s"`, "string", "int"}},
			{airnest.Eq("at", "2026-01-01"), []string{`"at"`, "time.Time", "string"}},
			{airnest.Eq("at", t0.Unix()), []string{`"at"`, "time.Time", "int64"}},
			{airnest.Eq("ref", airnest.NewID[Session]()), []string{`"ref"`, "ID[", "Session"}},
			{airnest.Eq("id", airnest.NewID[Job]()), []string{`"id"`, "Job"}},
			{airnest.Eq("b", 1), []string{`"b"`, "bool", "int"}},
			{airnest.Eq("level", Label{}), []string{`"level"`, "Level", "Label"}},
			{airnest.Eq("n", nil), []string{`"n"`, "nil"}},
			{airnest.Eq("f", nil), []string{`"f"`, "nil"}},
			{airnest.Eq("raw", "x"), []string{`"raw"`, "[]uint8", "string"}},
			{airnest.Lt("p", nil), []string{"Lt", `"p"`, "NULL"}},
			{airnest.Gt("at", time.Time{}), []string{"Gt", `"at"`, "NULL"}},
			{airnest.Between("p", 1, nil), []string{"Between", "NULL"}},
			{airnest.In[any]("p", 1, 2, nil), []string{"In", "value 2", "NULL"}},
			{airnest.In[any]("n", 1, "x"), []string{"In", "value 1", "string"}},
			{airnest.Prefix("n", "1"), []string{"Prefix", `"n"`, "not text"}},
			{airnest.Eq("nope", 1), []string{"Rec", `"nope"`, "no such column", "n, u8, s, at, ref, b, f, p, raw, level, id"}},
			{airnest.Eq("Tag", "a"), []string{`"Tag"`, "no such column"}},
			{airnest.Eq("N", 1), nil},      // any case: the rule Index uses
			{airnest.Eq("n", 2.0), nil},    // a float that is exactly an int fits an int
			{airnest.Eq("u8", 255.0), nil}, // and a uint8
			{airnest.Eq("u8", 256.0), []string{`"u8"`, "uint8", "float64"}},
			{airnest.Eq("u8", -1.0), []string{`"u8"`, "uint8", "float64"}},
			{airnest.Eq("n", math.Inf(1)), []string{`"n"`, "int", "float64"}},
			{airnest.Eq("n", math.NaN()), []string{`"n"`, "int", "float64"}},
			{airnest.Eq("n", 0x1p63), []string{`"n"`, "int", "float64"}},
			{airnest.Eq("n_x", 1), []string{`"n_x"`, "no such column"}},
			{airnest.Filter{}, []string{"zero Filter"}},
			{airnest.And(airnest.Eq("n", 1), airnest.Not(airnest.Eq("n", "x"))), []string{`"n"`, "string"}},
		}
		for _, tc := range cases {
			q := recs.Where(tc.f)
			_, err := q.Find(bg)
			if tc.want == nil {
				if err != nil {
					t.Errorf("%v: %v", tc.f, err)
				}
				continue
			}
			if !errors.Is(err, airnest.ErrInvalid) {
				t.Errorf("%+v: Find error %v, want ErrInvalid", tc.f, err)
				continue
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			// Every terminal reports the same error and touches nothing.
			if _, err := q.Count(bg); !errors.Is(err, airnest.ErrInvalid) {
				t.Errorf("Count: %v", err)
			}
			if n, err := q.Delete(bg); !errors.Is(err, airnest.ErrInvalid) || n != 0 {
				t.Errorf("Delete: %d, %v", n, err)
			}
			for _, err := range q.All(bg) {
				if !errors.Is(err, airnest.ErrInvalid) {
					t.Errorf("All: %v", err)
				}
			}
		}
		if n, _ := recs.Count(bg); n != len(recFixture(dsn)) {
			t.Fatalf("failed queries deleted values: %d left", n)
		}
		for _, q := range []*airnest.Query[Rec]{
			recs.Where().Limit(-1), recs.Where().Offset(-1), recs.Where().OrderBy("nope"), recs.Where().OrderByDesc("Tag"),
			recs.Where().After("not a cursor"), recs.Where().After("AQ"),
		} {
			if _, err := q.Find(bg); !errors.Is(err, airnest.ErrInvalid) {
				t.Errorf("Find: %v, want ErrInvalid", err)
			}
		}
		if _, _, err := recs.Where().Page(bg); !errors.Is(err, airnest.ErrInvalid) {
			t.Errorf("Page without Limit: %v", err)
		}
	})
}

// ordered sorts vs by keys ("n" ascending, "-n" descending) the way a query
// does, ties broken by ID in the direction of the last key, and returns the tags.
func ordered(vs []Rec, keys ...string) string {
	s := slices.Clone(vs)
	slices.SortFunc(s, func(a, b Rec) int {
		desc := false
		for _, k := range keys {
			col := strings.TrimPrefix(k, "-")
			desc = col != k
			n := compareKeys(propKey(a, col), propKey(b, col))
			if desc {
				n = -n
			}
			if n != 0 {
				return n
			}
		}
		n := a.ID.Compare(b.ID)
		if desc {
			n = -n
		}
		return n
	})
	return tags(s)
}

func TestQueryOrderLimitFirstDelete(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		_, recs := recStoreAt(t, dsn)
		all := saveAll(t, recs, recFixture(dsn))
		check := func(name string, q *airnest.Query[Rec], want string) {
			t.Helper()
			got, err := q.Find(bg)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if tags(got) != want {
				t.Errorf("%s: got %q, want %q", name, tags(got), want)
			}
			var it []Rec
			for v, err := range q.All(bg) {
				if err != nil {
					t.Fatal(err)
				}
				it = append(it, v)
			}
			if tags(it) != want {
				t.Errorf("%s: All got %q, want %q", name, tags(it), want)
			}
		}
		check("default ID order", recs.Where(), "abcdefgh")
		check("n", recs.Where().OrderBy("n"), ordered(all, "n"))
		// Descending: ties in descending ID order.
		check("n desc", recs.Where().OrderByDesc("n"), "gfhdcbae")
		check("s bytes", recs.Where().OrderBy("s"), ordered(all, "s"))
		check("at, NULL first", recs.Where().OrderBy("at"), "cgdafehb")
		check("at desc, NULL last", recs.Where().OrderByDesc("at"), "bhefadgc")
		check("at desc, reference", recs.Where().OrderByDesc("at"), ordered(all, "-at"))
		check("p, NULL first", recs.Where().OrderBy("p"), "bfdeachg")
		check("two keys", recs.Where().OrderBy("b").OrderByDesc("level"), ordered(all, "b", "-level"))
		check("mixed keys", recs.Where().OrderByDesc("b").OrderBy("level"), ordered(all, "-b", "level"))
		check("id desc", recs.Where().OrderByDesc("id"), "hgfedcba")
		check("float", recs.Where().OrderBy("f"), "gcafbdhe")
		check("ref", recs.Where().OrderByDesc("ref").OrderBy("n"), ordered(all, "-ref", "n"))
		check("limit", recs.Where().OrderBy("n").Limit(3), "eab")
		check("offset", recs.Where().OrderBy("n").Offset(2).Limit(3), "bcd")
		check("offset only", recs.Where().OrderBy("n").Offset(6), "fg")
		check("limit 0", recs.Where().Limit(0), "")
		check("filter and order", recs.Where(airnest.Eq("b", true)).OrderByDesc("n"), "ghcae")

		first, err := recs.Where(airnest.Gt("n", 2)).OrderBy("s").First(bg)
		if err != nil || first.Tag != "c" {
			t.Fatalf("First = %q, %v", first.Tag, err)
		}
		if _, err := recs.Where(airnest.Gt("n", 1000)).First(bg); !errors.Is(err, airnest.ErrNotFound) {
			t.Fatalf("First of nothing: %v", err)
		}
		if n, err := recs.Where().OrderBy("n").Offset(6).Count(bg); n != 2 || err != nil {
			t.Fatalf("Count with offset = %d, %v", n, err)
		}
		if n, err := recs.Where().Offset(len(all) + 5).Count(bg); n != 0 || err != nil {
			t.Fatalf("Count with an offset past the end = %d, %v", n, err)
		}
		if n, err := recs.Where().Limit(3).Count(bg); n != 3 || err != nil {
			t.Fatalf("Count with limit = %d, %v", n, err)
		}

		// Delete honours order and limit: the two highest n go.
		n, err := recs.Where(airnest.Gt("n", 0)).OrderByDesc("n").Limit(2).Delete(bg)
		if err != nil || n != 2 {
			t.Fatalf("Delete = %d, %v", n, err)
		}
		check("after delete", recs.Where(), "abcdeh")
		n, err = recs.Where(airnest.Eq("n", 3)).Delete(bg)
		if err != nil || n != 3 {
			t.Fatalf("Delete = %d, %v", n, err)
		}
		check("after second delete", recs.Where(), "abe")
		if n, err = recs.Where().Delete(bg); n != 3 || err != nil {
			t.Fatalf("Delete all = %d, %v", n, err)
		}
		if c, _ := recs.Count(bg); c != 0 {
			t.Fatalf("%d left", c)
		}
	})
}

func TestQueryIsImmutable(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		_, recs := recStoreAt(t, dsn)
		saveAll(t, recs, recFixture(dsn))
		base := recs.Where(airnest.Gt("n", 0)).OrderBy("b")
		up := base.OrderBy("n").Limit(3)
		down := base.OrderByDesc("level").Offset(1)
		for _, tc := range []struct {
			q    *airnest.Query[Rec]
			want string
		}{
			{base, "bdfacgh"}, // b false, then true, each in ID order
			{up, "bdf"},
			{down, "bdhcga"},
			{base, "bdfacgh"},
		} {
			got, err := tc.q.Find(bg)
			if err != nil {
				t.Fatal(err)
			}
			if tags(got) != tc.want {
				t.Errorf("got %q, want %q", tags(got), tc.want)
			}
		}
	})
}

func TestQueryInManyValues(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, recs := recStoreAt(t, dsn)
		var all []Rec
		for i := range 300 {
			all = append(all, Rec{Tag: fmt.Sprint(i), N: i, S: fmt.Sprintf("s%03d", i)})
		}
		saveTx(t, s, recs, all)
		// More values than SQLite's limit of 32766 bound parameters.
		const many = 33000
		ns := make([]int, many)
		ss := make([]string, many)
		for i := range many {
			ns[i] = 1_000_000 + i
			ss[i] = fmt.Sprint("x", i)
		}
		for i := 0; i < 300; i += 3 {
			ns[i*100] = i
			ss[i*100+1] = fmt.Sprintf("s%03d", i)
		}
		n, err := recs.Where(airnest.In("n", ns...)).Count(bg)
		if err != nil || n != 100 {
			t.Errorf("In %d ints: Count = %d, %v; want 100", many, n, err)
		}
		n, err = recs.Where(airnest.Not(airnest.In("s", ss...))).Count(bg)
		if err != nil || n != 200 {
			t.Errorf("Not In %d strings: Count = %d, %v; want 200", many, n, err)
		}
	})
}

// pagingRows is how many values TestQueryPagingWhileInserting pages
// through (and as many it deletes meanwhile): fewer on PostgreSQL, where
// every Save and Delete is a round trip to the server.
var pagingRows = map[string]int{"sqlite": 10000, "postgres": 3000}

func TestQueryPagingWhileInserting(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, recs := recStoreAt(t, dsn, airnest.Index("level,n"))
		total, pageSize := pagingRows[backendOf(dsn)], 100
		vs := make([]Rec, total)
		for i := range vs {
			vs[i] = Rec{N: i % 37, Level: Level(i % 5)} // many ties
		}
		// Values present throughout, and as many again that a third writer
		// deletes while the pages are read.
		want := map[airnest.ID[Rec]]bool{}
		for _, r := range saveTx(t, s, recs, vs) {
			want[r.ID] = true
		}
		again := make([]Rec, total)
		for i := range again {
			again[i] = Rec{N: i % 37, Level: Level(i % 5)}
		}
		doomed := saveTx(t, s, recs, again)
		known := map[airnest.ID[Rec]]bool{}
		for _, r := range doomed {
			known[r.ID] = true
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var inserted, deleted atomic.Int64
		var insertedIDs sync.Map
		order := rand.Perm(len(doomed))
		for g := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					r := Rec{N: (i * 7) % 37, Level: Level(g)}
					if err := recs.Save(bg, &r); err != nil {
						t.Error(err)
						return
					}
					insertedIDs.Store(r.ID, true)
					inserted.Add(1)
				}
			}()
		}
		q := recs.Where(airnest.Lt("level", 5)).OrderBy("level").OrderBy("n").Limit(pageSize)
		seen := map[airnest.ID[Rec]]int{}
		cursor, pages := "", 0
		var prev *Rec
		for {
			page, next, err := q.After(cursor).Page(bg)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for i := range page {
				r := &page[i]
				seen[r.ID]++
				if prev != nil && (prev.Level > r.Level || prev.Level == r.Level && (prev.N > r.N || prev.N == r.N && prev.ID.Compare(r.ID) >= 0)) {
					t.Fatalf("page %d out of order: %v/%d after %v/%d", pages, r.Level, r.N, prev.Level, prev.N)
				}
				prev = r
			}
			// Between pages, delete values ahead of the cursor, behind it and
			// on the page just read.
			for range 50 {
				if len(order) == 0 {
					break
				}
				if err := recs.Delete(bg, doomed[order[0]].ID); err != nil {
					t.Fatal(err)
				}
				order = order[1:]
				deleted.Add(1)
			}
			if next == "" {
				break
			}
			if len(page) != pageSize {
				t.Fatalf("page %d has %d values and a next cursor", pages, len(page))
			}
			cursor = next
		}
		close(stop)
		wg.Wait()
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("value %v seen %d times", id, n)
			}
			if _, ins := insertedIDs.Load(id); !want[id] && !known[id] && !ins {
				t.Fatalf("value %v was never saved", id)
			}
		}
		for id := range want {
			if seen[id] != 1 {
				t.Fatalf("value %v never seen", id)
			}
		}
		t.Logf("%d pages; %d values inserted and %d deleted meanwhile", pages, inserted.Load(), deleted.Load())
	})
}

func TestQueryAllStreamsInPages(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, recs := recStoreAt(t, dsn)
		var all []Rec
		for i := range 700 {
			all = append(all, Rec{Tag: fmt.Sprint(i), N: i % 10, S: fmt.Sprint(i)})
		}
		saveTx(t, s, recs, all)
		q := recs.Where(airnest.Ne("n", 3)).OrderByDesc("n").Offset(5).Limit(600)
		want, err := q.Find(bg)
		if err != nil || len(want) != 600 {
			t.Fatalf("Find: %d, %v", len(want), err)
		}
		var got []Rec
		for v, err := range q.All(bg) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, v)
			if len(got)%100 == 0 {
				// The body may write: All holds no connection between values.
				extra := Rec{N: 3} // not matched
				if err := recs.Save(bg, &extra); err != nil {
					t.Fatal(err)
				}
			}
		}
		if tags(got) != tags(want) {
			t.Fatalf("All and Find differ: %d vs %d values", len(got), len(want))
		}
		// Breaking early releases the reader each time.
		for range 50 {
			for range recs.Where().OrderBy("s").All(bg) {
				break
			}
		}
		if _, err := recs.Where().Count(bg); err != nil {
			t.Fatal(err)
		}
	})
}

func TestQueryCursor(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		_, recs := recStoreAt(t, dsn)
		all := saveAll(t, recs, recFixture(dsn))
		q := recs.Where().OrderBy("at").Limit(3)
		// Cursor of a value continues after it, NULL sort keys included.
		for _, r := range []string{ordered(all, "at")} {
			for k := range len(r) {
				var v Rec
				for _, a := range all {
					if a.Tag == r[k:k+1] {
						v = a
					}
				}
				c, err := q.Cursor(v)
				if err != nil {
					t.Fatal(err)
				}
				got, err := q.Limit(100).After(c).Find(bg)
				if err != nil {
					t.Fatal(err)
				}
				if tags(got) != r[k+1:] {
					t.Errorf("after %s: got %q, want %q", r[k:k+1], tags(got), r[k+1:])
				}
			}
		}
		// Descending over a nullable key: NULLs come last.
		d := recs.Where().OrderByDesc("p")
		var out string
		for c := ""; ; {
			page, next, err := d.Limit(2).After(c).Page(bg)
			if err != nil {
				t.Fatal(err)
			}
			out += tags(page) + "|"
			if next == "" {
				break
			}
			c = next
		}
		if out != "gh|ca|ed|fb|" {
			t.Errorf("descending pages %q", out)
		}
		// A cursor only fits the ordering it was made for.
		c, _ := q.Cursor(all[0])
		for _, other := range []*airnest.Query[Rec]{recs.Where().OrderByDesc("at"), recs.Where().OrderBy("n"), recs.Where()} {
			if _, err := other.After(c).Find(bg); !errors.Is(err, airnest.ErrInvalid) {
				t.Errorf("foreign cursor: %v", err)
			}
		}
		// A changed character, a cut or an extended cursor is ErrInvalid, never
		// another valid cursor (see TestQueryCursorsAreURLSafeAndTamperProof).
		for i := range len(c) {
			bad := []byte(c)
			bad[i] ^= 1
			if _, err := q.After(string(bad)).Find(bg); !errors.Is(err, airnest.ErrInvalid) {
				t.Errorf("tampered cursor: %v", err)
			}
		}
	})
}

// Cursors of every column type, strings with '/', '+', '=', '%' and
// non-ASCII included, hold only URL-unreserved characters (a URL carries
// them unescaped), and every change of one character, every cut and every
// extension of a cursor is ErrInvalid.
func TestQueryCursorsAreURLSafeAndTamperProof(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		_, recs := recStoreAt(t, dsn)
		vs := recFixture(dsn)
		vs = append(vs, Rec{Tag: "u", N: math.MinInt64 + 1, U8: 200, S: "a/b+c=d%e?f&g#h é ü 漢字 🚀", At: t0, Ref: ref1, F: math.Copysign(0, -1), P: ptr(math.MaxInt), Raw: []byte("/+=\x00\xff"), Level: 7})
		saveAll(t, recs, vs)
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		unreserved := alphabet + ".~"
		cols := []string{"n", "u8", "s", "at", "ref", "b", "f", "p", "raw", "level", "id"}
		checked := 0
		for _, col := range cols {
			for _, desc := range []bool{false, true} {
				q := recs.Where().OrderBy(col).OrderByDesc("s")
				if desc {
					q = recs.Where().OrderByDesc(col)
				}
				for _, v := range vs {
					c, err := q.Cursor(v)
					if err != nil {
						t.Fatalf("Cursor ordered by %s: %v", col, err)
					}
					if _, err := q.After(c).Find(bg); err != nil {
						t.Fatalf("a valid cursor ordered by %s: %v", col, err)
					}
					for _, r := range c {
						if !strings.ContainsRune(unreserved, r) {
							t.Fatalf("cursor %q holds %q, which a URL must escape", c, r)
						}
					}
					invalid := func(what, bad string) {
						t.Helper()
						checked++
						if _, err := q.After(bad).Find(bg); !errors.Is(err, airnest.ErrInvalid) {
							t.Fatalf("%s of cursor %q (%s): %q gives %v, want ErrInvalid", what, c, col, bad, err)
						}
					}
					for i := range len(c) {
						for _, ch := range alphabet + "=/+%.~\x00" {
							if byte(ch) != c[i] {
								invalid("a changed character", c[:i]+string(ch)+c[i+1:])
							}
						}
						if i > 0 {
							invalid("a cut", c[:i])
						}
						invalid("a dropped character", c[:i]+c[i+1:])
					}
					invalid("an extension", c+"A")
				}
			}
		}
		t.Logf("%d tampered cursors, each ErrInvalid", checked)
	})
}

// planText is how each backend's Explain says what TestQueryExplainUsesIndex
// checks; each is a regular expression in which {table} stands for the table
// and {index} for the index (both regexp-quoted). PostgreSQL plans by
// statistics, so its half runs analyze first.
var planText = map[string]struct {
	analyze  string
	search   string // the index is searched for status = ?
	fullScan string // the table is read whole
	sort     string // ORDER BY is a separate sort, not the index's order
	seek     string // a keyset page seeks (status, priority, id) in the index
	uses     string // the index is used at all
}{
	"sqlite": {
		analyze:  "", // SQLite's plans here need no statistics
		search:   `SEARCH {table} USING INDEX {index} \(status=\?`,
		fullScan: `SCAN {table}\n`,
		sort:     `USE TEMP B-TREE FOR ORDER BY`,
		seek:     `USING INDEX {index} \(status=\? AND \(priority,id\)>\(\?,\?\)\)`,
		uses:     `USING INDEX {index}`,
	},
	"postgres": {
		analyze:  "ANALYZE",
		search:   `(Index Scan|Index Only Scan) using "{index}" on "{table}"|Bitmap Index Scan on "{index}"\n\s+Index Cond: \(status = `,
		fullScan: `Seq Scan on "{table}"`,
		sort:     `Sort Key: `,
		seek:     `Index Cond: \(\(status = '[a-z]+'::text\) AND \(ROW\(priority, id\) > ROW\(`,
		uses:     `(Index Scan|Index Only Scan) using "{index}"|Bitmap Index Scan on "{index}"`,
	},
}

// planSays reports whether plan matches re, a planText expression, for
// table and index.
func planSays(plan, re, table, index string) bool {
	re = strings.NewReplacer("{table}", regexp.QuoteMeta(table), "{index}", regexp.QuoteMeta(index)).Replace(re)
	return regexp.MustCompile(re).MatchString(plan)
}

func TestQueryExplainUsesIndex(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s := airnest.NewStore()
		sep := airnest.Collection[Job](s, airnest.Index("status", "priority"), airnest.Name("JobSep"))
		comp := airnest.Collection[Job](s, airnest.Index("status,priority"), airnest.Name("JobComp"))
		if err := s.Open(bg, dsn, nil); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		// Selective values (pending on one value in 50, done and failed on
		// one in 500), as an index is for: a planner that counts rows reads
		// the table whole otherwise.
		err := s.Tx(bg, func(tx *airnest.Tx) error {
			for _, c := range []*airnest.Coll[Job]{sep, comp} {
				for i := range 2000 {
					j := Job{Status: fmt.Sprint("other", i%500), Priority: i % 7}
					switch {
					case i%50 == 0:
						j.Status = "pending"
					case i%500 < 3:
						j.Status = []string{"", "done", "failed"}[i%500]
					}
					if err := c.In(tx).Save(bg, &j); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		text := planText[backendOf(dsn)]
		if text.analyze != "" {
			db, err := s.DB()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(text.analyze); err != nil {
				t.Fatal(err)
			}
		}
		readme := func(c *airnest.Coll[Job]) *airnest.Query[Job] {
			return c.Where(airnest.Eq("status", "pending")).OrderBy("priority").Limit(10)
		}
		for _, tc := range []struct {
			c     *airnest.Coll[Job]
			index string
			sort  bool
		}{
			{sep, "JobSep__status", true},
			{comp, "JobComp__status__priority", false},
		} {
			says := func(plan, re string) bool { return planSays(plan, re, tc.c.Name(), tc.index) }
			q := readme(tc.c)
			plan, err := q.Explain(bg)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s:\n%s", tc.c.Name(), plan)
			if !says(plan, text.search) {
				t.Errorf("%s does not search index %s:\n%s", tc.c.Name(), tc.index, plan)
			}
			if says(plan, text.fullScan) {
				t.Errorf("full table scan:\n%s", plan)
			}
			if got := says(plan, text.sort); got != tc.sort {
				t.Errorf("separate sort for ORDER BY = %v, want %v:\n%s", got, tc.sort, plan)
			}
			// Keyset paging keeps the index too.
			page, next, err := q.Page(bg)
			if err != nil || len(page) != 10 || next == "" {
				t.Fatalf("Page: %d, %q, %v", len(page), next, err)
			}
			plan, err = q.After(next).Explain(bg)
			if err != nil {
				t.Fatal(err)
			}
			if !says(plan, text.search) {
				t.Errorf("keyset page does not use %s:\n%s", tc.index, plan)
			}
			if !tc.sort && !says(plan, text.seek) {
				t.Errorf("keyset page does not seek in the index:\n%s", plan)
			}
			// In and Prefix use the index as well.
			for _, f := range []airnest.Filter{airnest.In("status", "done", "failed"), airnest.Prefix("status", "pe")} {
				plan, err := tc.c.Where(f).Explain(bg)
				if err != nil {
					t.Fatal(err)
				}
				if !says(plan, text.uses) {
					t.Errorf("%v does not use %s:\n%s", f, tc.index, plan)
				}
			}
		}
	})
}

// schemaSQL lists a database's tables, indexes and columns with their
// definitions, as four text columns.
var schemaSQL = map[string]string{
	"sqlite": `SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema ORDER BY name`,
	"postgres": `SELECT 'index', indexname::text, tablename::text, indexdef FROM pg_indexes WHERE schemaname = current_schema()
	UNION ALL SELECT 'column', table_name::text, column_name::text, data_type::text FROM information_schema.columns WHERE table_schema = current_schema()
	ORDER BY 2, 3`,
}

func TestQueryHostileNames(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, jobs, _ := testStoreAt(t, dsn)
		for i := range 5 {
			j := Job{Status: "pending", Priority: i}
			jobs.Save(bg, &j)
		}
		db, err := s.DB()
		if err != nil {
			t.Fatal(err)
		}
		schema := func() string {
			rows, err := db.Query(schemaSQL[backendOf(dsn)])
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var b strings.Builder
			for rows.Next() {
				var a, n, tb, sql string
				if err := rows.Scan(&a, &n, &tb, &sql); err != nil {
					t.Fatal(err)
				}
				fmt.Fprintln(&b, a, n, tb, sql)
			}
			return b.String()
		}
		before := schema()
		for _, name := range []string{
			`x"; DROP TABLE "Job`, `a"b`, "status\x00", "\x00", "sqlite_x", "sqlite_schema", "", strings.Repeat("a", 10<<10),
			`status" OR 1=1 --`, "v", "I D", "Status\t", "status ", "priority;", "_airnest_keys", "Job",
		} {
			for _, q := range []*airnest.Query[Job]{
				jobs.Where(airnest.Eq(name, "pending")),
				jobs.Where(airnest.In(name, 1, 2)),
				jobs.Where(airnest.Prefix(name, "p")),
				jobs.Where(airnest.IsNull(name)),
				jobs.Where(airnest.Not(airnest.Or(airnest.Eq("status", "done"), airnest.Gt(name, 0)))),
				jobs.Where().OrderBy(name),
				jobs.Where().OrderByDesc(name),
			} {
				if _, err := q.Find(bg); !errors.Is(err, airnest.ErrInvalid) {
					t.Errorf("name %q: Find: %v, want ErrInvalid", name, err)
				}
				if n, err := q.Delete(bg); !errors.Is(err, airnest.ErrInvalid) || n != 0 {
					t.Errorf("name %q: Delete: %d, %v", name, n, err)
				}
				if _, err := q.Explain(bg); !errors.Is(err, airnest.ErrInvalid) {
					t.Errorf("name %q: Explain: %v", name, err)
				}
			}
		}
		// Hostile values are only ever values.
		for _, v := range []string{`x"; DROP TABLE "Job`, `' OR 1=1 --`, "\x00", strings.Repeat("'", 10<<10)} {
			if !anyText[backendOf(dsn)] && strings.Contains(v, "\x00") {
				continue // ErrInvalid: see TestTextTheDatabaseCannotHold
			}
			if n, err := jobs.Where(airnest.Or(airnest.Eq("status", v), airnest.Prefix("status", v), airnest.In("status", v))).Delete(bg); err != nil || n != 0 {
				t.Errorf("value %q: Delete = %d, %v", v, n, err)
			}
		}
		if after := schema(); after != before {
			t.Fatalf("schema changed:\n%s\nwas:\n%s", after, before)
		}
		if n, _ := jobs.Count(bg); n != 5 {
			t.Fatalf("%d values left, want 5", n)
		}
	})
}

// rawDialect turns QueryRaw text written for SQLite (? parameters, IS ?)
// into each backend's SQL.
var rawDialect = map[string]func(string) string{
	"sqlite": func(q string) string { return q },
	"postgres": func(q string) string {
		q = strings.ReplaceAll(q, " IS ?", " IS NOT DISTINCT FROM ?")
		n := 0
		return regexp.MustCompile(`\?`).ReplaceAllStringFunc(q, func(string) string { n++; return fmt.Sprint("$", n) })
	},
}

func TestQueryRaw(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, recs := recStoreAt(t, dsn)
		all := saveAll(t, recs, recFixture(dsn))
		raw := rawDialect[backendOf(dsn)]
		for _, tc := range []struct {
			sql  string
			args []any
			want string
		}{
			{`SELECT v FROM "Rec" WHERE "n" = ? ORDER BY id`, []any{3}, "cdh"},
			{`SELECT "n", v FROM "Rec" WHERE "s" = ?`, []any{"apple"}, "a"},
			{`SELECT v FROM "Rec" WHERE "at" = ? ORDER BY id`, []any{t0}, "af"},
			{`SELECT v FROM "Rec" WHERE "at" IS ? ORDER BY id`, []any{time.Time{}}, "cg"},
			{`SELECT v FROM "Rec" WHERE "ref" = ? ORDER BY id`, []any{ref2}, "bf"},
			{`SELECT v FROM "Rec" WHERE id = ?`, []any{all[4].ID}, "e"},
			{`SELECT v FROM "Rec" WHERE "b" = ? AND "f" > ? ORDER BY id`, []any{true, 0.7}, "eh"},
			{`SELECT v FROM "Rec" WHERE "p" IS ? ORDER BY id`, []any{nil}, "bf"},
			{`SELECT v FROM "Rec" WHERE "raw" = ?`, []any{[]byte{1, 2}}, "c"},
			{`SELECT v FROM "Rec" WHERE "level" = ? ORDER BY id`, []any{Level(3)}, "ch"},
			{`SELECT v FROM "Rec" WHERE "u8" = ?`, []any{uint8(255)}, "d"},
			{`  SELECT v FROM "Rec" ORDER BY "n" DESC LIMIT 2 ;  `, nil, "gf"},
		} {
			got, err := recs.QueryRaw(bg, raw(tc.sql), tc.args...)
			if err != nil {
				t.Errorf("%s: %v", tc.sql, err)
				continue
			}
			if tags(got) != tc.want {
				t.Errorf("%s: got %q, want %q", tc.sql, tags(got), tc.want)
			}
		}
		for _, tc := range []struct{ sql, why string }{
			{`INSERT INTO "Rec" (id, v) SELECT id, v FROM "Rec" RETURNING v`, "write"},
			{`DELETE FROM "Rec" RETURNING v`, "write"},
			{`SELECT v FROM "Rec"; DELETE FROM "Rec"`, "two statements"},
			{`SELECT v FROM "Rec"; SELECT v FROM "Rec"`, "two statements"},
			{`SELECT id FROM "Rec"`, "no v"},
			{`SELECT v AS blob FROM "Rec"`, "no v"},
			{`SELECT v FROM "Rec" WHERE "n" = ?`, "missing argument"},
			{`SELECT 1 AS v`, "v is not a blob"},
			{``, "empty"},
		} {
			if _, err := recs.QueryRaw(bg, raw(tc.sql)); !errors.Is(err, airnest.ErrInvalid) {
				t.Errorf("%s (%s): %v, want ErrInvalid", tc.sql, tc.why, err)
			}
		}
		if _, err := recs.QueryRaw(bg, raw(`SELECT v FROM "Rec" WHERE "n" = ?`), struct{}{}); !errors.Is(err, airnest.ErrInvalid) {
			t.Errorf("unbindable argument: %v", err)
		}
		// Inside a write transaction QueryRaw still refuses to write.
		err := s.Tx(bg, func(tx *airnest.Tx) error {
			_, err := recs.In(tx).QueryRaw(bg, `DELETE FROM "Rec" RETURNING v`)
			return err
		})
		if !errors.Is(err, airnest.ErrInvalid) {
			t.Errorf("write in Tx: %v", err)
		}
		if n, _ := recs.Count(bg); n != len(all) {
			t.Fatalf("%d values, want %d", n, len(all))
		}
	})
}

func TestQueryInTxAndView(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, recs := recStoreAt(t, dsn)
		saveAll(t, recs, recFixture(dsn))
		err := s.Tx(bg, func(tx *airnest.Tx) error {
			in := recs.In(tx)
			r := Rec{Tag: "z", N: 3}
			if err := in.Save(bg, &r); err != nil {
				return err
			}
			got, err := in.Where(airnest.Eq("n", 3)).Find(bg)
			if err != nil {
				return err
			}
			if tags(got) != "cdhz" {
				t.Errorf("inside Tx: %q", tags(got))
			}
			if got, _ := recs.Where(airnest.Eq("n", 3)).Find(bg); tags(got) != "cdh" {
				t.Errorf("outside Tx: %q", tags(got))
			}
			n, err := in.Where(airnest.Eq("n", 3)).Delete(bg)
			if err != nil || n != 4 {
				t.Errorf("Delete in Tx: %d, %v", n, err)
			}
			return errors.New("roll back")
		})
		if err == nil || err.Error() != "roll back" {
			t.Fatal(err)
		}
		if n, _ := recs.Where(airnest.Eq("n", 3)).Count(bg); n != 3 {
			t.Fatalf("rollback left %d", n)
		}
		err = s.View(bg, func(tx *airnest.Tx) error {
			in := recs.In(tx)
			if _, err := in.Where(airnest.Eq("n", 3)).Find(bg); err != nil {
				t.Errorf("Find in View: %v", err)
			}
			for range in.Where().All(bg) {
			}
			if _, err := in.Where().Count(bg); err != nil {
				t.Errorf("Count in View: %v", err)
			}
			if _, err := in.Where(airnest.Eq("n", 3)).Delete(bg); !errors.Is(err, airnest.ErrInvalid) {
				t.Errorf("Delete in View: %v, want ErrInvalid", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func TestQueryClosedStore(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, recs := recStoreAt(t, dsn)
		s.Close()
		if _, err := recs.Where().Find(bg); !errors.Is(err, airnest.ErrClosed) {
			t.Fatalf("Find on closed store: %v", err)
		}
		if _, err := recs.Where().Delete(bg); !errors.Is(err, airnest.ErrClosed) {
			t.Fatalf("Delete on closed store: %v", err)
		}
		if _, err := recs.QueryRaw(bg, `SELECT v FROM "Rec"`); !errors.Is(err, airnest.ErrClosed) {
			t.Fatalf("QueryRaw on closed store: %v", err)
		}
	})
}

// The reference: random filter trees evaluated by SQLite and in plain Go
// must select the same values in the same order.

type randTree struct {
	rng  *rand.Rand
	strs []string // propStrings and the backend's highText
}

var (
	propStrings = []string{"", "a", "A", "a%", "a_", "ab", "abc", "b", "é"}
	propTimes   = []time.Time{{}, t0, t0.Add(time.Second), t0.Add(-time.Hour), t0.Add(time.Nanosecond)}
	propRefs    = []airnest.ID[Job]{{}, ref1, ref2}
	propFloats  = []float64{-1, 0, 0.5, 1.5, 2, math.Inf(1)}
)

func (g randTree) rec() Rec {
	r := g.rng
	v := Rec{
		N:   r.IntN(7) - 3,
		S:   g.strs[r.IntN(len(g.strs))],
		At:  propTimes[r.IntN(len(propTimes))],
		Ref: propRefs[r.IntN(len(propRefs))],
		B:   r.IntN(2) == 0,
		F:   propFloats[r.IntN(len(propFloats))],
	}
	if r.IntN(3) > 0 {
		v.P = ptr(r.IntN(5))
	}
	return v
}

// key is a column's value as SQLite orders it: NULL (nil) first, then numbers, text, blobs.
func propKey(r Rec, col string) any {
	switch col {
	case "n":
		return int64(r.N)
	case "s":
		return r.S
	case "at":
		if r.At.IsZero() {
			return nil
		}
		return r.At.UnixNano()
	case "ref":
		if r.Ref.IsZero() {
			return nil
		}
		return string(r.Ref.Bytes())
	case "b":
		if r.B {
			return int64(1)
		}
		return int64(0)
	case "f":
		return r.F
	case "p":
		if r.P == nil {
			return nil
		}
		return int64(*r.P)
	case "id":
		return string(r.ID.Bytes())
	case "level":
		return int64(r.Level)
	}
	panic(col)
}

func compareKeys(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	switch a := a.(type) {
	case int64:
		return cmp.Compare(a, b.(int64))
	case float64:
		return cmp.Compare(a, b.(float64))
	case string:
		return strings.Compare(a, b.(string))
	}
	panic(a)
}

var propCols = []string{"n", "s", "at", "ref", "b", "f", "p"}

// value picks a query value for col, with its key, from the same small domains.
func (g randTree) value(col string) (any, any) {
	v := g.rec()
	switch col {
	case "n":
		return v.N, propKey(v, col)
	case "s":
		return v.S, propKey(v, col)
	case "at":
		return v.At, propKey(v, col)
	case "ref":
		return v.Ref, propKey(v, col)
	case "b":
		return v.B, propKey(v, col)
	case "f":
		return v.F, propKey(v, col)
	case "p":
		if v.P == nil {
			return nil, nil
		}
		return *v.P, propKey(v, col)
	}
	panic(col)
}

// nonNull retries until the value is not NULL (ranges and In need that).
func (g randTree) nonNull(col string) (any, any) {
	for {
		if v, k := g.value(col); k != nil {
			return v, k
		}
	}
}

func (g randTree) tree(depth int) (airnest.Filter, func(Rec) bool, string) {
	r := g.rng
	if depth > 0 && r.IntN(3) == 0 {
		n := r.IntN(4)
		var fs []airnest.Filter
		var preds []func(Rec) bool
		var descs []string
		for range n {
			f, p, d := g.tree(depth - 1)
			fs, preds, descs = append(fs, f), append(preds, p), append(descs, d)
		}
		switch r.IntN(3) {
		case 0:
			return airnest.And(fs...), func(x Rec) bool {
				for _, p := range preds {
					if !p(x) {
						return false
					}
				}
				return true
			}, "And(" + strings.Join(descs, ", ") + ")"
		case 1:
			return airnest.Or(fs...), func(x Rec) bool {
				for _, p := range preds {
					if p(x) {
						return true
					}
				}
				return false
			}, "Or(" + strings.Join(descs, ", ") + ")"
		default:
			f, p, d := g.tree(depth - 1)
			return airnest.Not(f), func(x Rec) bool { return !p(x) }, "Not(" + d + ")"
		}
	}
	col := propCols[r.IntN(len(propCols))]
	key := func(x Rec) any { return propKey(x, col) }
	c := func(x Rec, k any) (int, bool) {
		a := key(x)
		if a == nil {
			return 0, false
		}
		return compareKeys(a, k), true
	}
	switch r.IntN(9) {
	case 0:
		v, k := g.value(col)
		return airnest.Eq(col, v), func(x Rec) bool { return compareKeys(key(x), k) == 0 }, fmt.Sprintf("Eq(%s, %v)", col, v)
	case 1:
		v, k := g.value(col)
		return airnest.Ne(col, v), func(x Rec) bool { return compareKeys(key(x), k) != 0 }, fmt.Sprintf("Ne(%s, %v)", col, v)
	case 2:
		v, k := g.nonNull(col)
		return airnest.Lt(col, v), func(x Rec) bool { n, ok := c(x, k); return ok && n < 0 }, fmt.Sprintf("Lt(%s, %v)", col, v)
	case 3:
		v, k := g.nonNull(col)
		return airnest.Lte(col, v), func(x Rec) bool { n, ok := c(x, k); return ok && n <= 0 }, fmt.Sprintf("Lte(%s, %v)", col, v)
	case 4:
		v, k := g.nonNull(col)
		return airnest.Gt(col, v), func(x Rec) bool { n, ok := c(x, k); return ok && n > 0 }, fmt.Sprintf("Gt(%s, %v)", col, v)
	case 5:
		v, k := g.nonNull(col)
		return airnest.Gte(col, v), func(x Rec) bool { n, ok := c(x, k); return ok && n >= 0 }, fmt.Sprintf("Gte(%s, %v)", col, v)
	case 6:
		lo, klo := g.nonNull(col)
		hi, khi := g.nonNull(col)
		return airnest.Between(col, lo, hi), func(x Rec) bool {
			a, ok := c(x, klo)
			b, _ := c(x, khi)
			return ok && a >= 0 && b <= 0
		}, fmt.Sprintf("Between(%s, %v, %v)", col, lo, hi)
	case 7:
		var vs []any
		var ks []any
		for range r.IntN(4) {
			v, k := g.nonNull(col)
			vs, ks = append(vs, v), append(ks, k)
		}
		return airnest.In(col, vs...), func(x Rec) bool {
			for _, k := range ks {
				if n, ok := c(x, k); ok && n == 0 {
					return true
				}
			}
			return false
		}, fmt.Sprintf("In(%s, %v)", col, vs)
	default:
		if col == "s" && r.IntN(2) == 0 {
			p := g.strs[r.IntN(len(g.strs))]
			return airnest.Prefix(col, p), func(x Rec) bool { return strings.HasPrefix(x.S, p) }, fmt.Sprintf("Prefix(s, %q)", p)
		}
		return airnest.IsNull(col), func(x Rec) bool { return key(x) == nil }, fmt.Sprintf("IsNull(%s)", col)
	}
}

func TestQueryMatchesGoReference(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, recs := recStoreAt(t, dsn)
		seed := uint64(time.Now().UnixNano())
		g := randTree{rand.New(rand.NewPCG(seed, 7)), append(propStrings[:len(propStrings):len(propStrings)], highText[backendOf(dsn)])}
		var vs []Rec
		for i := range 100 {
			v := g.rec()
			v.Tag = fmt.Sprint(i, ",")
			vs = append(vs, v)
		}
		saveTx(t, s, recs, vs)
		stored, err := recs.Scan(bg)
		if err != nil {
			t.Fatal(err)
		}
		nonEmpty := 0
		const rounds = 250
		for round := range rounds {
			f, pred, desc := g.tree(3)
			type key struct {
				col  string
				desc bool
			}
			var keys []key
			q := recs.Where(f)
			for range g.rng.IntN(3) {
				k := key{propCols[g.rng.IntN(len(propCols))], g.rng.IntN(2) == 0}
				keys = append(keys, k)
				if k.desc {
					q = q.OrderByDesc(k.col)
				} else {
					q = q.OrderBy(k.col)
				}
			}
			var want []Rec
			for _, v := range stored {
				if pred(v) {
					want = append(want, v)
				}
			}
			lastDesc := len(keys) > 0 && keys[len(keys)-1].desc
			slices.SortFunc(want, func(a, b Rec) int {
				for _, k := range keys {
					n := compareKeys(propKey(a, k.col), propKey(b, k.col))
					if k.desc {
						n = -n
					}
					if n != 0 {
						return n
					}
				}
				n := a.ID.Compare(b.ID)
				if lastDesc {
					n = -n
				}
				return n
			})
			got, err := q.Find(bg)
			if err != nil {
				t.Fatalf("seed %d round %d: %s: %v", seed, round, desc, err)
			}
			if tags(got) != tags(want) {
				t.Fatalf("seed %d round %d: %s order %v:\n got %s\nwant %s", seed, round, desc, keys, tags(got), tags(want))
			}
			if len(want) > 0 {
				nonEmpty++
			}
			// Keyset pages in threes give the same sequence.
			if round%10 == 0 {
				var paged []Rec
				for c := ""; ; {
					page, next, err := q.Limit(3).After(c).Page(bg)
					if err != nil {
						t.Fatal(err)
					}
					paged = append(paged, page...)
					if next == "" {
						break
					}
					c = next
				}
				if tags(paged) != tags(want) {
					t.Fatalf("seed %d round %d: %s order %v: pages\n got %s\nwant %s", seed, round, desc, keys, tags(paged), tags(want))
				}
			}
		}
		if nonEmpty < rounds/5 {
			t.Fatalf("only %d of %d random queries matched anything: the generator is too narrow", nonEmpty, rounds)
		}
	})
}

// PRef has an optional reference: a nil *ID is stored as NULL.
type PRef struct {
	ID  airnest.ID[PRef]
	Ref *airnest.ID[Job]
}

func TestQueryPointerToID(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, err := airnest.Open(bg, dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		refs := airnest.Collection[PRef](s, airnest.Index("ref"))
		id := airnest.NewID[Job]()
		none, some := PRef{}, PRef{Ref: &id}
		if err := refs.Save(bg, &none); err != nil {
			t.Fatal(err)
		}
		if err := refs.Save(bg, &some); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			f    airnest.Filter
			want airnest.ID[PRef]
		}{
			{airnest.Eq("ref", id), some.ID},
			{airnest.Eq("ref", &id), some.ID},
			{airnest.Eq("ref", nil), none.ID},
			{airnest.IsNull("ref"), none.ID},
			{airnest.In("ref", id), some.ID},
		} {
			ids, err := refs.Where(tc.f).IDs(bg)
			if err != nil || len(ids) != 1 || ids[0] != tc.want {
				t.Errorf("%+v: %v, %v", tc.f, ids, err)
			}
		}
	})
}

func TestQueryCountIDsDeleteNeverDecode(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, recs := recStoreAt(t, dsn)
		all := saveAll(t, recs, recFixture(dsn))
		raw := rawDialect[backendOf(dsn)]
		db, err := s.DB()
		if err != nil {
			t.Fatal(err)
		}
		// Values that no longer decode: only Find-like terminals may notice.
		if _, err := db.Exec(raw(`UPDATE "Rec" SET v = ?`), []byte{0xff}); err != nil {
			t.Fatal(err)
		}
		q := recs.Where(airnest.Eq("n", 3)).OrderBy("s")
		if _, err := q.Find(bg); !errors.Is(err, airnest.ErrSchema) {
			t.Fatalf("Find of corrupt values: %v", err)
		}
		if n, err := q.Count(bg); n != 3 || err != nil {
			t.Errorf("Count = %d, %v", n, err)
		}
		if ok, err := q.Exists(bg); !ok || err != nil {
			t.Errorf("Exists = %v, %v", ok, err)
		}
		if ids, err := q.IDs(bg); len(ids) != 3 || err != nil || ids[0] != all[2].ID {
			t.Errorf("IDs = %v, %v", ids, err)
		}
		if n, err := q.Delete(bg); n != 3 || err != nil {
			t.Errorf("Delete = %d, %v", n, err)
		}
		if n, err := recs.Where().Count(bg); n != len(all)-3 || err != nil {
			t.Errorf("%d left, %v", n, err)
		}
	})
}

// Query column names follow Index's rule: any case, underscores ignored,
// in filters, OrderBy and cursors alike; a name that folds onto two fields
// is an error when the index is declared.
func TestQueryColumnSpellings(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		type Run struct {
			ID        airnest.ID[Run]
			StartedAt time.Time
			Attempts  int
		}
		s := airnest.NewStore()
		runs := airnest.Collection[Run](s, airnest.Index("started_at", "attempts"))
		if err := s.Open(bg, dsn, nil); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		for i := range 5 {
			if err := runs.Save(bg, &Run{StartedAt: t0.Add(time.Duration(i) * time.Hour), Attempts: i}); err != nil {
				t.Fatal(err)
			}
		}
		want, err := runs.Where(airnest.Gt("started_at", t0)).OrderByDesc("started_at").Limit(2).Find(bg)
		if err != nil || len(want) != 2 {
			t.Fatalf("declared spelling: %d values, %v", len(want), err)
		}
		for _, name := range []string{"StartedAt", "startedAt", "STARTED_AT", "started__at", "_startedat"} {
			got, err := runs.Where(airnest.Gt(name, t0)).OrderByDesc(name).Limit(2).Find(bg)
			if err != nil || len(got) != 2 || got[0].ID != want[0].ID || got[1].ID != want[1].ID {
				t.Errorf("spelling %q: %v, %v; want the same values as \"started_at\"", name, got, err)
			}
			// A cursor made under one spelling continues a query under another.
			page, next, err := runs.Where().OrderBy(name).Limit(2).Page(bg)
			if err != nil || len(page) != 2 || next == "" {
				t.Fatalf("Page with %q: %v, %q, %v", name, page, next, err)
			}
			rest, err := runs.Where().OrderBy("started_at").After(next).Find(bg)
			if err != nil || len(rest) != 3 || rest[0].Attempts != 2 {
				t.Errorf("cursor from OrderBy(%q) used with OrderBy(\"started_at\"): %v, %v", name, rest, err)
			}
		}
		if n, err := runs.Where(airnest.Eq("ID", want[0].ID), airnest.In("Attempts", 4.0, 3)).Count(bg); err != nil || n != 1 {
			t.Errorf("Eq(\"ID\") and In(\"Attempts\", 4.0, 3): %d, %v; want 1", n, err)
		}

		type Twin struct {
			ID         airnest.ID[Twin]
			StartedAt  time.Time
			Started_At time.Time //nolint:revive // the clash under test
		}
		_, err = airnest.NewCollection[Twin](airnest.NewStore(), airnest.Index("started_at"))
		if !errors.Is(err, airnest.ErrInvalid) || !strings.Contains(err.Error(), "StartedAt") || !strings.Contains(err.Error(), "Started_At") {
			t.Errorf("an index name that matches two fields: %v, want ErrInvalid naming both", err)
		}
	})
}
