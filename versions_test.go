package airnest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airnest/airnest"
)

// Three releases of one program's type, stored as collection F.
// FOld indexes name and model; FNew indexes only name but still has Model;
// FGone no longer has Model at all.
type FOld struct {
	ID    airnest.ID[FOld]
	Name  string
	Model string
}

type FNew struct {
	ID    airnest.ID[FNew]
	Name  string
	Model string
	Size  int
}

type FGone struct {
	ID   airnest.ID[FGone]
	Name string
}

func openOld(t *testing.T, dsn string) (*airnest.Store, *airnest.Coll[FOld]) {
	t.Helper()
	s := airnest.NewStore()
	c := airnest.Collection[FOld](s, airnest.Name("F"), airnest.Index("name", "model"))
	if err := s.Open(bg, dsn, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, c
}

func openNew(t *testing.T, dsn string) (*airnest.Store, *airnest.Coll[FNew]) {
	t.Helper()
	s := airnest.NewStore()
	c := airnest.Collection[FNew](s, airnest.Name("F"), airnest.Index("name"))
	if err := s.Open(bg, dsn, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, c
}

func saveF[T any](t *testing.T, c *airnest.Coll[T], vs ...T) {
	t.Helper()
	for i := range vs {
		if err := c.Save(bg, &vs[i]); err != nil {
			t.Fatal(err)
		}
	}
}

// countModel counts the values the old release finds by its model index.
func countModel(t *testing.T, c *airnest.Coll[FOld], model string) int {
	t.Helper()
	n, err := c.Where(airnest.Eq("model", model)).Count(bg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func verifyOK(t *testing.T, s *airnest.Store) {
	t.Helper()
	rep, err := s.Verify(bg)
	if err != nil || !rep.OK() {
		t.Fatalf("Verify: %v\n%s", err, rep)
	}
}

// The old release runs; the new one, declaring fewer indexes, opens the
// same file. Neither breaks the other and the old one's index stays
// current with what the new one writes.
func TestTwoVersionsOldFirst(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		sOld, old := openOld(t, dsn)
		saveF(t, old, FOld{Name: "a", Model: "m1"})
		sNew, nw := openNew(t, dsn)
		saveF(t, nw, FNew{Name: "b", Model: "m2", Size: 3})
		saveF(t, old, FOld{Name: "c", Model: "m2"})
		if n := countModel(t, old, "m2"); n != 2 {
			t.Fatalf("the old release finds %d values with model m2, want 2", n)
		}
		verifyOK(t, sOld)
		verifyOK(t, sNew)
	})
}

// The new release made the file; the old one opens it (adding the model
// column and back-filling it); the new one keeps writing.
func TestTwoVersionsNewFirst(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		_, nw := openNew(t, dsn)
		saveF(t, nw, FNew{Name: "a", Model: "m1"}, FNew{Name: "b", Model: "m2"})
		sOld, old := openOld(t, dsn)
		if n := countModel(t, old, "m2"); n != 1 {
			t.Fatalf("back-fill: %d values with model m2, want 1", n)
		}
		// The new release planned its writes before the column existed.
		upd := FNew{Name: "c", Model: "m2"}
		if err := nw.Save(bg, &upd); err != nil {
			t.Fatal(err)
		}
		if _, err := nw.Update(bg, upd.ID, func(v *FNew) error { v.Model = "m3"; return nil }); err != nil {
			t.Fatal(err)
		}
		saveF(t, old, FOld{Name: "d", Model: "m3"})
		if n, m := countModel(t, old, "m2"), countModel(t, old, "m3"); n != 1 || m != 2 {
			t.Fatalf("the old release finds %d with m2 and %d with m3, want 1 and 2", n, m)
		}
		verifyOK(t, sOld)
	})
}

// A release whose type lost the field cannot keep the column current: it
// must drop it explicitly, and the release that still declares it gets a
// clear error, then rebuilds the column when it opens again.
func TestTwoVersionsExplicitDrop(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		sOld, old := openOld(t, dsn)
		saveF(t, old, FOld{Name: "a", Model: "m1"})

		s := airnest.NewStore()
		airnest.Collection[FGone](s, airnest.Name("F"), airnest.Index("name"))
		mustErr(t, "Open without the field", s.Open(bg, dsn, nil), airnest.ErrSchema, `"model"`, `airnest.DropIndex("model")`)

		s = airnest.NewStore()
		gone := airnest.Collection[FGone](s, airnest.Name("F"), airnest.Index("name"), airnest.DropIndex("model"))
		if err := s.Open(bg, dsn, nil); err != nil {
			t.Fatalf("Open with DropIndex: %v", err)
		}
		defer s.Close()
		saveF(t, gone, FGone{Name: "b"})

		err := old.Save(bg, &FOld{Name: "c", Model: "m1"})
		mustErr(t, "old release after the drop", err, airnest.ErrSchema, `"model"`, "dropped by another program")
		if strings.Contains(err.Error(), "no column named") || strings.Contains(err.Error(), "SQLSTATE") {
			t.Fatalf("raw database error: %v", err)
		}
		sOld.Close()
		if err := sOld.Open(bg, dsn, nil); err != nil {
			t.Fatalf("the old release opening again: %v", err)
		}
		saveF(t, old, FOld{Name: "c", Model: "m1"})
		if n := countModel(t, old, "m1"); n != 2 {
			t.Fatalf("after the rebuild: %d values with model m1, want 2", n)
		}
		if n := countModel(t, old, ""); n != 1 {
			t.Fatalf("after the rebuild: %d values with no model, want 1 (the one saved without the field)", n)
		}
	})
}

// A retyped index column is an incompatible change for a release still
// running: refused unless dropped explicitly, then rebuilt.
func TestRetypedIndexNeedsDropIndex(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		type R1 struct {
			ID   airnest.ID[R1]
			Size string
		}
		type R2 struct {
			ID   airnest.ID[R2]
			Size int
		}
		s1 := airnest.NewStore()
		airnest.Collection[R1](s1, airnest.Name("R"), airnest.Index("size"))
		if err := s1.Open(bg, dsn, nil); err != nil {
			t.Fatal(err)
		}
		s1.Close()
		s2 := airnest.NewStore()
		airnest.Collection[R2](s2, airnest.Name("R"), airnest.Index("size"))
		mustErr(t, "retyped", s2.Open(bg, dsn, nil), airnest.ErrSchema, "TEXT", "INTEGER", `DropIndex("size")`)
		s3 := airnest.NewStore()
		airnest.Collection[R2](s3, airnest.Name("R"), airnest.Index("size"), airnest.DropIndex("size"))
		if err := s3.Open(bg, dsn, nil); err != nil {
			t.Fatalf("retyped with DropIndex: %v", err)
		}
		s3.Close()
	})
}

// versionsChild is the second program of TestTwoVersionsTwoProcesses
// (dispatched from TestMain): the old release, opening a file the parent
// (new release) has open.
func versionsChild(path string) error {
	s := airnest.NewStore()
	defer s.Close()
	old := airnest.Collection[FOld](s, airnest.Name("F"), airnest.Index("name", "model"))
	if err := s.Open(bg, path, nil); err != nil {
		return err
	}
	for i := range 10 {
		if err := old.Save(bg, &FOld{Name: fmt.Sprint("child ", i), Model: "child"}); err != nil {
			return err
		}
	}
	return nil
}

// SQLite only: two processes sharing one file and its locks.
func TestTwoVersionsTwoProcesses(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "f.db")
	_, nw := openNew(t, path)
	saveF(t, nw, FNew{Name: "before", Model: "parent"})

	cmd := exec.Command(os.Args[0]) // TestMain runs versionsChild
	cmd.Env = append(os.Environ(), "AIRNEST_VERSIONS_HELPER="+path)
	if out, err := cmd.CombinedOutput(); err != nil {
		var ee *exec.ExitError
		errors.As(err, &ee)
		t.Fatalf("helper: %v\n%s", err, out)
	}
	// The child added and filled the model column while this store was
	// open; this store's writes must keep it current.
	saveF(t, nw, FNew{Name: "after", Model: "parent"})
	sOld, old := openOld(t, path)
	if n, m := countModel(t, old, "parent"), countModel(t, old, "child"); n != 2 || m != 10 {
		t.Fatalf("model parent %d, child %d; want 2 and 10", n, m)
	}
	verifyOK(t, sOld)
}

func ExampleDropIndex() {
	dir, _ := os.MkdirTemp("", "airnest-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "jobs.db")
	type Job struct {
		ID       airnest.ID[Job]
		Status   string
		Priority int
	}
	indexes := func(s *airnest.Store) []string {
		db, _ := s.DB()
		rows, _ := db.Query(`SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'Job' AND sql IS NOT NULL ORDER BY name`)
		defer rows.Close()
		var out []string
		for rows.Next() {
			var n string
			rows.Scan(&n)
			out = append(out, n)
		}
		return out
	}

	// Release 1.
	store := airnest.NewStore()
	airnest.Collection[Job](store, airnest.Index("status", "priority", "status,priority"))
	store.Open(context.Background(), path, nil)
	fmt.Println(indexes(store))
	store.Close()

	// Release 2 declares fewer indexes: the others stay, kept current.
	store = airnest.NewStore()
	airnest.Collection[Job](store, airnest.Index("status"))
	store.Open(context.Background(), path, nil)
	fmt.Println(indexes(store))
	store.Close()

	// Release 3, once no release 1 runs any more, drops them.
	store = airnest.NewStore()
	airnest.Collection[Job](store,
		airnest.Index("status"),
		airnest.DropIndex("priority", "status,priority"), // a column, and a composite index
	)
	store.Open(context.Background(), path, nil)
	fmt.Println(indexes(store))
	store.Close()
	// Output:
	// [Job__priority Job__status Job__status__priority]
	// [Job__priority Job__status Job__status__priority]
	// [Job__status]
}
