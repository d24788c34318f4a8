package airnest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/airnest/airnest"
)

// loggedRecs opens the store at dsn with Rec logged.
func loggedRecs(t *testing.T, dsn string) *airnest.Coll[Rec] {
	_, recs := recStoreAt(t, dsn, recIndexes, airnest.ChangeLog(airnest.Retention{}))
	return recs
}

func newRandTree(dsn string, seed uint64) randTree {
	return randTree{rand.New(rand.NewPCG(seed, 13)), append(propStrings[:len(propStrings):len(propStrings)], highText[backendOf(dsn)])}
}

// A query watch evaluates its filter in Go; on random values and random
// filters it must agree with the database's own answer (Where(f).IDs).
func TestQueryWatchMatchesDatabase(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		recs := loggedRecs(t, dsn)
		seed := uint64(time.Now().UnixNano())
		g := newRandTree(dsn, seed)
		const n = 100
		for i := range n {
			v := g.rec()
			v.Tag = fmt.Sprint(i)
			must(t, recs.Save(bg, &v))
		}
		nonEmpty := 0
		for round := range 60 {
			f, _, desc := g.tree(3)
			q := recs.Where(f)
			want, err := q.IDs(bg)
			if err != nil {
				t.Fatalf("seed %d round %d: %s: %v", seed, round, desc, err)
			}
			got := watchedSaves(t, q, n, fmt.Sprintf("seed %d round %d: %s", seed, round, desc))
			slices.SortFunc(want, func(a, b airnest.ID[Rec]) int { return a.Compare(b) })
			if !slices.Equal(got, want) {
				t.Fatalf("seed %d round %d: %s: the watch matched %d values, the database %d:\n got %v\nwant %v", seed, round, desc, len(got), len(want), got, want)
			}
			if len(want) > 0 {
				nonEmpty++
			}
		}
		if nonEmpty < 10 {
			t.Fatalf("only %d random filters matched anything", nonEmpty)
		}
	})
}

// watchedSaves watches q from the log's start, where each of n values
// was saved once, and returns the IDs delivered as Saved (matching) in
// commit order; the others come as Left.
func watchedSaves[T any](t *testing.T, q *airnest.Query[T], n int, what string) []airnest.ID[T] {
	t.Helper()
	var got []airnest.ID[T]
	seen := 0
	for ch, err := range q.Watch(bg, &airnest.WatchOptions{Resume: true}) {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ch.Op == airnest.Saved {
			got = append(got, ch.ID)
		}
		if seen++; seen == n {
			break
		}
	}
	return got
}

// A query watch from now reports values entering the query (Saved),
// changing inside it (Saved), leaving it (Left) and deleted while inside it
// (Deleted), and nothing about the others; the reference is the database's
// answer after each write.
func TestQueryWatchEntersAndLeaves(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		recs := loggedRecs(t, dsn)
		seed := uint64(time.Now().UnixNano())
		g := newRandTree(dsn, seed)
		var stored []Rec
		for range 30 {
			v := g.rec()
			must(t, recs.Save(bg, &v))
			stored = append(stored, v)
		}
		f, _, desc := g.tree(2)
		marker := airnest.Eq("n", 1000) // the values other than markers have n in -3..3
		q := recs.Where(airnest.Or(f, marker))
		matches := func(id airnest.ID[Rec]) bool {
			ok, err := recs.Where(airnest.Or(f, marker), airnest.Eq("id", id)).Exists(bg)
			must(t, err)
			return ok
		}

		ctx, cancel := context.WithCancel(bg)
		defer cancel()
		changes, errc := pull(q.Watch(ctx, nil))
		var markers []airnest.ID[Rec]
		var first airnest.Change[Rec]
	start:
		for {
			select {
			case first = <-changes:
				break start
			case err := <-errc:
				t.Fatal(err)
			default:
				m := Rec{N: 1000}
				must(t, recs.Save(bg, &m))
				markers = append(markers, m.ID)
			}
		}
		k := slices.Index(markers, first.ID)
		if k < 0 || first.Op != airnest.Saved {
			t.Fatalf("first change %+v is not a marker's save", first)
		}
		for _, want := range markers[k+1:] {
			if ch := take(t, changes, errc, 1)[0]; ch.ID != want || ch.Op != airnest.Saved {
				t.Fatalf("change %+v, want the save of marker %s", ch, want)
			}
		}

		type exp struct {
			op airnest.Op
			id airnest.ID[Rec]
		}
		in := map[airnest.ID[Rec]]bool{}
		ids, err := q.IDs(bg)
		must(t, err)
		for _, id := range ids {
			in[id] = true
		}
		var want []exp
		for step := range 200 {
			var id airnest.ID[Rec]
			deleted := false
			switch r := g.rng.IntN(10); {
			case r < 2 || len(stored) == 0:
				v := g.rec()
				must(t, recs.Save(bg, &v))
				stored = append(stored, v)
				id = v.ID
			case r < 8:
				i := g.rng.IntN(len(stored))
				v := g.rec()
				v.ID = stored[i].ID
				must(t, recs.Save(bg, &v))
				id = v.ID
			default:
				i := g.rng.IntN(len(stored))
				id = stored[i].ID
				must(t, recs.Delete(bg, id))
				stored = slices.Delete(stored, i, i+1)
				deleted = true
			}
			now := !deleted && matches(id)
			switch {
			case now:
				want = append(want, exp{airnest.Saved, id})
			case in[id] && deleted:
				want = append(want, exp{airnest.Deleted, id})
			case in[id]:
				want = append(want, exp{airnest.Left, id})
			}
			in[id] = now
			_ = step
		}
		end := Rec{N: 1000}
		must(t, recs.Save(bg, &end))
		want = append(want, exp{airnest.Saved, end.ID})
		got := take(t, changes, errc, len(want))
		for i, ch := range got {
			if ch.Op != want[i].op || ch.ID != want[i].id {
				t.Fatalf("seed %d: %s: change %d: %s %s, want %s %s", seed, desc, i, ch.Op, ch.ID, want[i].op, want[i].id)
			}
		}
	})
}

// Query watches on slice and nested columns: membership filters (Contains,
// ContainsAny, ContainsAll, IsEmpty) and paths through nil pointers,
// evaluated in Go, agree with the database's side tables and columns.
func TestQueryWatchMembershipMatchesDatabase(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, bags := openBags(t, dsn, airnest.ChangeLog(airnest.Retention{}))
		defer s.Close()
		seed := uint64(time.Now().UnixNano())
		g := newBagGen(dsn, seed, 17)
		const n = 80
		for i := range n {
			b := g.bag(i)
			must(t, bags.Save(bg, &b))
		}
		nonEmpty := 0
		for round := range 60 {
			f, _, desc := g.tree(3)
			q := bags.Where(f)
			want, err := q.IDs(bg)
			if err != nil {
				t.Fatalf("seed %d round %d: %s: %v", seed, round, desc, err)
			}
			got := watchedSaves(t, q, n, fmt.Sprintf("seed %d round %d: %s", seed, round, desc))
			slices.SortFunc(want, func(a, b airnest.ID[Bag]) int { return a.Compare(b) })
			if !slices.Equal(got, want) {
				t.Fatalf("seed %d round %d: %s: the watch matched %d values, the database %d", seed, round, desc, len(got), len(want))
			}
			if len(want) > 0 {
				nonEmpty++
			}
		}
		if nonEmpty < 10 {
			t.Fatalf("only %d random filters matched anything", nonEmpty)
		}
	})
}
