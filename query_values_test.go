package airnest_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/airnest/airnest"
)

func TestQueryValueTypeErrors(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		_, recs := recStoreAt(t, dsn)
		saveAll(t, recs, recFixture(dsn))
		cases := []struct {
			f    airnest.Filter
			want []string // the message names these
		}{
			{airnest.Eq("n", "3"), []string{"Rec", `"n"`, "int", "string"}},
			{airnest.Eq("n", 1.5), []string{"Rec", `"n"`, "int", "float64"}},
			{airnest.Eq("n", int64(math.MaxInt64)), nil}, // fits an int: no error
			{airnest.Eq("u8", 256), []string{`"u8"`, "uint8", "int"}},
			{airnest.Eq("u8", -1), []string{`"u8"`, "uint8"}},
			{airnest.Eq("s", time.Now()), []string{`"s"`, "string", "time.Time"}},
			{airnest.Eq("s", 3), []string{`"s"`, "string", "int"}},
			{airnest.Eq("at", "2026-01-01"), []string{`"at"`, "time.Time", "string"}},
			{airnest.Eq("at", t0.Unix()), []string{`"at"`, "time.Time", "int64"}},
			{airnest.Eq("ref", airnest.NewID[Session]()), []string{`"ref"`, "ID[", "Session"}},
			{airnest.Eq("id", airnest.NewID[Job]()), []string{`"id"`, "Job"}},
			{airnest.Eq("b", 1), []string{`"b"`, "bool", "int"}},
			{airnest.Eq("level", Label{}), []string{`"level"`, "Level", "Label"}},
			{airnest.Eq("n", nil), []string{`"n"`, "nil"}},
			{airnest.Eq("f", nil), []string{`"f"`, "nil"}},
			{airnest.Eq("raw", "x"), []string{`"raw"`, "[]uint8", "string"}},
			{airnest.Lt("p", nil), []string{"Lt", `"p"`, "NULL"}},
			{airnest.Gt("at", time.Time{}), []string{"Gt", `"at"`, "NULL"}},
			{airnest.Between("p", 1, nil), []string{"Between", "NULL"}},
			{airnest.In[any]("p", 1, 2, nil), []string{"In", "value 2", "NULL"}},
			{airnest.In[any]("n", 1, "x"), []string{"In", "value 1", "string"}},
			{airnest.Prefix("n", "1"), []string{"Prefix", `"n"`, "not text"}},
			{airnest.Eq("nope", 1), []string{"Rec", `"nope"`, "no such column", "n, u8, s, at, ref, b, f, p, raw, level, id"}},
			{airnest.Eq("Tag", "a"), []string{`"Tag"`, "no such column"}},
			{airnest.Eq("N", 1), nil},      // any case: the rule Index uses
			{airnest.Eq("n", 2.0), nil},    // a float that is exactly an int fits an int
			{airnest.Eq("u8", 255.0), nil}, // and a uint8
			{airnest.Eq("u8", 256.0), []string{`"u8"`, "uint8", "float64"}},
			{airnest.Eq("u8", -1.0), []string{`"u8"`, "uint8", "float64"}},
			{airnest.Eq("n", math.Inf(1)), []string{`"n"`, "int", "float64"}},
			{airnest.Eq("n", math.NaN()), []string{`"n"`, "int", "float64"}},
			{airnest.Eq("n", 0x1p63), []string{`"n"`, "int", "float64"}},
			{airnest.Eq("n_x", 1), []string{`"n_x"`, "no such column"}},
			{airnest.Filter{}, []string{"zero Filter"}},
			{airnest.And(airnest.Eq("n", 1), airnest.Not(airnest.Eq("n", "x"))), []string{`"n"`, "string"}},
		}
		for _, tc := range cases {
			q := recs.Where(tc.f)
			_, err := q.Find(bg)
			if tc.want == nil {
				if err != nil {
					t.Errorf("%v: %v", tc.f, err)
				}
				continue
			}
			if !errors.Is(err, airnest.ErrInvalid) {
				t.Errorf("%+v: Find error %v, want ErrInvalid", tc.f, err)
				continue
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			// Every terminal reports the same error and touches nothing.
			if _, err := q.Count(bg); !errors.Is(err, airnest.ErrInvalid) {
				t.Errorf("Count: %v", err)
			}
			if n, err := q.Delete(bg); !errors.Is(err, airnest.ErrInvalid) || n != 0 {
				t.Errorf("Delete: %d, %v", n, err)
			}
			for _, err := range q.All(bg) {
				if !errors.Is(err, airnest.ErrInvalid) {
					t.Errorf("All: %v", err)
				}
			}
		}
		if n, _ := recs.Count(bg); n != len(recFixture(dsn)) {
			t.Fatalf("failed queries deleted values: %d left", n)
		}
		for _, q := range []*airnest.Query[Rec]{
			recs.Where().Limit(-1), recs.Where().Offset(-1), recs.Where().OrderBy("nope"), recs.Where().OrderByDesc("Tag"),
			recs.Where().After("not a cursor"), recs.Where().After("AQ"),
		} {
			if _, err := q.Find(bg); !errors.Is(err, airnest.ErrInvalid) {
				t.Errorf("Find: %v, want ErrInvalid", err)
			}
		}
		if _, _, err := recs.Where().Page(bg); !errors.Is(err, airnest.ErrInvalid) {
			t.Errorf("Page without Limit: %v", err)
		}
	})
}

type PRef struct {
	ID  airnest.ID[PRef]
	Ref *airnest.ID[Job]
}

func TestQueryPointerToID(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, err := airnest.Open(bg, dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		refs := airnest.Collection[PRef](s, airnest.Index("ref"))
		id := airnest.NewID[Job]()
		none, some := PRef{}, PRef{Ref: &id}
		if err := refs.Save(bg, &none); err != nil {
			t.Fatal(err)
		}
		if err := refs.Save(bg, &some); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			f    airnest.Filter
			want airnest.ID[PRef]
		}{
			{airnest.Eq("ref", id), some.ID},
			{airnest.Eq("ref", &id), some.ID},
			{airnest.Eq("ref", nil), none.ID},
			{airnest.IsNull("ref"), none.ID},
			{airnest.In("ref", id), some.ID},
		} {
			ids, err := refs.Where(tc.f).IDs(bg)
			if err != nil || len(ids) != 1 || ids[0] != tc.want {
				t.Errorf("%+v: %v, %v", tc.f, ids, err)
			}
		}
	})
}

func TestQueryCountIDsDeleteNeverDecode(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, recs := recStoreAt(t, dsn)
		all := saveAll(t, recs, recFixture(dsn))
		raw := rawDialect[backendOf(dsn)]
		db, err := s.DB()
		if err != nil {
			t.Fatal(err)
		}
		// Values that no longer decode: only Find-like terminals may notice.
		if _, err := db.Exec(raw(`UPDATE "Rec" SET v = ?`), []byte{0xff}); err != nil {
			t.Fatal(err)
		}
		q := recs.Where(airnest.Eq("n", 3)).OrderBy("s")
		if _, err := q.Find(bg); !errors.Is(err, airnest.ErrSchema) {
			t.Fatalf("Find of corrupt values: %v", err)
		}
		if n, err := q.Count(bg); n != 3 || err != nil {
			t.Errorf("Count = %d, %v", n, err)
		}
		if ok, err := q.Exists(bg); !ok || err != nil {
			t.Errorf("Exists = %v, %v", ok, err)
		}
		if ids, err := q.IDs(bg); len(ids) != 3 || err != nil || ids[0] != all[2].ID {
			t.Errorf("IDs = %v, %v", ids, err)
		}
		if n, err := q.Delete(bg); n != 3 || err != nil {
			t.Errorf("Delete = %d, %v", n, err)
		}
		if n, err := recs.Where().Count(bg); n != len(all)-3 || err != nil {
			t.Errorf("%d left, %v", n, err)
		}
	})
}

// Query column names follow Index's rule: any case, underscores ignored,
// in filters, OrderBy and cursors alike; a name that folds onto two fields
// is an error when the index is declared.
func TestQueryColumnSpellings(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		type Run struct {
			ID        airnest.ID[Run]
			StartedAt time.Time
			Attempts  int
		}
		s := airnest.NewStore()
		runs := airnest.Collection[Run](s, airnest.Index("started_at", "attempts"))
		if err := s.Open(bg, dsn, nil); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		for i := range 5 {
			if err := runs.Save(bg, &Run{StartedAt: t0.Add(time.Duration(i) * time.Hour), Attempts: i}); err != nil {
				t.Fatal(err)
			}
		}
		want, err := runs.Where(airnest.Gt("started_at", t0)).OrderByDesc("started_at").Limit(2).Find(bg)
		if err != nil || len(want) != 2 {
			t.Fatalf("declared spelling: %d values, %v", len(want), err)
		}
		for _, name := range []string{"StartedAt", "startedAt", "STARTED_AT", "started__at", "_startedat"} {
			got, err := runs.Where(airnest.Gt(name, t0)).OrderByDesc(name).Limit(2).Find(bg)
			if err != nil || len(got) != 2 || got[0].ID != want[0].ID || got[1].ID != want[1].ID {
				t.Errorf("spelling %q: %v, %v; want the same values as \"started_at\"", name, got, err)
			}
			// A cursor made under one spelling continues a query under another.
			page, next, err := runs.Where().OrderBy(name).Limit(2).Page(bg)
			if err != nil || len(page) != 2 || next == "" {
				t.Fatalf("Page with %q: %v, %q, %v", name, page, next, err)
			}
			rest, err := runs.Where().OrderBy("started_at").After(next).Find(bg)
			if err != nil || len(rest) != 3 || rest[0].Attempts != 2 {
				t.Errorf("cursor from OrderBy(%q) used with OrderBy(\"started_at\"): %v, %v", name, rest, err)
			}
		}
		if n, err := runs.Where(airnest.Eq("ID", want[0].ID), airnest.In("Attempts", 4.0, 3)).Count(bg); err != nil || n != 1 {
			t.Errorf("Eq(\"ID\") and In(\"Attempts\", 4.0, 3): %d, %v; want 1", n, err)
		}

		type Twin struct {
			ID         airnest.ID[Twin]
			StartedAt  time.Time
			Started_At time.Time //nolint:revive // the clash under test
		}
		_, err = airnest.NewCollection[Twin](airnest.NewStore(), airnest.Index("started_at"))
		if !errors.Is(err, airnest.ErrInvalid) || !strings.Contains(err.Error(), "StartedAt") || !strings.Contains(err.Error(), "Started_At") {
			t.Errorf("an index name that matches two fields: %v, want ErrInvalid naming both", err)
		}
	})
}
