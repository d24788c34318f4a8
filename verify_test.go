package airnest_test

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airnest/airnest"
)

// VItem has an index column of every kind Verify recomputes.
type VItem struct {
	ID     airnest.ID[VItem]
	Status string
	Rank   int
	Score  float64
	Flag   bool
	At     time.Time
	Owner  *string
	Raw    []byte
	Ref    airnest.ID[Job]
	Level  Level // a named int with a String method: stays a number
	Label  Label // a Stringer struct: TEXT
	Notes  []string
}

func openVerifyStore(t *testing.T, dsn string) (*airnest.Store, *airnest.Coll[VItem], *airnest.Coll[Session]) {
	t.Helper()
	s := airnest.NewStore()
	items := airnest.Collection[VItem](s, airnest.Name("vitems"),
		airnest.Index("status", "rank", "score", "flag", "at", "owner", "raw", "ref", "level", "label", "status,rank"))
	sessions := airnest.Collection[Session](s, airnest.Unique("user"))
	if err := s.Open(bg, dsn, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, items, sessions
}

func saveVItems(t *testing.T, items *airnest.Coll[VItem], n int) []VItem {
	t.Helper()
	var out []VItem
	for i := range n {
		v := VItem{Status: []string{"a", "b", ""}[i%3], Rank: i - 5, Score: float64(i) / 3, Flag: i%2 == 0,
			Level: Level(i), Label: Label{"x", "y"}, Notes: []string{"n"}}
		switch i % 4 {
		case 0:
			v.At = time.Date(2026, 1, 2, 3, 4, 5, i, time.FixedZone("", 3600))
			v.Owner = ptr("ann")
			v.Raw = []byte{byte(i)}
			v.Ref = airnest.NewID[Job]()
		case 1:
			v.Score = math.NaN()
			v.Owner = ptr("")
		case 2:
			v.Score = math.Inf(-1)
		}
		if err := items.Save(bg, &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func TestVerifyCleanStore(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, items, sessions := openVerifyStore(t, dsn)
		saveVItems(t, items, 40)
		for _, u := range []string{"u1", "u2"} {
			if err := sessions.Save(bg, &Session{User: u}); err != nil {
				t.Fatal(err)
			}
		}
		rep, err := s.Verify(bg)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() {
			t.Fatalf("Verify of a clean store:\n%s", rep)
		}
		want := []airnest.VerifiedCollection{{Name: "Session", Rows: 2, Typed: true}, {Name: "vitems", Rows: 40, Typed: true}}
		if len(rep.Collections) != 2 || rep.Collections[0] != want[0] || rep.Collections[1] != want[1] {
			t.Fatalf("Collections = %+v, want %+v", rep.Collections, want)
		}
		if !strings.HasPrefix(rep.String(), "ok: 2 collections, 42 values") {
			t.Errorf("String() = %q", rep.String())
		}

		// Without Go types, while the store is open and after it is closed.
		for _, when := range []string{"open", "closed"} {
			if when == "closed" {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
			frep, err := airnest.VerifyFile(bg, dsn)
			if err != nil {
				t.Fatal(err)
			}
			if !frep.OK() || len(frep.Collections) != 2 || frep.Collections[1].Rows != 40 || frep.Collections[1].Typed {
				t.Fatalf("VerifyFile (store %s):\n%s%+v", when, frep, frep.Collections)
			}
		}
	})
}

// SQLite only: an in-memory store.
func TestVerifyInMemory(t *testing.T) {
	t.Parallel()
	s := airnest.NewStore()
	items := airnest.Collection[VItem](s, airnest.Index("status", "score"))
	if err := s.Open(bg, ":memory:", nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	saveVItems(t, items, 10)
	rep, err := s.Verify(bg)
	if err != nil || !rep.OK() || rep.Collections[0].Rows != 10 {
		t.Fatalf("Verify: %v\n%s", err, rep)
	}
}

// find returns the problems of one check.
func find(rep airnest.VerifyReport, check string) []airnest.Problem {
	var out []airnest.Problem
	for _, p := range rep.Problems {
		if p.Check == check {
			out = append(out, p)
		}
	}
	return out
}

// wrongType is a value of the wrong type for a bool's index column: text
// where SQLite keeps any type, a number other than 0 and 1 in PostgreSQL's
// typed column.
var wrongType = map[string]any{"sqlite": "yes", "postgres": int64(7)}

func TestVerifyReportsCorruption(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, items, _ := openVerifyStore(t, dsn)
		vs := saveVItems(t, items, 12)
		db, err := s.DB()
		if err != nil {
			t.Fatal(err)
		}
		raw := rawDialect[backendOf(dsn)]
		exec := func(q string, args ...any) {
			t.Helper()
			if _, err := db.Exec(raw(q), args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		// One disagreement of each kind, each on its own row.
		exec(`UPDATE vitems SET status = 'forged' WHERE id = ?`, vs[0].ID.Bytes())                   // string column
		exec(`UPDATE vitems SET rank = rank + 1 WHERE id = ?`, vs[1].ID.Bytes())                     // int column
		exec(`UPDATE vitems SET at = NULL WHERE id = ?`, vs[4].ID.Bytes())                           // time column
		exec(`UPDATE vitems SET label = 'x/z' WHERE id = ?`, vs[5].ID.Bytes())                       // Stringer column
		exec(`UPDATE vitems SET flag = ? WHERE id = ?`, wrongType[backendOf(dsn)], vs[6].ID.Bytes()) // wrong SQL type
		exec(`UPDATE vitems SET v = ? WHERE id = ?`, []byte{0xff, 0x00}, vs[2].ID.Bytes())           // corrupt blob
		exec(`UPDATE vitems SET v = (SELECT v FROM vitems WHERE id = ?) WHERE id = ?`,               // another value's blob
			vs[7].ID.Bytes(), vs[3].ID.Bytes())

		type want struct {
			check string
			id    airnest.ID[VItem]
			col   string
		}
		typed := []want{
			{"index", vs[0].ID, "status"}, {"index", vs[1].ID, "rank"}, {"index", vs[4].ID, "at"},
			{"index", vs[5].ID, "label"}, {"index", vs[6].ID, "flag"}, {"blob", vs[2].ID, ""}, {"id", vs[3].ID, ""},
		}
		// Without Go types the Stringer column is only type-checked, and the
		// copied blob is still found by its ID.
		untyped := []want{
			{"index", vs[0].ID, "status"}, {"index", vs[1].ID, "rank"}, {"index", vs[4].ID, "at"},
			{"index", vs[6].ID, "flag"}, {"blob", vs[2].ID, ""}, {"id", vs[3].ID, ""},
		}
		check := func(name string, rep airnest.VerifyReport, wants []want) {
			t.Helper()
			if rep.OK() {
				t.Fatalf("%s: report is OK after corruption", name)
			}
		next:
			for _, w := range wants {
				for _, p := range rep.Problems {
					if p.Check == w.check && p.ID == w.id.String() && p.Column == w.col && p.Collection == "vitems" {
						if !strings.Contains(rep.String(), w.id.String()) {
							t.Errorf("%s: String() does not name %s", name, w.id)
						}
						continue next
					}
				}
				t.Errorf("%s: no %s problem for id %s column %q in\n%s", name, w.check, w.id, w.col, rep)
			}
			// The copied blob also disagrees with its row's columns; no other
			// row may be reported.
			for _, p := range rep.Problems {
				ok := false
				for _, w := range wants {
					ok = ok || p.ID == w.id.String()
				}
				if !ok {
					t.Errorf("%s: problem on an untouched row: %s", name, p)
				}
			}
		}
		rep, err := s.Verify(bg)
		if err != nil {
			t.Fatal(err)
		}
		check("Verify", rep, typed)
		frep, err := airnest.VerifyFile(bg, dsn)
		if err != nil {
			t.Fatal(err)
		}
		check("VerifyFile", frep, untyped)
	})
}

// SQLite only: it overwrites a page of the file.
func TestVerifyReportsIntegrityFailure(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v.db")
	s, items, _ := openVerifyStore(t, path)
	saveVItems(t, items, 200)
	db, err := s.DB()
	if err != nil {
		t.Fatal(err)
	}
	var page, pageSize int64
	if err := db.QueryRow(`SELECT rootpage FROM sqlite_schema WHERE name = 'vitems__rank'`).Scan(&page); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`PRAGMA page_size`).Scan(&pageSize); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // checkpoints: every page is in the main file
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Scribble over the index's root page, as a bad disk sector would.
	if _, err := f.WriteAt(make([]byte, pageSize), (page-1)*pageSize); err != nil {
		t.Fatal(err)
	}
	f.Close()
	rep, err := airnest.VerifyFile(bg, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(find(rep, "integrity")) == 0 {
		t.Fatalf("no integrity problem after overwriting page %d:\n%s", page, rep)
	}
}

func TestVerifyFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := airnest.VerifyFile(bg, filepath.Join(dir, "absent.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("absent file: %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "absent.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("VerifyFile created the file it was asked to check")
	}
	junk := filepath.Join(dir, "junk.db")
	os.WriteFile(junk, []byte(strings.Repeat("not a database ", 500)), 0o600)
	rep, err := airnest.VerifyFile(bg, junk)
	if err == nil && rep.OK() {
		t.Errorf("VerifyFile of junk: OK")
	}
	// A plain SQLite file is not an airnest file.
	plain := filepath.Join(dir, "plain.db")
	pdb, err := sql.Open("sqlite3", "file:"+plain)
	if err == nil {
		_, err = pdb.Exec(`CREATE TABLE t (x)`)
		pdb.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	rep, err = airnest.VerifyFile(bg, plain)
	if err != nil || len(find(rep, "schema")) != 1 {
		t.Errorf("VerifyFile of a plain SQLite file: %v\n%s", err, rep)
	}
}

func TestVerifyCancelled(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, items, _ := openVerifyStore(t, dsn)
		saveVItems(t, items, 5)
		ctx, cancel := context.WithCancel(bg)
		cancel()
		if _, err := s.Verify(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Verify with a cancelled context: %v", err)
		}
		s.Close()
		if _, err := s.Verify(bg); !errors.Is(err, airnest.ErrClosed) {
			t.Errorf("Verify on a closed store: %v", err)
		}
	})
}
