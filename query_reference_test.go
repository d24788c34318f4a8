package airnest_test

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airnest/airnest"
)

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

// branchTree makes, one time in three while depth lasts, an And or Or of
// up to 3 random subtrees from sub, or a Not of one, with its Go predicate
// and description; ok is false when the caller is to make a leaf.
func branchTree[T any](r *rand.Rand, depth int, sub func(depth int) (airnest.Filter, func(T) bool, string)) (f airnest.Filter, pred func(T) bool, desc string, ok bool) {
	if depth == 0 || r.IntN(3) != 0 {
		return airnest.Filter{}, nil, "", false
	}
	var fs []airnest.Filter
	var preds []func(T) bool
	var descs []string
	for range r.IntN(4) {
		f, p, d := sub(depth - 1)
		fs, preds, descs = append(fs, f), append(preds, p), append(descs, d)
	}
	switch r.IntN(3) {
	case 0:
		return airnest.And(fs...), func(x T) bool {
			for _, p := range preds {
				if !p(x) {
					return false
				}
			}
			return true
		}, "And(" + strings.Join(descs, ", ") + ")", true
	case 1:
		return airnest.Or(fs...), func(x T) bool {
			return slices.ContainsFunc(preds, func(p func(T) bool) bool { return p(x) })
		}, "Or(" + strings.Join(descs, ", ") + ")", true
	}
	f, p, d := sub(depth - 1)
	return airnest.Not(f), func(x T) bool { return !p(x) }, "Not(" + d + ")", true
}

func (g randTree) tree(depth int) (airnest.Filter, func(Rec) bool, string) {
	r := g.rng
	if f, pred, desc, ok := branchTree(r, depth, g.tree); ok {
		return f, pred, desc
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
		recs, g, stored, seed := randomRecs(t, dsn, 100, 7)
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
				paged := allPages(t, q.Limit(3))
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

// goPredicates are Match functions for the reference test, on indexed and
// unindexed fields alike.
var goPredicates = []struct {
	name string
	fn   func(*Rec) bool
}{
	{"N even", func(r *Rec) bool { return r.N%2 == 0 }},
	{"long S", func(r *Rec) bool { return len(r.S) > 1 }},
	{"P > 1", func(r *Rec) bool { return r.P != nil && *r.P > 1 }},
	{"Tag has 1", func(r *Rec) bool { return strings.Contains(r.Tag, "1") }},
	{"not B", func(r *Rec) bool { return !r.B }},
}

// Where on a query, Match, the aggregates and LoadMany agree with a plain
// Go loop over Scan, for random data and random filter trees.
func TestQueryMoreMatchesGoReference(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		recs, g, stored, seed := randomRecs(t, dsn, 300, 11)
		nonEmpty := 0
		const rounds = 120
		for round := range rounds {
			f1, p1, d1 := g.tree(2)
			f2, p2, d2 := g.tree(2)
			desc := d1 + " then Where " + d2
			q := recs.Where(f1).Where(f2)
			pred := func(r Rec) bool { return p1(r) && p2(r) }
			for range g.rng.IntN(3) {
				m := goPredicates[g.rng.IntN(len(goPredicates))]
				q = q.Match(m.fn)
				prev := pred
				pred = func(r Rec) bool { return prev(r) && m.fn(&r) }
				desc += " Match " + m.name
			}
			byN := g.rng.IntN(2) == 0
			if byN {
				q = q.OrderByDesc("n")
			}
			var want []Rec
			for _, v := range stored {
				if pred(v) {
					want = append(want, v)
				}
			}
			if byN {
				slices.SortStableFunc(want, func(a, b Rec) int {
					if a.N != b.N {
						return cmp.Compare(b.N, a.N)
					}
					return b.ID.Compare(a.ID)
				})
			}
			qAll, wantAll := q, want
			if g.rng.IntN(3) == 0 {
				off, lim := g.rng.IntN(20), g.rng.IntN(60)
				q = q.Offset(off).Limit(lim)
				want = want[min(off, len(want)):min(off+lim, len(want))]
				desc += fmt.Sprintf(" Offset %d Limit %d", off, lim)
			}
			fail := func(what string, got, want any, err error) {
				t.Helper()
				t.Fatalf("seed %d round %d: %s: %s:\n got %v\nwant %v (%v)", seed, round, desc, what, got, want, err)
			}
			got, err := q.Find(bg)
			if err != nil || tags(got) != tags(want) {
				fail("Find", tags(got), tags(want), err)
			}
			if n, err := q.Count(bg); err != nil || n != len(want) {
				fail("Count", n, len(want), err)
			}
			if len(want) > 0 {
				nonEmpty++
			}

			var sum int64
			var fsum float64
			var minS string
			var maxP *int
			byB := map[bool]int64{}
			for i, v := range want {
				sum += int64(v.N)
				fsum += v.F
				if i == 0 || v.S < minS {
					minS = v.S
				}
				if v.P != nil && (maxP == nil || *v.P > *maxP) {
					maxP = v.P
				}
				byB[v.B]++
			}
			if got, err := airnest.Sum[int64](bg, q, "n"); err != nil || got != sum {
				fail("Sum(n)", got, sum, err)
			}
			if got, err := airnest.CountBy[bool](bg, q, "b"); err != nil || !reflect.DeepEqual(got, byB) {
				fail("CountBy(b)", got, byB, err)
			}
			gotS, err := airnest.Min[string](bg, q, "s")
			if len(want) == 0 {
				if !errors.Is(err, airnest.ErrNotFound) {
					fail("Min(s) of nothing", gotS, "ErrNotFound", err)
				}
			} else if err != nil || gotS != minS {
				fail("Min(s)", gotS, minS, err)
			}
			gotP, err := airnest.Max[int](bg, q, "p")
			if maxP == nil {
				if !errors.Is(err, airnest.ErrNotFound) {
					fail("Max(p) of nothing", gotP, "ErrNotFound", err)
				}
			} else if err != nil || gotP != *maxP {
				fail("Max(p)", gotP, *maxP, err)
			}
			if len(want) > 0 {
				avg := fsum / float64(len(want))
				if got, err := airnest.Avg(bg, q, "f"); err != nil || !sameResult(got, avg) {
					fail("Avg(f)", got, avg, err)
				}
			}

			if round%10 == 0 {
				paged := allPages(t, qAll.Limit(7))
				if tags(paged) != tags(wantAll) {
					fail("pages of 7", tags(paged), tags(wantAll), nil)
				}
				ids := make([]airnest.ID[Rec], 0, len(want)+1)
				for i := len(want) - 1; i >= 0; i-- {
					ids = append(ids, want[i].ID)
				}
				ids = append(ids, airnest.NewID[Rec]())
				loaded, missing, err := recs.LoadMany(bg, ids)
				if err != nil || len(missing) != 1 || missing[0] != ids[len(ids)-1] {
					fail("LoadMany missing", missing, ids[len(ids)-1:], err)
				}
				for i, id := range ids[:len(ids)-1] {
					if loaded[i].ID != id {
						fail("LoadMany order", loaded[i].ID, id, nil)
					}
				}
			}
		}
		if nonEmpty < rounds/5 {
			t.Fatalf("only %d of %d random queries matched anything: the generator is too narrow", nonEmpty, rounds)
		}
	})
}

// allPages reads q page by page, following the cursors, and checks that
// no page is empty or longer than q's Limit.
func allPages(t testing.TB, q *airnest.Query[Rec]) []Rec {
	t.Helper()
	var out []Rec
	for c := ""; ; {
		page, next, err := q.After(c).Page(bg)
		if err != nil {
			t.Fatal(err)
		}
		if next != "" && len(page) == 0 {
			t.Fatal("an empty page before the last")
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		c = next
	}
}

// randomRecs stores n random values at dsn, Tag their number, and returns
// them as Scan reads them, with the generator and its seed.
func randomRecs(t *testing.T, dsn string, n int, stream uint64) (*airnest.Coll[Rec], randTree, []Rec, uint64) {
	t.Helper()
	s, recs := recStoreAt(t, dsn)
	seed := uint64(time.Now().UnixNano())
	g := randTree{rand.New(rand.NewPCG(seed, stream)), append(propStrings[:len(propStrings):len(propStrings)], highText[backendOf(dsn)])}
	vs := make([]Rec, n)
	for i := range vs {
		vs[i] = g.rec()
		vs[i].Tag = fmt.Sprint(i, ",")
	}
	saveTx(t, s, recs, vs)
	stored, err := recs.Scan(bg)
	if err != nil {
		t.Fatal(err)
	}
	return recs, g, stored, seed
}
