package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/airnest/airnest"
	"github.com/airnest/airnest/internal/lstables"
)

// A file replicated by Litestream holds its _litestream_seq and
// _litestream_lock tables. ls lists only the collections, verify is clean,
// and export writes the collections alone: an import of it is a plain
// airnest file again.
func TestLitestreamTablesAreIgnored(t *testing.T) {
	bin := airnestBin(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "app.db")
	seed(t, db, 20)
	s, err := airnest.Open(t.Context(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, err := s.DB()
	if err != nil {
		t.Fatal(err)
	}
	if err := lstables.Add(sqlDB); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	r := want(t, bin, 0, []string{"Job", "User"}, "ls", db)
	if strings.Contains(r.stdout, "litestream") {
		t.Errorf("ls lists Litestream's tables:\n%s", r.stdout)
	}
	want(t, bin, 0, []string{"ok"}, "verify", db)

	ex := filepath.Join(dir, "ex")
	r = want(t, bin, 0, []string{"exported Job: 20 values", "exported User: 2 values"}, "export", db, ex)
	if strings.Contains(r.stdout, "litestream") {
		t.Errorf("export mentions Litestream's tables:\n%s", r.stdout)
	}
	ents, err := os.ReadDir(ex)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{"Job.ndjson", "User.ndjson", "_meta.json"}; !slices.Equal(names, want) {
		t.Errorf("export wrote %v, want %v", names, want)
	}
	if meta, _ := os.ReadFile(filepath.Join(ex, "_meta.json")); strings.Contains(string(meta), "litestream") {
		t.Errorf("_meta.json mentions Litestream's tables:\n%s", meta)
	}
	imported := filepath.Join(dir, "imported.db")
	want(t, bin, 0, []string{"ok: 2 collections, 22 values"}, "import", imported, ex)
	s, err = airnest.Open(t.Context(), imported, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if sqlDB, err = s.DB(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := sqlDB.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name LIKE '\_litestream%' ESCAPE '\'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("the imported file has %d Litestream tables (%v)", n, err)
	}
}
