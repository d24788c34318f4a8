package airnest_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/airnest/airnest"
)

// Post has slices indexed by their elements, one behind nested pointers.
type Post struct {
	ID     airnest.ID[Post]
	Title  string
	Tags   []string
	Scores []float64
	Info   *PostInfo
}

type PostInfo struct{ Refs []int64 }

func openPosts(t *testing.T, dsn string, opts ...airnest.Option) (*airnest.Store, *airnest.Coll[Post]) {
	t.Helper()
	return openColl[Post](t, dsn, opts...)
}

func titles(t *testing.T, q *airnest.Query[Post]) []string {
	t.Helper()
	return found(t, q, func(p Post) string { return p.Title })
}

// elemCount counts the rows of a side table.
func elemCount(t *testing.T, s *airnest.Store, table string) int {
	t.Helper()
	db, err := s.DB()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM "` + table + `"`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSliceMembership(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, posts := openPosts(t, dsn, airnest.Index("tags", "scores", "info.refs", "title"))
		vals := []Post{
			{Title: "a", Tags: []string{"go", "db"}, Scores: []float64{1, 2}, Info: &PostInfo{Refs: []int64{1, 2}}},
			{Title: "b", Tags: []string{"go", "go", "go"}, Scores: []float64{math.NaN()}},
			{Title: "c", Tags: []string{}, Info: &PostInfo{}},
			{Title: "d"},
			{Title: "e", Tags: []string{"db", "sql"}, Info: &PostInfo{Refs: []int64{2}}},
		}
		for i := range vals {
			if err := posts.Save(bg, &vals[i]); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			f    airnest.Filter
			want []string
		}{
			{airnest.Contains("tags", "go"), []string{"a", "b"}},
			{airnest.Contains("Tags", "nope"), []string{}},
			{airnest.ContainsAny("tags", "sql", "go"), []string{"a", "b", "e"}},
			{airnest.ContainsAny[string]("tags"), []string{}},
			{airnest.ContainsAll("tags", "db", "go", "db"), []string{"a"}},
			{airnest.ContainsAll[string]("tags"), []string{"a", "b", "c", "d", "e"}},
			{airnest.IsEmpty("tags"), []string{"c", "d"}},
			{airnest.Not(airnest.IsEmpty("tags")), []string{"a", "b", "e"}},
			{airnest.Not(airnest.Contains("tags", "go")), []string{"c", "d", "e"}},
			{airnest.Or(airnest.Contains("tags", "sql"), airnest.Eq("title", "d")), []string{"d", "e"}},
			{airnest.And(airnest.Contains("tags", "db"), airnest.Not(airnest.ContainsAny("info.refs", 1, 3))), []string{"e"}},
			{airnest.Contains("info.refs", 2.0), []string{"a", "e"}}, // 2.0 is an int64's value
			{airnest.IsEmpty("info.refs"), []string{"b", "c", "d"}},  // nil pointer, empty, nil
			{airnest.IsEmpty("scores"), []string{"c", "d", "e"}},     // [NaN] is not empty
			{airnest.Contains("scores", 2), []string{"a"}},
		} {
			got := titles(t, posts.Where(tc.f))
			if !slices.Equal(got, tc.want) {
				t.Errorf("%v: got %v, want %v", tc.f, got, tc.want)
			}
			n, err := posts.Where(tc.f).Count(bg)
			if err != nil || n != len(tc.want) {
				t.Errorf("%v: Count %d, %v; want %d", tc.f, n, err, len(tc.want))
			}
		}
		// Duplicates inside a slice are one element.
		if n := elemCount(t, s, "Post__tags__elems"); n != 5 {
			t.Errorf("tags side table: %d rows, want 5 (go, db; go; db, sql)", n)
		}
		// Update and Delete keep the side table in step.
		if _, err := posts.Update(bg, vals[0].ID, func(p *Post) error { p.Tags = []string{"rust"}; return nil }); err != nil {
			t.Fatal(err)
		}
		if got := titles(t, posts.Where(airnest.Contains("tags", "go"))); !slices.Equal(got, []string{"b"}) {
			t.Errorf("after Update: Contains go: %v", got)
		}
		if err := posts.Delete(bg, vals[1].ID); err != nil {
			t.Fatal(err)
		}
		if n, err := posts.Where(airnest.Contains("tags", "db")).Delete(bg); err != nil || n != 1 {
			t.Fatalf("Query.Delete: %d, %v", n, err)
		}
		if n := elemCount(t, s, "Post__tags__elems"); n != 1 {
			t.Errorf("tags side table after deletes: %d rows, want 1 (rust)", n)
		}
		// A Tx that fails leaves no element behind.
		boom := errors.New("boom")
		err := s.Tx(bg, func(tx *airnest.Tx) error {
			p := Post{Title: "tx", Tags: []string{"tx"}}
			if err := posts.In(tx).Save(bg, &p); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) || elemCount(t, s, "Post__tags__elems") != 1 {
			t.Errorf("rolled back Tx: %v, %d elements", err, elemCount(t, s, "Post__tags__elems"))
		}
		rep, err := s.Verify(bg)
		if err != nil || !rep.OK() {
			t.Fatalf("Verify: %v\n%s", err, rep)
		}
	})
}

func TestSliceMembershipErrors(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		_, posts := openPosts(t, dsn, airnest.Index("tags", "title"))
		for _, tc := range []struct {
			q    *airnest.Query[Post]
			want string
		}{
			{posts.Where().OrderBy("tags"), `OrderBy("tags"): column "tags" is field Tags of type []string, a slice, which has no order`},
			{posts.Where(airnest.Eq("tags", "go")), `Eq("tags"): column "tags" is field Tags of type []string, a slice: filter it with Contains`},
			{posts.Where(airnest.Contains("title", "go")), `Contains("title"): column "title" is field Title of type string, not a slice`},
			{posts.Where(airnest.Contains("tags", 3)), `column "tags" is field Tags[] of type string; an int does not fit`},
			{posts.Where(airnest.ContainsAny[any]("tags", "a", "b", "c", 4)), `value 3`},
			{posts.Where(airnest.Contains("tags", nil)), `nil does not fit`},
		} {
			_, err := tc.q.Find(bg)
			if !errors.Is(err, airnest.ErrInvalid) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "Post") {
				t.Errorf("got %v, want ErrInvalid with %q", err, tc.want)
			}
		}
		for _, tc := range []struct {
			opt  airnest.Option
			want string
		}{
			{airnest.Unique("tags"), "cannot be Unique"},
			{airnest.Index("tags,title"), "part of a composite index"},
		} {
			_, err := airnest.NewCollection[Post](airnest.NewStore(), tc.opt)
			if !errors.Is(err, airnest.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want ErrInvalid with %q", err, tc.want)
			}
		}
	})
}

// TestSliceHostileValues stores elements that are hard to store: NUL,
// invalid UTF-8 (text PostgreSQL refuses: the Save fails and writes
// nothing), a huge slice with duplicates, NaN, infinities.
func TestSliceHostileValues(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, posts := openPosts(t, dsn, airnest.Index("tags", "scores"))
		pg := backendOf(dsn) == "postgres"
		for _, tag := range []string{"a\x00b", "\xff\xfe"} {
			p := Post{Title: "hostile", Tags: []string{"ok", tag}}
			err := posts.Save(bg, &p)
			if pg {
				if !errors.Is(err, airnest.ErrInvalid) || !strings.Contains(err.Error(), `index "tags"`) {
					t.Errorf("Save %q on PostgreSQL: %v, want ErrInvalid naming the index", tag, err)
				}
				if n, _ := posts.Count(bg); n != 0 || elemCount(t, s, "Post__tags__elems") != 0 {
					t.Errorf("a failed Save left a value or elements behind")
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := titles(t, posts.Where(airnest.Contains("tags", tag))); len(got) != 1 {
				t.Errorf("Contains %q: %v", tag, got)
			}
			if err := posts.Delete(bg, p.ID); err != nil {
				t.Fatal(err)
			}
		}
		huge := make([]string, 20000)
		for i := range huge {
			huge[i] = string(rune('a' + i%500))
		}
		p := Post{Title: "huge", Tags: huge, Scores: []float64{math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), math.NaN()}}
		if err := posts.Save(bg, &p); err != nil {
			t.Fatal(err)
		}
		if n := elemCount(t, s, "Post__tags__elems"); n != 500 {
			t.Errorf("huge slice: %d elements stored, want 500 distinct", n)
		}
		for _, f := range []airnest.Filter{
			airnest.ContainsAll("tags", huge...),
			airnest.Contains("scores", math.Inf(-1)),
			airnest.ContainsAll("scores", math.Inf(1), 0.0),
		} {
			if got := titles(t, posts.Where(f)); !slices.Equal(got, []string{"huge"}) {
				t.Errorf("%v: %v", f, got)
			}
		}
		if _, err := posts.Where(airnest.Contains("scores", math.NaN())).Find(bg); !errors.Is(err, airnest.ErrInvalid) {
			t.Errorf("Contains NaN: %v, want ErrInvalid", err)
		}
		rep, err := s.Verify(bg)
		if err != nil || !rep.OK() {
			t.Fatalf("Verify: %v\n%s", err, rep)
		}
	})
}

// membershipPlan is what Explain shows for Contains: the side table read
// through its primary key on elem, then each match by id (PostgreSQL
// reads a table this small whole instead, by its cost estimates).
var membershipPlan = map[string][]string{
	"sqlite":   {"SEARCH Post USING PRIMARY KEY (id=?)", "SEARCH Post__tags__elems USING PRIMARY KEY (elem=?)"},
	"postgres": {`Index Scan on "Post__tags__elems_pkey"`, `Index Cond: (elem = `},
}

// TestSliceBackfillAndExplain adds a slice index to stored values: Open
// fills the side table from the blobs; the membership query reads it
// through its index; Verify finds a side table edited behind airnest's back.
func TestSliceBackfillAndExplain(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, posts := openPosts(t, dsn)
		for i := range 600 { // more than a back-fill page
			p := Post{Title: "p", Tags: []string{"all", string(rune('a' + i%26))}}
			if i%100 == 0 {
				p.Tags = nil
			}
			if err := posts.Save(bg, &p); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		s, posts = openPosts(t, dsn, airnest.Index("tags"))
		for _, tc := range []struct {
			f    airnest.Filter
			want int
		}{
			{airnest.Contains("tags", "all"), 594},
			{airnest.ContainsAll("tags", "all", "a"), 600/26 + 1 - 1}, // i%26 == 0, less i == 0
			{airnest.IsEmpty("tags"), 6},
		} {
			if n, err := posts.Where(tc.f).Count(bg); err != nil || n != tc.want {
				t.Errorf("back-filled %v: %d, %v; want %d", tc.f, n, err, tc.want)
			}
		}
		db, err := s.DB()
		if err != nil {
			t.Fatal(err)
		}
		if backendOf(dsn) == "postgres" {
			if _, err := db.Exec("ANALYZE"); err != nil { // plans follow statistics
				t.Fatal(err)
			}
		}
		plan, err := posts.Where(airnest.Contains("tags", "b")).Explain(bg)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range membershipPlan[backendOf(dsn)] {
			if !strings.Contains(strings.ReplaceAll(plan, "Bitmap Index Scan", "Index Scan"), want) {
				t.Errorf("plan of Contains lacks %q:\n%s", want, plan)
			}
		}
		rep, err := s.Verify(bg)
		if err != nil || !rep.OK() {
			t.Fatalf("Verify: %v\n%s", err, rep)
		}
		if _, err := db.Exec(`DELETE FROM "Post__tags__elems" WHERE elem = 'c'`); err != nil {
			t.Fatal(err)
		}
		rep, err = s.Verify(bg)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Problems) != 23 || !strings.Contains(rep.Problems[0].Detail, `side table Post__tags__elems holds elements ["all"], the value's field Tags gives ["all", "c"]`) {
			t.Errorf("Verify after deleting elements: %d problems\n%s", len(rep.Problems), rep)
		}
	})
}

// TestSliceKeptByAnotherVersion: a version of the program that does not
// declare the slice and nested indexes keeps them current on the values it
// saves, as it does a kept column.
func TestSliceKeptByAnotherVersion(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, _ := openPosts(t, dsn, airnest.Index("tags", "info.refs"))
		s.Close()
		s, posts := openPosts(t, dsn) // the other version
		p := Post{Title: "old", Tags: []string{"kept"}, Info: &PostInfo{Refs: []int64{4}}}
		if err := posts.Save(bg, &p); err != nil {
			t.Fatal(err)
		}
		if _, err := posts.Update(bg, p.ID, func(p *Post) error { p.Tags = append(p.Tags, "too"); return nil }); err != nil {
			t.Fatal(err)
		}
		s.Close()
		s, posts = openPosts(t, dsn, airnest.Index("tags", "info.refs"))
		for _, f := range []airnest.Filter{airnest.ContainsAll("tags", "kept", "too"), airnest.Contains("info.refs", 4)} {
			if got := titles(t, posts.Where(f)); !slices.Equal(got, []string{"old"}) {
				t.Errorf("%v after a save by the other version: %v", f, got)
			}
		}
		rep, err := s.Verify(bg)
		if err != nil || !rep.OK() {
			t.Fatalf("Verify: %v\n%s", err, rep)
		}
	})
}
