package airnest_test

import (
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/airnest/airnest"
)

type Kinds struct {
	ID      airnest.ID[Kinds]
	N       int
	U       uint16
	F       float64
	B       bool
	S       string
	Raw     []byte
	At      time.Time
	Ref     airnest.ID[Job]
	Opt     *int
	Level   Level
	Label   Label
	Skipped string
}

// Level is a named integer with a String method: it stays a number.
type Level int

func (l Level) String() string { return fmt.Sprintf("L%d", int(l)) }

// Label is a struct with a String method: stored as TEXT.
type Label struct{ A, B string }

func (l Label) String() string { return l.A + "/" + l.B }

// columnTypes reads the Kinds row's index columns with the type each value
// is stored as: SQLite's storage classes, PostgreSQL's column types.
var columnTypes = map[string]struct{ sql, want string }{
	"sqlite": {`SELECT typeof(n), n, typeof(u), typeof(f), f, typeof(b), b, typeof(s), typeof(raw), typeof(at), at,
		typeof(ref), ref, typeof(opt), typeof(level), level, typeof(label), label FROM "Kinds"`,
		"integer -5 integer real 2.5 integer 1 text blob integer true blob true null integer 3 text a/b\n"},
	"postgres": {`SELECT pg_typeof(n)::text, n, pg_typeof(u)::text, pg_typeof(f)::text, f, pg_typeof(b)::text, b, pg_typeof(s)::text, pg_typeof(raw)::text, pg_typeof(at)::text, at,
		pg_typeof(ref)::text, ref, coalesce(pg_typeof(opt)::text || opt::text, 'null'), pg_typeof(level)::text, level, pg_typeof(label)::text, label FROM "Kinds"`,
		"bigint -5 bigint double precision 2.5 bigint 1 text bytea bigint true bytea true null bigint 3 text a/b\n"},
}

func TestIndexColumnTypes(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s := airnest.NewStore()
		kinds := airnest.Collection[Kinds](s, airnest.Index("n", "u", "f", "b", "s", "raw", "at", "ref", "opt", "level", "label"))
		if err := s.Open(bg, dsn, nil); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
		ref := airnest.NewID[Job]()
		v := Kinds{N: -5, U: 7, F: 2.5, B: true, S: "x", Raw: []byte{9}, At: at, Ref: ref, Opt: nil, Level: 3, Label: Label{"a", "b"}}
		if err := kinds.Save(bg, &v); err != nil {
			t.Fatal(err)
		}
		db, err := s.DB()
		if err != nil {
			t.Fatal(err)
		}
		types := columnTypes[backendOf(dsn)]
		row := db.QueryRow(types.sql)
		var tn, tu, tf, tb, ts, traw, tat, tref, topt, tlevel, tlabel, label string
		var n, b, atNs, level int64
		var f float64
		var refb []byte
		if err := row.Scan(&tn, &n, &tu, &tf, &f, &tb, &b, &ts, &traw, &tat, &atNs, &tref, &refb, &topt, &tlevel, &level, &tlabel, &label); err != nil {
			t.Fatal(err)
		}
		got := fmt.Sprintln(tn, n, tu, tf, f, tb, b, ts, traw, tat, atNs == at.UnixNano(), tref, string(refb) == string(ref.Bytes()), topt, tlevel, level, tlabel, label)
		if got != types.want {
			t.Fatalf("columns:\n got %s\nwant %s", got, types.want)
		}
	})
}

func TestNumbersSortAsNumbers(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, jobs, _ := testStoreAt(t, dsn)
		for _, p := range []int{9, 10, 100, -1, 2} {
			j := Job{Priority: p}
			jobs.Save(bg, &j)
		}
		db, _ := s.DB()
		got := queryStrings(t, db, `SELECT priority FROM "Job" ORDER BY priority`)
		if fmt.Sprint(got) != "[-1 2 9 10 100]" {
			t.Fatalf("ORDER BY priority gave %v", got)
		}
	})
}

func TestIndexValueErrorsFailOnlyThatSave(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		type Big struct {
			ID airnest.ID[Big]
			U  uint64
			At time.Time
		}
		s := airnest.NewStore()
		bigs := airnest.Collection[Big](s, airnest.Index("u", "at"))
		if err := s.Open(bg, dsn, nil); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		v := Big{U: 1 << 63}
		if err := bigs.Save(bg, &v); !errors.Is(err, airnest.ErrInvalid) {
			t.Fatalf("uint64 overflow: %v", err)
		}
		v = Big{At: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}
		if err := bigs.Save(bg, &v); !errors.Is(err, airnest.ErrInvalid) {
			t.Fatalf("time out of range: %v", err)
		}
		if n, _ := bigs.Count(bg); n != 0 {
			t.Fatalf("%d values stored by failing saves", n)
		}
	})
}

// Version 1 and 2 of one collection: v2 adds an index on Priority and drops the one on Status.
type JobV1 struct {
	ID       airnest.ID[JobV1]
	Status   string
	Priority int
}

type JobV2 struct {
	ID       airnest.ID[JobV2]
	Status   string
	Priority int
}

func TestIndexBackfillAndDrop(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s1 := airnest.NewStore()
		v1 := airnest.Collection[JobV1](s1, airnest.Name("Jobs"), airnest.Index("status"))
		if err := s1.Open(bg, dsn, nil); err != nil {
			t.Fatal(err)
		}
		err := s1.Tx(bg, func(tx *airnest.Tx) error {
			for i := range 10000 {
				j := JobV1{Status: fmt.Sprint("s", i%7), Priority: i}
				if err := v1.In(tx).Save(bg, &j); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		s1.Close()

		s2 := airnest.NewStore()
		v2 := airnest.Collection[JobV2](s2, airnest.Name("Jobs"), airnest.Index("priority"), airnest.DropIndex("status"))
		if err := s2.Open(bg, dsn, nil); err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		db, _ := s2.DB()
		var n, sum int64
		if err := db.QueryRow(`SELECT count(priority), sum(priority) FROM "Jobs"`).Scan(&n, &sum); err != nil {
			t.Fatal(err)
		}
		if n != 10000 || sum != 9999*10000/2 {
			t.Fatalf("back-filled %d values summing %d", n, sum)
		}
		if _, err := db.Exec(`SELECT status FROM "Jobs"`); err == nil {
			t.Fatal("dropped index column status still exists")
		}
		if !hasIndex(t, db, dsn, "Jobs__priority") || hasIndex(t, db, dsn, "Jobs__status") {
			t.Fatal("indexes not updated: want Jobs__priority and no Jobs__status")
		}
		plan, err := v2.Where(airnest.Eq("priority", 5)).Explain(bg)
		if err != nil {
			t.Fatal(err)
		}
		if !planSays(plan, planText[backendOf(dsn)].uses, "Jobs", "Jobs__priority") {
			t.Fatalf("plan does not use the back-filled index:\n%s", plan)
		}
	})
}

// indexCount counts the indexes named $1 (SQLite: ?) in the store.
var indexCount = map[string]string{
	"sqlite":   `SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = ?`,
	"postgres": `SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = $1`,
}

func hasIndex(t *testing.T, db *sql.DB, dsn, name string) bool {
	var n int
	if err := db.QueryRow(indexCount[backendOf(dsn)], name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}
