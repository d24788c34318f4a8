package airnest_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/airnest/airnest"
	"github.com/airnest/airnest/internal/pgtest"
)

func sqliteDSN(t testing.TB) string { return filepath.Join(t.TempDir(), "store.db") }

// mustCopy copies src to dst and checks the report: every collection
// with its rows, and a clean verification.
func mustCopy(t testing.TB, src, dst string, opts *airnest.CopyOptions) airnest.CopyReport {
	t.Helper()
	rep, err := airnest.Copy(bg, src, dst, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []airnest.CopiedCollection{{Name: "CopyItem", Rows: copyItems + copyV1Items}, {Name: "Note", Rows: 10}, {Name: "Task", Rows: copyTasks}}
	if len(rep.Collections) != len(want) {
		t.Fatalf("copied %+v, want %+v", rep.Collections, want)
	}
	for i := range want {
		if rep.Collections[i] != want[i] {
			t.Fatalf("copied %+v, want %+v", rep.Collections, want)
		}
	}
	if !rep.Verify.OK() || len(rep.Verify.Collections) != 3 {
		t.Fatalf("verification: %s", rep.Verify)
	}
	return rep
}

// Every pair of backends: the copy reads, queries and enforces like the
// original, and carries the migrations' state.
func TestCopyBetweenBackends(t *testing.T) {
	pairs := []struct {
		name     string
		src, dst func(testing.TB) string
	}{
		{"sqlite-to-postgres", sqliteDSN, pgtest.Database},
		{"postgres-to-sqlite", pgtest.Database, sqliteDSN},
		{"postgres-to-postgres", pgtest.Database, pgtest.Database},
		{"sqlite-to-sqlite", sqliteDSN, sqliteDSN},
	}
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			src, dst := p.src(t), p.dst(t)
			fillCopyStore(t, src)
			var calls, last, total int64
			mustCopy(t, src, dst, &airnest.CopyOptions{Progress: func(done, tot int64) {
				if done < last {
					t.Errorf("progress went back from %d to %d", last, done)
				}
				calls, last, total = calls+1, done, tot
			}})
			if want := int64(copyItems + copyV1Items + 10 + copyTasks); last != want || total != want || calls < 3 {
				t.Fatalf("progress ended at %d of %d after %d calls, want %d", last, total, calls, want)
			}
			for _, table := range []string{"CopyItem", "CopyItem__tags__elems", "Note", "Task"} {
				sc, si := shapeOf(t, src, table)
				dc, di := shapeOf(t, dst, table)
				if !slices.Equal(sc, dc) || !slices.Equal(si, di) || len(si) != 9 && table == "CopyItem" || len(sc) != 2 && table == "CopyItem__tags__elems" {
					t.Fatalf("table %s: columns %v and indexes %v in the copy; %v and %v in the original", table, dc, di, sc, si)
				}
			}
			sameContents(t, readCopyStore(t, dst), readCopyStore(t, src))
		})
	}
}

// shapeOf returns the sorted columns and indexes of a table, read without
// declaring its collection (which would make missing indexes).
func shapeOf(t testing.TB, dsn, table string) (cols, indexes []string) {
	t.Helper()
	db, done := undeclared(t, dsn)
	defer done()
	cols, indexes = tableShape(t, db, dsn, table)
	slices.Sort(cols)
	slices.Sort(indexes)
	return cols, indexes
}

// The key test: SQLite to PostgreSQL and back gives a file that 'airnest
// export' writes out byte for byte as it does the original.
func TestCopyRoundTripExportsIdentically(t *testing.T) {
	a, pg, b := sqliteDSN(t), pgtest.Database(t), sqliteDSN(t)
	fillCopyStore(t, a)
	mustCopy(t, a, pg, nil)
	mustCopy(t, pg, b, nil)
	bin := buildCommand(t)
	ea, eb := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	for _, x := range [][2]string{{a, ea}, {b, eb}} {
		if out, err := exec.Command(bin, "export", x[0], x[1]).CombinedOutput(); err != nil {
			t.Fatalf("airnest export %s: %v\n%s", x[0], err, out)
		}
	}
	fa, fb := readTree(t, ea), readTree(t, eb)
	if len(fa) != 4 { // _meta.json and three collections
		t.Fatalf("the export of the original holds %d files", len(fa))
	}
	for name, want := range fa {
		if got, ok := fb[name]; !ok || !bytes.Equal(got, want) {
			t.Fatalf("export file %s differs after the round trip (%d bytes, want %d)", name, len(got), len(want))
		}
	}
	if len(fb) != len(fa) {
		t.Fatalf("the round trip's export holds %d files, the original's %d", len(fb), len(fa))
	}
	meta := string(fa["_meta.json"])
	for _, s := range []string{`"split notes"`, `"split tags"`, `"finished": null`, `"Legacy"`} {
		if !strings.Contains(meta, s) {
			t.Fatalf("the export's _meta.json lacks %s: the fixture is wrong\n%s", s, meta)
		}
	}
	sameContents(t, readCopyStore(t, b), readCopyStore(t, a))
}

// buildCommand builds cmd/airnest into a temporary directory.
func buildCommand(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "airnest")
	if out, err := exec.Command("go", "build", "-o", path, "./cmd/airnest").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/airnest: %v\n%s", err, out)
	}
	return path
}

// readTree returns the contents of every file in dir by name.
func readTree(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

// A copy of a file from which most rows were deleted is smaller.
func TestCopyCompactsAFile(t *testing.T) {
	src, dst := sqliteDSN(t), sqliteDSN(t)
	fillCopyStore(t, src)
	s := airnest.NewStore()
	items := declareCopyItem(s)
	if err := s.Open(bg, src, nil); err != nil {
		t.Fatal(err)
	}
	all, err := items.Scan(bg)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range all[:len(all)-100] {
		if err := items.Delete(bg, it.ID); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	rep, err := airnest.Copy(bg, src, dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Collections[0].Rows != 100 {
		t.Fatalf("copied %+v", rep.Collections)
	}
	before, after := fileSize(src), fileSize(dst)
	if after*2 > before {
		t.Fatalf("the copy has %d bytes, the original %d: not compacted", after, before)
	}
	if fi, _ := os.Stat(dst); fi.Mode().Perm() != 0o644 {
		t.Fatalf("the copy's mode is %v, want what SQLite gives a new file (0644)", fi.Mode())
	}
}

// A destination that holds a store is refused, naming what it holds,
// unless Overwrite is given; one that holds tables of another program is
// refused either way.
func TestCopyRefusesAFullDestination(t *testing.T) {
	src := sqliteDSN(t)
	fillCopyStore(t, src)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dst := b.dsn(t)
			other := airnest.NewStore()
			airnest.Collection[Job](other)
			if err := other.Open(bg, dst, nil); err != nil {
				t.Fatal(err)
			}
			other.Close()
			_, err := airnest.Copy(bg, src, dst, nil)
			if !errors.Is(err, airnest.ErrInvalid) || !strings.Contains(err.Error(), "collections Job") || !strings.Contains(err.Error(), "Overwrite") {
				t.Fatalf("copy into a store: %v, want ErrInvalid naming its collections", err)
			}
			mustCopy(t, src, dst, &airnest.CopyOptions{Overwrite: true})
			sameContents(t, readCopyStore(t, dst), readCopyStore(t, anotherCopy(t, src, b.dsn(t))))
			if tables := storeTables(t, dst); strings.Contains(tables, "Job") {
				t.Fatalf("the replaced store's table is still there: %s", tables)
			}

			foreign := b.dsn(t)
			s, err := airnest.Open(bg, foreign, nil)
			if err != nil {
				t.Fatal(err)
			}
			db, _ := s.DB()
			if _, err := db.Exec("CREATE TABLE theirs (x INTEGER)"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec("DROP TABLE _airnest_keys"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec("DROP TABLE _airnest_collections"); err != nil {
				t.Fatal(err)
			}
			s.Close()
			_, err = airnest.Copy(bg, src, foreign, &airnest.CopyOptions{Overwrite: true})
			if !errors.Is(err, airnest.ErrInvalid) || !strings.Contains(err.Error(), "theirs") {
				t.Fatalf("copy over another program's table: %v, want ErrInvalid naming it", err)
			}
		})
	}
}

// anotherCopy copies src to dst and returns dst, for a second reference
// store (reading one runs its unfinished migration to the end).
func anotherCopy(t testing.TB, src, dst string) string {
	t.Helper()
	mustCopy(t, src, dst, nil)
	return dst
}

// undeclared opens the store at dsn with no collection declared and
// returns its database/sql handle, and what closes it.
func undeclared(t testing.TB, dsn string) (*sql.DB, func()) {
	t.Helper()
	s, err := airnest.Open(bg, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	db, err := s.DB()
	if err != nil {
		t.Fatal(err)
	}
	return db, func() { s.Close() }
}

// storeTables lists the tables of the store at dsn, as Stats' neighbours
// see them: through the database/sql handle.
func storeTables(t testing.TB, dsn string) string {
	t.Helper()
	db, done := undeclared(t, dsn)
	defer done()
	q := `SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`
	if backendOf(dsn) == "postgres" {
		q = `SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1`
	}
	return strings.Join(queryStrings(t, db, q), " ")
}

// Cancelled half way, Copy leaves the destination as it was: no file, the
// old file, an empty database, the old store.
func TestCopyCancelledLeavesTheDestination(t *testing.T) {
	src := sqliteDSN(t)
	fillCopyStore(t, src)
	cancelled := func(t *testing.T, dst string, overwrite bool) {
		ctx, cancel := context.WithCancel(bg)
		defer cancel()
		_, err := airnest.Copy(ctx, src, dst, &airnest.CopyOptions{Overwrite: overwrite, Progress: func(done, _ int64) {
			if done > 0 {
				cancel()
			}
		}})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled copy returned %v", err)
		}
	}
	eachBackend(t, func(t *testing.T, dst string) {
		cancelled(t, dst, false)
		if backendOf(dst) == "sqlite" {
			if entries, _ := os.ReadDir(filepath.Dir(dst)); len(entries) != 0 {
				t.Fatalf("a cancelled copy left %v", entries)
			}
		} else if tables := storeTables(t, dst); tables != "_airnest_collections _airnest_format _airnest_keys" {
			t.Fatalf("a cancelled copy into an empty database left %q", tables)
		}

		// Over an older store, with Overwrite: the old store stays whole.
		old := airnest.NewStore()
		jobs := airnest.Collection[Job](old)
		if err := old.Open(bg, dst, nil); err != nil {
			t.Fatal(err)
		}
		j := Job{Status: "kept"}
		if err := jobs.Save(bg, &j); err != nil {
			t.Fatal(err)
		}
		old.Close()
		cancelled(t, dst, true)
		if err := old.Open(bg, dst, nil); err != nil {
			t.Fatal(err)
		}
		defer old.Close()
		if got, err := jobs.Load(bg, j.ID); err != nil || got.Status != "kept" {
			t.Fatalf("the old store after a cancelled copy: %+v, %v", got, err)
		}
		if tables := storeTables(t, dst); strings.Contains(tables, "CopyItem") {
			t.Fatalf("a cancelled copy left tables: %s", tables)
		}
	})
}

// A source that is not an airnest store is refused, and nothing is made
// where it was looked for.
func TestCopyRefusesASourceThatIsNotAStore(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("hello, not a database at all, but long enough to look like one"), 0o644)
	for _, src := range []string{missing, text, pgtest.Database(t)} {
		dst := filepath.Join(t.TempDir(), "copy.db")
		_, err := airnest.Copy(bg, src, dst, nil)
		if err == nil {
			t.Fatalf("copied from %s", src)
		}
		if strings.HasPrefix(src, "postgres") && !errors.Is(err, airnest.ErrInvalid) {
			t.Fatalf("copy from an empty database: %v, want ErrInvalid", err)
		}
		if _, serr := os.Stat(dst); serr == nil {
			t.Fatalf("copy from %s (%v) made %s", src, err, dst)
		}
		t.Logf("%s: %v", src, err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("copy made the missing source")
	}
	if b, _ := os.ReadFile(text); !strings.HasPrefix(string(b), "hello, not a database") {
		t.Fatalf("copy changed the file it was given as a source: %q", b)
	}
}

// A table named like airnest's that Copy does not know stops it; tables of
// one's own are left out and named.
func TestCopyTablesItDoesNotKnow(t *testing.T) {
	eachBackend(t, func(t *testing.T, src string) {
		s := airnest.NewStore()
		jobs := airnest.Collection[Job](s)
		if err := s.Open(bg, src, nil); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := jobs.Save(bg, &Job{Status: "x"}); err != nil {
			t.Fatal(err)
		}
		db, _ := s.DB()
		if _, err := db.Exec("CREATE TABLE mine (x INTEGER)"); err != nil {
			t.Fatal(err)
		}
		rep, err := airnest.Copy(bg, src, anotherStore(t, src), nil)
		if err != nil || len(rep.Skipped) != 1 || rep.Skipped[0] != "mine" || rep.Collections[0].Rows != 1 {
			t.Fatalf("copy with a table of one's own: %+v, %v", rep, err)
		}
		if _, err := db.Exec("CREATE TABLE _airnest_future (x INTEGER)"); err != nil {
			t.Fatal(err)
		}
		_, err = airnest.Copy(bg, src, anotherStore(t, src), nil)
		if !errors.Is(err, airnest.ErrSchema) || !strings.Contains(err.Error(), `"_airnest_future"`) {
			t.Fatalf("copy with an unknown airnest table: %v, want ErrSchema naming it", err)
		}
	})
}

// A password in either URL never appears in Copy's errors.
func TestCopyErrorsHidePasswords(t *testing.T) {
	src := sqliteDSN(t)
	fillCopyStore(t, src)
	bad := "postgres://ann:s3cret-pw@127.0.0.1:1/db?connect_timeout=2&password=s3cret-pw"
	for _, pair := range [][2]string{{src, bad}, {bad, sqliteDSN(t)}} {
		_, err := airnest.Copy(bg, pair[0], pair[1], nil)
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("copy %s: %v", pair, err)
		}
	}
}

// A copy that fails verification (the source's index column disagrees
// with its value) is an error and leaves no destination.
func TestCopyFailedVerificationLeavesNothing(t *testing.T) {
	src := sqliteDSN(t)
	s := airnest.NewStore()
	items := declareCopyItem(s)
	if err := s.Open(bg, src, nil); err != nil {
		t.Fatal(err)
	}
	if err := items.Save(bg, &CopyItem{Name: "a", Count: 1}); err != nil {
		t.Fatal(err)
	}
	db, _ := s.DB()
	if _, err := db.Exec(`UPDATE "CopyItem" SET count = 2`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	eachBackend(t, func(t *testing.T, dst string) {
		rep, err := airnest.Copy(bg, src, dst, nil)
		if !errors.Is(err, airnest.ErrSchema) || !strings.Contains(err.Error(), `column "count"`) || rep.Verify.OK() {
			t.Fatalf("copy of a damaged store: %v (%s), want ErrSchema naming the column", err, rep.Verify)
		}
		if backendOf(dst) == "sqlite" {
			if entries, _ := os.ReadDir(filepath.Dir(dst)); len(entries) != 0 {
				t.Fatalf("a failed copy left %v", entries)
			}
		} else if tables := storeTables(t, dst); tables != "_airnest_collections _airnest_format _airnest_keys" {
			t.Fatalf("a failed copy left %q", tables)
		}
	})
}

// A logged collection is copied without its change log: the copy's log
// starts when a program opens it with ChangeLog, and a watch of the copy
// from its beginning sees only what was written there.
func TestCopyLeavesTheChangeLog(t *testing.T) {
	eachBackend(t, func(t *testing.T, src string) {
		open := func(dsn string) (*airnest.Store, *airnest.Coll[Job]) {
			s := airnest.NewStore()
			jobs := airnest.Collection[Job](s, airnest.ChangeLog(airnest.Retention{}))
			if err := s.Open(bg, dsn, nil); err != nil {
				t.Fatal(err)
			}
			return s, jobs
		}
		s, jobs := open(src)
		for i := range 5 {
			if err := jobs.Save(bg, &Job{Status: strconv.Itoa(i)}); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		dst := anotherStore(t, src)
		rep, err := airnest.Copy(bg, src, dst, nil)
		if err != nil || len(rep.Collections) != 1 || rep.Collections[0].Rows != 5 || len(rep.Skipped) != 0 {
			t.Fatalf("copy of a logged store: %+v, %v", rep, err)
		}
		s2, jobs2 := open(dst)
		defer s2.Close()
		fresh := Job{Status: "written in the copy"}
		if err := jobs2.Save(bg, &fresh); err != nil {
			t.Fatal(err)
		}
		if n, err := jobs2.Count(bg); n != 6 || err != nil {
			t.Fatalf("the copy counts %d, %v; want 6", n, err)
		}
		for ch, err := range jobs2.Watch(bg, &airnest.WatchOptions{Resume: true}) {
			if err != nil {
				t.Fatal(err)
			}
			if ch.ID != fresh.ID || ch.Op != airnest.Saved {
				t.Fatalf("the copy's log starts with %+v, want the save made in the copy", ch)
			}
			break
		}
	})
}
