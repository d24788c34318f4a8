package airnest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/airnest/airnest"
)

// manyRecs saves n values over several of a Match query's pages, their
// Tag their number: N cycles through -3..3, U8 through 0..250.
func manyRecs(t testing.TB, s *airnest.Store, recs *airnest.Coll[Rec], n int) []Rec {
	t.Helper()
	vs := make([]Rec, n)
	for i := range vs {
		vs[i] = Rec{Tag: fmt.Sprint(i, ","), N: i%7 - 3, U8: uint8(i % 251), S: fmt.Sprint("s", i%5)}
	}
	return saveTx(t, s, recs, vs)
}

func keep(vs []Rec, f func(Rec) bool) []Rec {
	var out []Rec
	for _, v := range vs {
		if f(v) {
			out = append(out, v)
		}
	}
	return out
}

func TestQueryWhereAddsFilters(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, recs := recStoreAt(t, dsn)
		all := manyRecs(t, s, recs, 60)
		base := recs.Where(airnest.Gte("n", 0)).OrderByDesc("u8").Limit(5)
		low := base.Where(airnest.Lte("N", 1), airnest.Ne("s", "s0"))
		high := base.Where(airnest.Eq("n", 3))
		sortDesc := func(vs []Rec) []Rec {
			slices.SortStableFunc(vs, func(a, b Rec) int { return int(b.U8) - int(a.U8) })
			return vs[:min(5, len(vs))]
		}
		for _, c := range []struct {
			name string
			q    *airnest.Query[Rec]
			want []Rec
		}{
			{"base", base, sortDesc(keep(all, func(r Rec) bool { return r.N >= 0 }))},
			{"low", low, sortDesc(keep(all, func(r Rec) bool { return r.N >= 0 && r.N <= 1 && r.S != "s0" }))},
			{"high", high, sortDesc(keep(all, func(r Rec) bool { return r.N == 3 }))},
			{"empty Where", base.Where(), sortDesc(keep(all, func(r Rec) bool { return r.N >= 0 }))},
		} {
			got, err := c.q.Find(bg)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if tags(got) != tags(c.want) {
				t.Errorf("%s: got %s, want %s", c.name, tags(got), tags(c.want))
			}
		}
		// Branches built on one base share no filter values.
		b2 := recs.Where(airnest.Gte("n", 0))
		x, y := b2.Where(airnest.Eq("n", 1)), b2.Where(airnest.Eq("n", 2))
		nx, err1 := x.Count(bg)
		ny, err2 := y.Count(bg)
		if err1 != nil || err2 != nil || nx != len(keep(all, func(r Rec) bool { return r.N == 1 })) || ny != len(keep(all, func(r Rec) bool { return r.N == 2 })) {
			t.Errorf("branches: %d %v, %d %v", nx, err1, ny, err2)
		}
		for _, bad := range []*airnest.Query[Rec]{
			base.Where(airnest.Eq("nope", 1)),
			base.Where(airnest.Eq("n", "text")),
			base.Where(airnest.Filter{}),
			recs.Where(airnest.Eq("nope", 1)).Where(airnest.Eq("n", 1)),
		} {
			if _, err := bad.Find(bg); !errors.Is(err, airnest.ErrInvalid) {
				t.Errorf("bad Where: %v, want ErrInvalid", err)
			}
		}
	})
}

func TestQueryMatchTerminals(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, recs := recStoreAt(t, dsn)
		all := manyRecs(t, s, recs, 700)
		third := func(r *Rec) bool { return r.U8%3 == 0 }
		notS1 := func(r *Rec) bool { return r.S != "s1" }
		q := recs.Where(airnest.Gte("n", -1)).Match(third).Match(notS1)
		want := keep(all, func(r Rec) bool { return r.N >= -1 && third(&r) && notS1(&r) })
		if len(want) < 100 {
			t.Fatalf("fixture: only %d matches", len(want))
		}
		check := func(name string, got []Rec, err error, want []Rec) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if tags(got) != tags(want) {
				t.Fatalf("%s:\n got %s\nwant %s", name, tags(got), tags(want))
			}
		}
		got, err := q.Find(bg)
		check("Find", got, err, want)
		got, err = q.Offset(7).Limit(5).Find(bg)
		check("Offset(7).Limit(5)", got, err, want[7:12])
		got, err = q.Offset(len(want) - 2).Find(bg)
		check("Offset near the end", got, err, want[len(want)-2:])
		got, err = q.Limit(0).Find(bg)
		check("Limit(0)", got, err, nil)

		for _, c := range []struct {
			q    *airnest.Query[Rec]
			want int
		}{{q, len(want)}, {q.Limit(10).Offset(len(want) - 3), 3}, {q.Offset(len(want) + 5), 0}, {q.Limit(0), 0}} {
			if n, err := c.q.Count(bg); err != nil || n != c.want {
				t.Errorf("Count: %d, %v; want %d", n, err, c.want)
			}
			if ok, err := c.q.Exists(bg); err != nil || ok != (c.want > 0) {
				t.Errorf("Exists: %v, %v; want %v", ok, err, c.want > 0)
			}
		}
		first, err := q.Offset(3).First(bg)
		if err != nil || first.Tag != want[3].Tag {
			t.Errorf("First: %s, %v; want %s", first.Tag, err, want[3].Tag)
		}
		if _, err := q.Match(func(*Rec) bool { return false }).First(bg); !errors.Is(err, airnest.ErrNotFound) {
			t.Errorf("First of nothing: %v, want ErrNotFound", err)
		}
		ids, err := q.Limit(40).IDs(bg)
		if err != nil || len(ids) != 40 {
			t.Fatalf("IDs: %d, %v", len(ids), err)
		}
		for i, id := range ids {
			if id != want[i].ID {
				t.Fatalf("IDs[%d] = %s, want %s", i, id, want[i].ID)
			}
		}
		var streamed []Rec
		for v, err := range q.Offset(1).All(bg) {
			if err != nil {
				t.Fatal(err)
			}
			streamed = append(streamed, v)
			if len(streamed) == 300 {
				break
			}
		}
		check("All, broken off", streamed, nil, want[1:min(301, len(want))])

		// Pages follow the matches, in the query's order, cursor by cursor.
		ordered := q.OrderByDesc("n").OrderBy("s")
		wantOrdered := slices.Clone(want)
		slices.SortStableFunc(wantOrdered, func(a, b Rec) int {
			if a.N != b.N {
				return b.N - a.N
			}
			return strings.Compare(a.S, b.S)
		})
		got, err = ordered.Find(bg)
		check("ordered Find", got, err, wantOrdered)
		check("pages", allPages(t, ordered.Limit(37)), nil, wantOrdered)

		plan, err := q.Explain(bg)
		if err != nil || !strings.Contains(plan, "GO MATCH: 2 Go function(s)") || !strings.Contains(plan, "QUERY PLAN") {
			t.Errorf("Explain: %q, %v", plan, err)
		}
	})
}

func TestQueryMatchHostile(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, recs := recStoreAt(t, dsn)
		manyRecs(t, s, recs, 600)
		if _, err := recs.Where().Match(nil).Find(bg); !errors.Is(err, airnest.ErrInvalid) {
			t.Errorf("Match(nil): %v, want ErrInvalid", err)
		}
		boom := recs.Where().Match(func(r *Rec) bool {
			if r.Tag == "300," {
				panic("a bug in the predicate")
			}
			return true
		})
		_, err := boom.Find(bg)
		if !errors.Is(err, airnest.ErrInvalid) || !strings.Contains(err.Error(), "panicked") {
			t.Errorf("a panicking Match: %v", err)
		}
		if _, err := boom.Count(bg); !errors.Is(err, airnest.ErrInvalid) {
			t.Errorf("Count with a panicking Match: %v", err)
		}
		// The first batch (the first page) was deleted and committed
		// before the panic; the batch that met it deleted nothing.
		if n, err := boom.Delete(bg); !errors.Is(err, airnest.ErrInvalid) || n != 256 {
			t.Errorf("Delete with a panicking Match: %d, %v; want 256 and the panic", n, err)
		}
		if n, _ := recs.Count(bg); n != 600-256 {
			t.Errorf("after the failed Delete %d values are left, want %d", n, 600-256)
		}

		// Cancelled from inside the scan: the scan stops with ctx's error.
		ctx, cancel := context.WithCancel(bg)
		defer cancel()
		seen := 0
		_, err = recs.Where().Match(func(*Rec) bool {
			seen++
			if seen == 300 {
				cancel()
			}
			return true
		}).Count(ctx)
		if !errors.Is(err, context.Canceled) || seen != 300 {
			t.Errorf("cancelled Count: %v after %d values", err, seen)
		}
		ctx2, cancel2 := context.WithCancel(bg)
		defer cancel2()
		n := 0
		for _, err := range recs.Where().Match(func(*Rec) bool { return true }).All(ctx2) {
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("cancelled All: %v", err)
				}
				break
			}
			n++
			if n == 10 {
				cancel2()
			}
		}
		if n != 256 {
			t.Errorf("All yielded %d values after cancel, want the rest of its first page (256)", n)
		}
	})
}

func TestQueryMatchDelete(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, recs := recStoreAt(t, dsn)
		all := manyRecs(t, s, recs, 700)
		odd := func(r *Rec) bool { return r.B || r.U8%2 == 1 }
		// Between the read that finds a value and the transaction that
		// deletes it, the value changes so that it no longer matches: it
		// stays. The change is saved from inside the first call of the
		// predicate on it, which the read makes.
		var victim Rec
		for _, v := range all {
			if v.N >= 0 && v.U8%2 == 1 {
				victim = v
				break
			}
		}
		changed := false
		n, err := recs.Where(airnest.Gte("n", 0)).Match(func(r *Rec) bool {
			if r.ID == victim.ID && !changed {
				changed = true
				v := *r
				v.U8--
				if err := recs.Save(bg, &v); err != nil {
					t.Error(err)
				}
			}
			return odd(r)
		}).Delete(bg)
		want := keep(all, func(r Rec) bool { return !(r.N >= 0 && odd(&r)) || r.ID == victim.ID })
		if err != nil || n != len(all)-len(want) {
			t.Fatalf("Delete: %d, %v; want %d", n, err, len(all)-len(want))
		}
		left, err := recs.Scan(bg)
		if err != nil || tags(left) != tags(want) {
			t.Fatalf("left after Delete: %v\n got %s\nwant %s", err, tags(left), tags(want))
		}

		// Limit and Offset count matches: exactly those are deleted.
		evens := recs.Where().Match(func(r *Rec) bool { return r.U8%2 == 0 }).OrderByDesc("u8")
		before, _ := evens.Find(bg)
		n, err = evens.Offset(2).Limit(3).Delete(bg)
		if err != nil || n != 3 {
			t.Fatalf("Offset(2).Limit(3).Delete: %d, %v", n, err)
		}
		after, _ := evens.Find(bg)
		if tags(after) != tags(append(slices.Clone(before[:2]), before[5:]...)) {
			t.Fatalf("deleted the wrong values:\n got %s\nwant %s", tags(after), tags(append(before[:2:2], before[5:]...)))
		}
	})
}
