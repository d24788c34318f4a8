package airnest_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
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
