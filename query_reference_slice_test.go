package airnest_test

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/airnest/airnest"
)

// Bag has what the membership filters and nested paths query: slices
// (nil, empty, with duplicates) and fields behind a pointer that may be nil.
type Bag struct {
	ID   airnest.ID[Bag]
	Tag  string // not indexed: names the value in test failures
	Tags []string
	Nums []int
	Meta *BagMeta
}

type BagMeta struct {
	Rank  *int
	Owner string
	Codes []int
}

var bagWords = []string{"", "a", "A", "ab", "b", "é", "x\x00"}

type bagGen struct {
	rng   *rand.Rand
	words []string
}

func (g bagGen) words3() []string {
	switch g.rng.IntN(5) {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	var out []string
	for range g.rng.IntN(4) + 1 {
		out = append(out, g.words[g.rng.IntN(len(g.words))])
	}
	return out
}

func (g bagGen) ints() []int {
	if g.rng.IntN(4) == 0 {
		return nil
	}
	var out []int
	for range g.rng.IntN(4) {
		out = append(out, g.rng.IntN(5)-2)
	}
	return out
}

func (g bagGen) bag(i int) Bag {
	b := Bag{Tag: fmt.Sprint(i, ","), Tags: g.words3(), Nums: g.ints()}
	if g.rng.IntN(4) > 0 {
		b.Meta = &BagMeta{Owner: g.words[g.rng.IntN(len(g.words))], Codes: g.ints()}
		if g.rng.IntN(3) > 0 {
			r := g.rng.IntN(5)
			b.Meta.Rank = &r
		}
	}
	return b
}

// bagElems is a slice column's elements in Go: the path's slice, nil when
// a pointer on the way is nil.
func bagElems(b Bag, col string) []any {
	var out []any
	switch col {
	case "tags":
		for _, s := range b.Tags {
			out = append(out, s)
		}
	case "nums":
		for _, n := range b.Nums {
			out = append(out, n)
		}
	case "meta.codes":
		if b.Meta != nil {
			for _, n := range b.Meta.Codes {
				out = append(out, n)
			}
		}
	}
	return out
}

var bagSlices = []string{"tags", "nums", "meta.codes"}

func (g bagGen) elem(col string) any {
	if col == "tags" {
		return g.words[g.rng.IntN(len(g.words))]
	}
	return g.rng.IntN(5) - 2
}

func (g bagGen) tree(depth int) (airnest.Filter, func(Bag) bool, string) {
	r := g.rng
	if f, pred, desc, ok := branchTree(r, depth, g.tree); ok {
		return f, pred, desc
	}
	switch r.IntN(7) {
	case 0: // a nested field behind a pointer
		v := r.IntN(5)
		return airnest.Gte("Meta.Rank", v), func(x Bag) bool {
			return x.Meta != nil && x.Meta.Rank != nil && *x.Meta.Rank >= v
		}, fmt.Sprintf("Gte(meta.rank, %d)", v)
	case 1:
		return airnest.IsNull("meta.rank"), func(x Bag) bool { return x.Meta == nil || x.Meta.Rank == nil }, "IsNull(meta.rank)"
	case 2:
		w := g.words[r.IntN(len(g.words))]
		return airnest.Eq("meta.owner", w), func(x Bag) bool { return x.Meta != nil && x.Meta.Owner == w }, fmt.Sprintf("Eq(meta.owner, %q)", w)
	}
	col := bagSlices[r.IntN(len(bagSlices))]
	var vs []any
	for range r.IntN(4) {
		vs = append(vs, g.elem(col))
	}
	switch r.IntN(4) {
	case 0:
		v := g.elem(col)
		return airnest.Contains(col, v), func(x Bag) bool { return slices.Contains(bagElems(x, col), v) }, fmt.Sprintf("Contains(%s, %q)", col, v)
	case 1:
		return airnest.ContainsAny(col, vs...), func(x Bag) bool {
			return slices.ContainsFunc(vs, func(v any) bool { return slices.Contains(bagElems(x, col), v) })
		}, fmt.Sprintf("ContainsAny(%s, %q)", col, vs)
	case 2:
		return airnest.ContainsAll(col, vs...), func(x Bag) bool {
			for _, v := range vs {
				if !slices.Contains(bagElems(x, col), v) {
					return false
				}
			}
			return true
		}, fmt.Sprintf("ContainsAll(%s, %q)", col, vs)
	}
	return airnest.IsEmpty(col), func(x Bag) bool { return len(bagElems(x, col)) == 0 }, fmt.Sprintf("IsEmpty(%s)", col)
}

// TestMembershipMatchesGoReference runs random filter trees of membership
// filters, nested fields and And, Or, Not, and compares each result with a
// plain Go loop over Scan.
// openBags opens the store at dsn with Bag's index columns (and opts).
func openBags(t *testing.T, dsn string, opts ...airnest.Option) (*airnest.Store, *airnest.Coll[Bag]) {
	t.Helper()
	s := airnest.NewStore()
	bags := airnest.Collection[Bag](s, append(opts, airnest.Index("tags", "nums", "meta.codes", "meta.rank", "meta.owner"))...)
	if err := s.Open(bg, dsn, nil); err != nil {
		t.Fatal(err)
	}
	return s, bags
}

// newBagGen makes random Bags and filters with words the backend at dsn
// stores.
func newBagGen(dsn string, seed, stream uint64) bagGen {
	words := bagWords
	if backendOf(dsn) == "postgres" {
		words = words[:len(words)-1] // PostgreSQL text holds no NUL
	}
	return bagGen{rand.New(rand.NewPCG(seed, stream)), words}
}

func TestMembershipMatchesGoReference(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, bags := openBags(t, dsn)
		defer s.Close()
		seed := uint64(time.Now().UnixNano())
		g := newBagGen(dsn, seed, 11)
		err := s.Tx(bg, func(tx *airnest.Tx) error {
			for i := range 120 {
				b := g.bag(i)
				if err := bags.In(tx).Save(bg, &b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		stored, err := bags.Scan(bg)
		if err != nil {
			t.Fatal(err)
		}
		nonEmpty := 0
		const rounds = 300
		for round := range rounds {
			f, pred, desc := g.tree(3)
			var want []string
			for _, v := range stored {
				if pred(v) {
					want = append(want, v.Tag)
				}
			}
			got, err := bags.Where(f).Find(bg)
			if err != nil {
				t.Fatalf("seed %d round %d: %s: %v", seed, round, desc, err)
			}
			var gotTags []string
			for _, v := range got {
				gotTags = append(gotTags, v.Tag)
			}
			if !slices.Equal(gotTags, want) {
				t.Fatalf("seed %d round %d: %s:\n got %v\nwant %v", seed, round, desc, gotTags, want)
			}
			if n, err := bags.Where(f).Count(bg); err != nil || n != len(want) {
				t.Fatalf("seed %d round %d: %s: Count %d, %v; want %d", seed, round, desc, n, err, len(want))
			}
			if len(want) > 0 && len(want) < len(stored) {
				nonEmpty++
			}
			moreOnBags(t, fmt.Sprintf("seed %d round %d: %s", seed, round, desc), g, bags, f, pred, stored)
		}
		if nonEmpty < rounds/5 {
			t.Fatalf("only %d of %d random queries matched some but not all values: the generator is too narrow", nonEmpty, rounds)
		}
	})
}

// moreOnBags extends a membership query by another tree through Where, a
// Match and a Limit, and checks Find, Count and aggregates over nested
// columns against a loop over stored.
func moreOnBags(t *testing.T, desc string, g bagGen, bags *airnest.Coll[Bag], f airnest.Filter, pred func(Bag) bool, stored []Bag) {
	t.Helper()
	f2, p2, d2 := g.tree(2)
	even := func(b *Bag) bool { return len(b.Tags)%2 == 0 }
	q := bags.Where(f).Where(f2).Match(even).Limit(20)
	desc += " then Where " + d2 + " Match even Tags Limit 20"
	var want []string
	maxRank, ranks := 0, 0
	owners := map[string]int64{}
	for _, v := range stored {
		if len(want) == 20 || !pred(v) || !p2(v) || !even(&v) {
			continue
		}
		want = append(want, v.Tag)
		if v.Meta != nil {
			owners[v.Meta.Owner]++
			if r := v.Meta.Rank; r != nil && (ranks == 0 || *r > maxRank) {
				maxRank = *r
			}
			if v.Meta.Rank != nil {
				ranks++
			}
		}
	}
	got, err := q.Find(bg)
	var gotTags []string
	for _, v := range got {
		gotTags = append(gotTags, v.Tag)
	}
	if err != nil || !slices.Equal(gotTags, want) {
		t.Fatalf("%s:\n got %v\nwant %v (%v)", desc, gotTags, want, err)
	}
	if n, err := q.Count(bg); err != nil || n != len(want) {
		t.Fatalf("%s: Count %d, %v; want %d", desc, n, err, len(want))
	}
	r, err := airnest.Max[int](bg, q, "meta.rank")
	switch {
	case ranks == 0 && !errors.Is(err, airnest.ErrNotFound):
		t.Fatalf("%s: Max(meta.rank) of none: %d, %v", desc, r, err)
	case ranks > 0 && (err != nil || r != maxRank):
		t.Fatalf("%s: Max(meta.rank) = %d, %v; want %d", desc, r, err, maxRank)
	}
	if by, err := airnest.CountBy[string](bg, q, "Meta.Owner"); err != nil || !maps.Equal(by, owners) {
		t.Fatalf("%s: CountBy(meta.owner) = %v, %v; want %v", desc, by, err, owners)
	}
}
