package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airnest/airnest"
)

// Article has index columns the command knows only from the bookkeeping:
// a nested path, a slice (with its side table) and a computed column.
type Article struct {
	ID   airnest.ID[Article]
	Tags []string
	Meta struct{ Rank int }
}

func declareArticles(s *airnest.Store) *airnest.Coll[Article] {
	return airnest.Collection[Article](s, airnest.Index("tags", "meta.rank"),
		airnest.IndexFunc("ntags", func(a *Article) int { return len(a.Tags) }))
}

// TestExportImportCarriesElems exports a file with a slice index and
// imports it: the side table travels with the values, the imported file
// passes verify, and the program's membership queries find the same values.
func TestExportImportCarriesElems(t *testing.T) {
	t.Parallel()
	bin := airnestBin(t)
	dir := t.TempDir()
	db, restored, ex := filepath.Join(dir, "a.db"), filepath.Join(dir, "r.db"), filepath.Join(dir, "ex")
	ctx := context.Background()
	s := airnest.NewStore()
	arts := declareArticles(s)
	if err := s.Open(ctx, db, nil); err != nil {
		t.Fatal(err)
	}
	for _, tags := range [][]string{{"go", "db", "go"}, nil, {"db"}} {
		a := Article{Tags: tags}
		a.Meta.Rank = len(tags)
		if err := arts.Save(ctx, &a); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	want(t, bin, 0, []string{"exported Article: 3 values"}, "export", db, ex)
	b, err := os.ReadFile(filepath.Join(ex, "Article.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"elems":{"tags":["db","go"]}`) {
		t.Fatalf("export lacks the side table's rows:\n%s", b)
	}
	meta, err := os.ReadFile(filepath.Join(ex, "_meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	compact := strings.Join(strings.Fields(string(meta)), "")
	for _, w := range []string{`"Elems":{"Table":"Article__tags__elems","Type":"TEXT"}`, `"Path":"meta.rank"`, `"Func":true`} {
		if !strings.Contains(compact, w) {
			t.Errorf("_meta.json lacks %s:\n%s", w, meta)
		}
	}
	want(t, bin, 0, []string{"imported Article: 3 values", "ok: 1 collections"}, "import", restored, ex)

	s = airnest.NewStore()
	arts = declareArticles(s)
	if err := s.Open(ctx, restored, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for f, n := range map[*airnest.Filter]int{ptrF(airnest.Contains("tags", "db")): 2, ptrF(airnest.ContainsAll("tags", "go", "db")): 1, ptrF(airnest.IsEmpty("tags")): 1} {
		if got, err := arts.Where(*f).Count(ctx); err != nil || got != n {
			t.Errorf("imported file: %v: %d, %v; want %d", *f, got, err, n)
		}
	}
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("Verify of the imported file: %v\n%s", err, rep)
	}
}

func ptrF(f airnest.Filter) *airnest.Filter { return &f }
