package airnest_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airnest/airnest"
)

// rawSQL runs statements on the store at dsn through a store that declares
// no collection, as a person with the sqlite3 shell or psql would.
func rawSQL(t *testing.T, dsn string, stmts ...string) {
	t.Helper()
	s, err := airnest.Open(bg, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db, err := s.DB()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// formatSQL reads and sets where a store records airnest's format: the
// SQLite file's header, PostgreSQL's _airnest_format row.
var formatSQL = map[string]struct {
	read string
	set  string // application_id %d, version %d
}{
	"sqlite": {
		"SELECT (SELECT application_id FROM pragma_application_id), (SELECT user_version FROM pragma_user_version)",
		"PRAGMA application_id = %d; PRAGMA user_version = %d",
	},
	"postgres": {
		"SELECT application_id, version FROM _airnest_format",
		"UPDATE _airnest_format SET application_id = %d, version = %d",
	},
}

// header reads the store's application_id and format version.
func header(t *testing.T, s *airnest.Store, dsn string) (appID, version int64) {
	t.Helper()
	db, err := s.DB()
	if err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(formatSQL[backendOf(dsn)].read).Scan(&appID, &version); err != nil {
		t.Fatal(err)
	}
	return appID, version
}

// setFormat records appID and version as the store's format.
func setFormat(t *testing.T, dsn string, appID, version int64) {
	t.Helper()
	rawSQL(t, dsn, strings.Split(fmt.Sprintf(formatSQL[backendOf(dsn)].set, appID, version), "; ")...)
}

type Item struct {
	ID    airnest.ID[Item]
	Owner string
	Title string
}

type Item2 struct {
	ID   airnest.ID[Item2]
	Name string
}

func mustErr(t *testing.T, what string, err, want error, mention ...string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: %v, want %v", what, err, want)
	}
	for _, m := range mention {
		if !strings.Contains(err.Error(), m) {
			t.Fatalf("%s: %q does not name %q", what, err, m)
		}
	}
}

func TestNamesClashIgnoringCase(t *testing.T) {
	t.Parallel()
	s := airnest.NewStore()
	airnest.Collection[Item](s)
	_, err := airnest.NewCollection[Item2](s, airnest.Name("ITEM"))
	mustErr(t, "ITEM next to Item", err, airnest.ErrInvalid, "ITEM", "Item")
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("Collection with a clashing name did not panic")
			}
		}()
		airnest.Collection[Item2](s, airnest.Name("item"))
	}()
	for _, name := range []string{"_airnest_keys", "_AIRNEST_x", "SQLITE_master", "sqlite_stat1"} {
		_, err := airnest.NewCollection[Item2](s, airnest.Name(name))
		mustErr(t, "reserved name "+name, err, airnest.ErrInvalid, name)
	}

	// Index names are Table__column and share SQLite's one namespace with
	// tables: "A" indexing "b__c" and "a__B" indexing "c" both make a__b__c.
	type IA struct {
		ID airnest.ID[IA]
		BC string
	}
	type IB struct {
		ID airnest.ID[IB]
		C  string
	}
	s2 := airnest.NewStore()
	airnest.Collection[IA](s2, airnest.Name("A"), airnest.Index("b__c"))
	_, err = airnest.NewCollection[IB](s2, airnest.Name("a__B"), airnest.Index("c"))
	mustErr(t, "index names clashing", err, airnest.ErrInvalid, "a__B__c")
	_, err = airnest.NewCollection[IB](s2, airnest.Name("A__B__C"))
	mustErr(t, "a table named like an index", err, airnest.ErrInvalid, "A__B__C")
}

func TestNamesClashWithTheFile(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		// A collection stored as "item"; another program declares "ITEM".
		s1 := airnest.NewStore()
		items := airnest.Collection[Item](s1, airnest.Name("item"))
		if err := s1.Open(bg, dsn, nil); err != nil {
			t.Fatal(err)
		}
		it := Item{Owner: "ann"}
		if err := items.Save(bg, &it); err != nil {
			t.Fatal(err)
		}
		s1.Close()
		s2 := airnest.NewStore()
		airnest.Collection[Item2](s2, airnest.Name("ITEM"))
		mustErr(t, "ITEM on a store holding item", s2.Open(bg, dsn, nil), airnest.ErrSchema, `holds collection "item"`, `"ITEM"`)

		// A table airnest did not make, named like the collection but for case.
		foreign := anotherStore(t, dsn)
		rawSQL(t, foreign, "CREATE TABLE item (x integer)")
		s3 := airnest.NewStore()
		airnest.Collection[Item](s3, airnest.Index("owner"))
		err := s3.Open(bg, foreign, nil)
		mustErr(t, "Item over a foreign table item", err, airnest.ErrSchema, `table named "item"`)
		if strings.Contains(err.Error(), "no such column") || strings.Contains(err.Error(), "SQLSTATE") {
			t.Fatalf("raw database error: %v", err)
		}

		// An index of another table with the name airnest would give its own.
		index := anotherStore(t, dsn)
		rawSQL(t, index, "CREATE TABLE other (x integer)", `CREATE INDEX "item__OWNER" ON other (x)`)
		s4 := airnest.NewStore()
		airnest.Collection[Item](s4, airnest.Index("owner"))
		mustErr(t, "an index named like ours", s4.Open(bg, index, nil), airnest.ErrSchema, `index named "item__OWNER"`)
	})
}

func TestFormatVersion(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s := airnest.NewStore()
		items := airnest.Collection[Item](s, airnest.Index("owner"))
		if err := s.Open(bg, dsn, nil); err != nil {
			t.Fatal(err)
		}
		appID, version := header(t, s, dsn)
		if appID != 0x4169724E || version != 1 {
			t.Fatalf("a new file has application_id %#x, user_version %d; want 0x4169724e, 1", appID, version)
		}
		var saved []Item
		for i := range 20 {
			it := Item{Owner: fmt.Sprint("o", i%3), Title: fmt.Sprint(i)}
			if err := items.Save(bg, &it); err != nil {
				t.Fatal(err)
			}
			saved = append(saved, it)
		}
		s.Close()

		// A file of the release before versions: no header, no shape column.
		setFormat(t, dsn, 0, 0)
		rawSQL(t, dsn, `ALTER TABLE "Item" DROP COLUMN _airnest_shape`)
		if err := s.Open(bg, dsn, nil); err != nil {
			t.Fatalf("upgrading a version 0 file: %v", err)
		}
		if appID, version := header(t, s, dsn); appID != 0x4169724E || version != 1 {
			t.Fatalf("after the upgrade: application_id %#x, user_version %d", appID, version)
		}
		for _, it := range saved {
			if got, err := items.Load(bg, it.ID); err != nil || got != it {
				t.Fatalf("after the upgrade: %+v, %v; want %+v", got, err, it)
			}
		}
		if n, err := items.Where(airnest.Eq("owner", "o1")).Count(bg); err != nil || n != 7 {
			t.Fatalf("owner o1 after the upgrade: %d, %v", n, err)
		}
		it := Item{Owner: "new"}
		if err := items.Save(bg, &it); err != nil {
			t.Fatal(err)
		}
		if rep, err := s.Verify(bg); err != nil || !rep.OK() {
			t.Fatalf("Verify after the upgrade: %v\n%s", err, rep)
		}
		s.Close()

		for _, tc := range []struct {
			name           string
			appID, version int64
			mention        []string
		}{
			{"newer", 0x4169724E, 2, []string{"version 2", "release's 1"}},
			{"foreign", 1234, 1, []string{"not an airnest file", "0x4d2"}},
			{"foreign, no id", 0, 7, []string{"not an airnest file"}},
		} {
			p := anotherStore(t, dsn)
			rawSQL(t, p)
			setFormat(t, p, tc.appID, tc.version)
			s := airnest.NewStore()
			airnest.Collection[Item](s)
			mustErr(t, tc.name+": Open", s.Open(bg, p, nil), airnest.ErrSchema, tc.mention...)
			rep, err := airnest.VerifyFile(bg, p)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Problems) != 1 || rep.Problems[0].Check != "schema" || !strings.Contains(rep.Problems[0].Detail, tc.mention[0]) {
				t.Fatalf("%s: VerifyFile: %s", tc.name, rep)
			}
		}
	})
}

// writeItem saves one Item in the new store at dsn and returns the closed
// store that declares it.
func writeItem(t *testing.T, dsn string) (*airnest.Store, Item) {
	t.Helper()
	s := airnest.NewStore()
	items := airnest.Collection[Item](s, airnest.Index("owner"))
	if err := s.Open(bg, dsn, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	it := Item{Owner: "ann", Title: "hello"}
	if err := items.Save(bg, &it); err != nil {
		t.Fatal(err)
	}
	return s, it
}

func TestKeyRegistryEditedByHand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, sql, mention string
		typed              bool // an edit of a value's type, which PostgreSQL's typed columns refuse
	}{
		{"huge key", `UPDATE _airnest_keys SET key = 4611686018427387904 WHERE name = 'Title'`, "out of range", false},
		{"negative key", `UPDATE _airnest_keys SET key = -1 WHERE name = 'Title'`, "out of range", false},
		{"key as text", `UPDATE _airnest_keys SET key = 'two' WHERE name = 'Title'`, "text,text,text,text", true},
		{"key as real", `UPDATE _airnest_keys SET key = 2.5 WHERE name = 'Title'`, "text,text,real,text", true},
		{"key as blob", `UPDATE _airnest_keys SET key = x'02' WHERE name = 'Title'`, "text,text,blob,text", true},
		{"type as blob", `UPDATE _airnest_keys SET type = x'05' WHERE name = 'Title'`, "text,text,integer,blob", true},
		{"duplicate key", `UPDATE _airnest_keys SET key = (SELECT key FROM _airnest_keys WHERE name = 'Owner') WHERE name = 'Title'`, "is also given to name", false},
		{"empty name", `UPDATE _airnest_keys SET name = '' WHERE name = 'Title'`, `name ""`, false},
		{"dotted name", `UPDATE _airnest_keys SET name = 'a.b' WHERE name = 'Title'`, `name "a.b"`, false},
		{"bad space", `UPDATE _airnest_keys SET space = 'a..b' WHERE name = 'Title'`, `space "a..b"`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dsn := filepath.Join(t.TempDir(), "k.db")
			s, _ := writeItem(t, dsn)
			rawSQL(t, dsn, tc.sql)
			err := s.Open(bg, dsn, nil)
			mustErr(t, "Open", err, airnest.ErrSchema, "_airnest_keys row", tc.mention)
			rep, err := airnest.VerifyFile(bg, dsn)
			if err != nil {
				t.Fatal(err)
			}
			if ps := find(rep, "schema"); len(ps) != 1 || ps[0].Collection != "Item" || !strings.Contains(ps[0].Detail, tc.mention) {
				t.Fatalf("VerifyFile: %s", rep)
			}
			if tc.typed {
				return
			}
			// The same edit on PostgreSQL (one database for the edits
			// that its column types allow).
			pg := anotherStore(t, "postgres://")
			s, _ = writeItem(t, pg)
			rawSQL(t, pg, tc.sql)
			mustErr(t, "Open on PostgreSQL", s.Open(bg, pg, nil), airnest.ErrSchema, "_airnest_keys row", tc.mention)
		})
	}
}

// A key moved to another valid number cannot be caught at Open, but the
// stored values then hold a key the registry does not: Verify says so.
func TestVerifyReportsKeysMissingFromTheRegistry(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, it := writeItem(t, dsn)
		rawSQL(t, dsn, `UPDATE _airnest_keys SET key = 99 WHERE name = 'Title'`)
		verifiers := []func() (airnest.VerifyReport, error){
			func() (airnest.VerifyReport, error) {
				if err := s.Open(bg, dsn, nil); err != nil {
					return airnest.VerifyReport{}, err
				}
				defer s.Close()
				return s.Verify(bg)
			},
		}
		verifiers = append(verifiers, func() (airnest.VerifyReport, error) { return airnest.VerifyFile(bg, dsn) })
		for _, verify := range verifiers {
			rep, err := verify()
			if err != nil {
				t.Fatal(err)
			}
			if ps := find(rep, "keys"); len(ps) != 1 || ps[0].ID != it.ID.String() || !strings.Contains(ps[0].Detail, "not in the key registry") {
				t.Fatalf("want one blob problem naming the unknown key: %s", rep)
			}
		}
	})
}
