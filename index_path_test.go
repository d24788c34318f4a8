package airnest_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/airnest/airnest"
)

// Doc is a value with nested structs, one behind a pointer.
type Doc struct {
	ID    airnest.ID[Doc]
	Meta  DocMeta
	Owner *DocOwner
	// MetaRank clashes with "meta.rank" only if both map to one column.
	MetaRank int
}

type DocMeta struct {
	Rank  int
	Title string
}

type DocOwner struct {
	Name string
	Team *DocTeam
}

type DocTeam struct{ Code int }

// openColl opens a store at dsn with one collection of T, closed when the
// test ends (if not before).
func openColl[T any](t *testing.T, dsn string, opts ...airnest.Option) (*airnest.Store, *airnest.Coll[T]) {
	t.Helper()
	s := airnest.NewStore()
	c := airnest.Collection[T](s, opts...)
	if err := s.Open(bg, dsn, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, c
}

// found runs q and names each value it finds.
func found[T any](t *testing.T, q *airnest.Query[T], name func(T) string) []string {
	t.Helper()
	vs, err := q.Find(bg)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, v := range vs {
		out = append(out, name(v))
	}
	return out
}

func openDocs(t *testing.T, dsn string, opts ...airnest.Option) (*airnest.Store, *airnest.Coll[Doc]) {
	t.Helper()
	return openColl[Doc](t, dsn, opts...)
}

func docIDs(t *testing.T, q *airnest.Query[Doc]) []string {
	t.Helper()
	return found(t, q, func(d Doc) string { return d.Meta.Title })
}

func TestNestedFieldIndex(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, docs := openDocs(t, dsn, airnest.Index("meta.rank", "owner.name", "owner.team.code"))
		vals := []Doc{
			{Meta: DocMeta{Rank: 3, Title: "a"}, Owner: &DocOwner{Name: "ann", Team: &DocTeam{Code: 7}}},
			{Meta: DocMeta{Rank: 1, Title: "b"}, Owner: &DocOwner{Name: "bob"}},
			{Meta: DocMeta{Rank: 2, Title: "c"}},
			{Meta: DocMeta{Rank: 2, Title: "d"}, Owner: &DocOwner{Name: "ann", Team: &DocTeam{Code: 9}}},
		}
		for i := range vals {
			if err := docs.Save(bg, &vals[i]); err != nil {
				t.Fatal(err)
			}
		}
		// Any case, underscores ignored, in every part of the path.
		if got := docIDs(t, docs.Where(airnest.Eq("Meta.RANK", 2)).OrderBy("meta.rank")); !slices.Equal(got, []string{"c", "d"}) {
			t.Errorf("Eq meta.rank 2: %v", got)
		}
		if got := docIDs(t, docs.Where(airnest.Eq("owner.name", "ann")).OrderByDesc("Owner.Team.Code")); !slices.Equal(got, []string{"d", "a"}) {
			t.Errorf("Eq owner.name ann by team code desc: %v", got)
		}
		// A nil pointer anywhere on the path is NULL.
		if got := docIDs(t, docs.Where(airnest.IsNull("owner.team.code"))); !slices.Equal(got, []string{"b", "c"}) {
			t.Errorf("IsNull owner.team.code: %v", got)
		}
		if got := docIDs(t, docs.Where(airnest.Eq("owner.name", nil))); !slices.Equal(got, []string{"c"}) {
			t.Errorf("Eq owner.name nil: %v", got)
		}
		if got := docIDs(t, docs.Where(airnest.Not(airnest.Lt("owner.team.code", 8)))); !slices.Equal(got, []string{"b", "c", "d"}) {
			t.Errorf("Not Lt owner.team.code 8: %v", got)
		}
		// A float that is exactly an integer is an integer's value.
		if got := docIDs(t, docs.Where(airnest.In("meta.rank", 1.0, 3.0))); !slices.Equal(got, []string{"a", "b"}) {
			t.Errorf("In meta.rank 1.0, 3.0: %v", got)
		}
		_, err := docs.Where(airnest.Eq("meta.rank", 2.5)).Find(bg)
		if !errors.Is(err, airnest.ErrInvalid) || !strings.Contains(err.Error(), "Doc") || !strings.Contains(err.Error(), "meta.rank") || !strings.Contains(err.Error(), "2.5") {
			t.Errorf("Eq meta.rank 2.5: %v", err)
		}
		// Paging with After cursors over a nested key with NULLs.
		q := docs.Where().OrderBy("owner.team.code").Limit(1)
		var paged []string
		cursor := ""
		for {
			page, next, err := q.After(cursor).Page(bg)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range page {
				paged = append(paged, v.Meta.Title)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if !slices.Equal(paged, []string{"b", "c", "a", "d"}) {
			t.Errorf("pages by owner.team.code: %v", paged)
		}
		plan, err := docs.Where(airnest.Eq("meta.rank", 2)).Explain(bg)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(plan, "Doc__meta__rank") {
			t.Errorf("plan of Eq meta.rank does not use its index:\n%s", plan)
		}
		rep, err := s.Verify(bg)
		if err != nil || !rep.OK() {
			t.Fatalf("Verify: %v\n%s", err, rep)
		}
		st, err := s.Stats(bg)
		if err != nil {
			t.Fatal(err)
		}
		var paths []string
		for _, c := range st.Collections[0].Columns {
			paths = append(paths, c.Name+"="+c.Path)
		}
		if want := []string{"meta__rank=meta.rank", "owner__name=owner.name", "owner__team__code=owner.team.code"}; !slices.Equal(paths, want) {
			t.Errorf("Stats columns: %v, want %v", paths, want)
		}
	})
}

// TestNestedFieldBackfill adds a nested index to stored values: Open fills
// it from the blobs, and Verify finds a column edited behind airnest's back.
func TestNestedFieldBackfill(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, docs := openDocs(t, dsn)
		for _, d := range []Doc{{Meta: DocMeta{Rank: 5, Title: "x"}}, {Meta: DocMeta{Rank: 6, Title: "y"}, Owner: &DocOwner{Name: "o"}}} {
			if err := docs.Save(bg, &d); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		s, docs = openDocs(t, dsn, airnest.Index("meta.rank", "owner.name"))
		if got := docIDs(t, docs.Where(airnest.Gte("meta.rank", 6))); !slices.Equal(got, []string{"y"}) {
			t.Errorf("back-filled meta.rank >= 6: %v", got)
		}
		if got := docIDs(t, docs.Where(airnest.IsNull("owner.name"))); !slices.Equal(got, []string{"x"}) {
			t.Errorf("back-filled owner.name IS NULL: %v", got)
		}
		db, err := s.DB()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`UPDATE "Doc" SET meta__rank = 99`); err != nil {
			t.Fatal(err)
		}
		rep, err := s.Verify(bg)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Problems) != 2 || rep.Problems[0].Column != "meta__rank" || !strings.Contains(rep.Problems[0].Detail, "Meta.Rank") {
			t.Errorf("Verify after editing meta__rank: %s", rep)
		}
	})
}

func TestNestedFieldDeclarationErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opt  airnest.Option
		want string
	}{
		{airnest.Index("meta.nope"), `field Meta (airnest_test.DocMeta) has no such field "nope"`},
		{airnest.Index("meta.rank.x"), `field Meta.Rank is a int, not a struct`},
		{airnest.Index("meta..rank"), `index "meta..rank"`},
		{airnest.Index("meta.rank", "meta__rank"), `would both be SQL column "meta__rank"`},
		{airnest.Index("Meta__Rank", "meta.rank"), `would both be SQL column`},
		{airnest.Index("meta.rank", "Meta.Rank"), `both name field Meta.Rank`},
	} {
		_, err := airnest.NewCollection[Doc](airnest.NewStore(), tc.opt)
		if !errors.Is(err, airnest.ErrInvalid) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `collection "Doc"`) {
			t.Errorf("got %v, want ErrInvalid with %q", err, tc.want)
		}
	}
}

// TestNestedFieldPlan: Eq on a nested column that can hold NULL (a
// pointer lies on its path) is served by the column's index on every
// backend (on PostgreSQL a plain =, not IS NOT DISTINCT FROM, which no
// index serves).
func TestNestedFieldPlan(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, docs := openDocs(t, dsn, airnest.Index("owner.name"))
		err := s.Tx(bg, func(tx *airnest.Tx) error {
			for i := range 3000 {
				d := Doc{Owner: &DocOwner{Name: strings.Repeat("n", i%300)}}
				if i%7 == 0 {
					d.Owner = nil
				}
				if err := docs.In(tx).Save(bg, &d); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		db, err := s.DB()
		if err != nil {
			t.Fatal(err)
		}
		if backendOf(dsn) == "postgres" {
			if _, err := db.Exec("ANALYZE"); err != nil {
				t.Fatal(err)
			}
		}
		q := docs.Where(airnest.Eq("owner.name", "nnn"))
		plan, err := q.Explain(bg)
		if err != nil || !strings.Contains(plan, "Doc__owner__name") {
			t.Errorf("Eq owner.name does not use its index: %v\n%s", err, plan)
		}
		if n, err := q.Count(bg); err != nil || n != 9 {
			t.Errorf("Eq owner.name: %d, %v; want 9", n, err)
		}
		if n, err := docs.Where(airnest.Not(airnest.Eq("owner.name", "nnn"))).Count(bg); err != nil || n != 2991 {
			t.Errorf("Not Eq owner.name (NULLs included): %d, %v; want 2991", n, err)
		}
	})
}
