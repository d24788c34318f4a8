package airnest_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/airnest/airnest"
)

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
