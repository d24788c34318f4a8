package airnest_test

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/airnest/airnest"
)

var planText = map[string]struct {
	analyze  string
	search   string // the index is searched for status = ?
	fullScan string // the table is read whole
	sort     string // ORDER BY is a separate sort, not the index's order
	seek     string // a keyset page seeks (status, priority, id) in the index
	uses     string // the index is used at all
}{
	"sqlite": {
		analyze:  "", // SQLite's plans here need no statistics
		search:   `SEARCH {table} USING INDEX {index} \(status=\?`,
		fullScan: `SCAN {table}\n`,
		sort:     `USE TEMP B-TREE FOR ORDER BY`,
		seek:     `USING INDEX {index} \(status=\? AND \(priority,id\)>\(\?,\?\)\)`,
		uses:     `USING INDEX {index}`,
	},
	"postgres": {
		analyze:  "ANALYZE",
		search:   `(Index Scan|Index Only Scan) using "{index}" on "{table}"|Bitmap Index Scan on "{index}"\n\s+Index Cond: \(status = `,
		fullScan: `Seq Scan on "{table}"`,
		sort:     `Sort Key: `,
		seek:     `Index Cond: \(\(status = '[a-z]+'::text\) AND \(ROW\(priority, id\) > ROW\(`,
		uses:     `(Index Scan|Index Only Scan) using "{index}"|Bitmap Index Scan on "{index}"`,
	},
}

// planSays reports whether plan matches re, a planText expression, for
// table and index.
func planSays(plan, re, table, index string) bool {
	re = strings.NewReplacer("{table}", regexp.QuoteMeta(table), "{index}", regexp.QuoteMeta(index)).Replace(re)
	return regexp.MustCompile(re).MatchString(plan)
}

func TestQueryExplainUsesIndex(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s := airnest.NewStore()
		sep := airnest.Collection[Job](s, airnest.Index("status", "priority"), airnest.Name("JobSep"))
		comp := airnest.Collection[Job](s, airnest.Index("status,priority"), airnest.Name("JobComp"))
		if err := s.Open(bg, dsn, nil); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		// Selective values (pending on one value in 50, done and failed on
		// one in 500), as an index is for: a planner that counts rows reads
		// the table whole otherwise.
		err := s.Tx(bg, func(tx *airnest.Tx) error {
			for _, c := range []*airnest.Coll[Job]{sep, comp} {
				for i := range 2000 {
					j := Job{Status: fmt.Sprint("other", i%500), Priority: i % 7}
					switch {
					case i%50 == 0:
						j.Status = "pending"
					case i%500 < 3:
						j.Status = []string{"", "done", "failed"}[i%500]
					}
					if err := c.In(tx).Save(bg, &j); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		text := planText[backendOf(dsn)]
		if text.analyze != "" {
			db, err := s.DB()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(text.analyze); err != nil {
				t.Fatal(err)
			}
		}
		readme := func(c *airnest.Coll[Job]) *airnest.Query[Job] {
			return c.Where(airnest.Eq("status", "pending")).OrderBy("priority").Limit(10)
		}
		for _, tc := range []struct {
			c     *airnest.Coll[Job]
			index string
			sort  bool
		}{
			{sep, "JobSep__status", true},
			{comp, "JobComp__status__priority", false},
		} {
			says := func(plan, re string) bool { return planSays(plan, re, tc.c.Name(), tc.index) }
			q := readme(tc.c)
			plan, err := q.Explain(bg)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s:\n%s", tc.c.Name(), plan)
			if !says(plan, text.search) {
				t.Errorf("%s does not search index %s:\n%s", tc.c.Name(), tc.index, plan)
			}
			if says(plan, text.fullScan) {
				t.Errorf("full table scan:\n%s", plan)
			}
			if got := says(plan, text.sort); got != tc.sort {
				t.Errorf("separate sort for ORDER BY = %v, want %v:\n%s", got, tc.sort, plan)
			}
			// Keyset paging keeps the index too.
			page, next, err := q.Page(bg)
			if err != nil || len(page) != 10 || next == "" {
				t.Fatalf("Page: %d, %q, %v", len(page), next, err)
			}
			plan, err = q.After(next).Explain(bg)
			if err != nil {
				t.Fatal(err)
			}
			if !says(plan, text.search) {
				t.Errorf("keyset page does not use %s:\n%s", tc.index, plan)
			}
			if !tc.sort && !says(plan, text.seek) {
				t.Errorf("keyset page does not seek in the index:\n%s", plan)
			}
			// In and Prefix use the index as well.
			for _, f := range []airnest.Filter{airnest.In("status", "done", "failed"), airnest.Prefix("status", "pe")} {
				plan, err := tc.c.Where(f).Explain(bg)
				if err != nil {
					t.Fatal(err)
				}
				if !says(plan, text.uses) {
					t.Errorf("%v does not use %s:\n%s", f, tc.index, plan)
				}
			}
		}
	})
}

// schemaSQL lists a database's tables, indexes and columns with their
// definitions, as four text columns.
var schemaSQL = map[string]string{
	"sqlite": `SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema ORDER BY name`,
	"postgres": `SELECT 'index', indexname::text, tablename::text, indexdef FROM pg_indexes WHERE schemaname = current_schema()
	UNION ALL SELECT 'column', table_name::text, column_name::text, data_type::text FROM information_schema.columns WHERE table_schema = current_schema()
	ORDER BY 2, 3`,
}

func TestQueryHostileNames(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, jobs, _ := testStoreAt(t, dsn)
		for i := range 5 {
			j := Job{Status: "pending", Priority: i}
			jobs.Save(bg, &j)
		}
		db, err := s.DB()
		if err != nil {
			t.Fatal(err)
		}
		schema := func() string {
			rows, err := db.Query(schemaSQL[backendOf(dsn)])
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var b strings.Builder
			for rows.Next() {
				var a, n, tb, sql string
				if err := rows.Scan(&a, &n, &tb, &sql); err != nil {
					t.Fatal(err)
				}
				fmt.Fprintln(&b, a, n, tb, sql)
			}
			return b.String()
		}
		before := schema()
		for _, name := range []string{
			`x"; DROP TABLE "Job`, `a"b`, "status\x00", "\x00", "sqlite_x", "sqlite_schema", "", strings.Repeat("a", 10<<10),
			`status" OR 1=1 --`, "v", "I D", "Status\t", "status ", "priority;", "_airnest_keys", "Job",
		} {
			for _, q := range []*airnest.Query[Job]{
				jobs.Where(airnest.Eq(name, "pending")),
				jobs.Where(airnest.In(name, 1, 2)),
				jobs.Where(airnest.Prefix(name, "p")),
				jobs.Where(airnest.IsNull(name)),
				jobs.Where(airnest.Not(airnest.Or(airnest.Eq("status", "done"), airnest.Gt(name, 0)))),
				jobs.Where().OrderBy(name),
				jobs.Where().OrderByDesc(name),
			} {
				if _, err := q.Find(bg); !errors.Is(err, airnest.ErrInvalid) {
					t.Errorf("name %q: Find: %v, want ErrInvalid", name, err)
				}
				if n, err := q.Delete(bg); !errors.Is(err, airnest.ErrInvalid) || n != 0 {
					t.Errorf("name %q: Delete: %d, %v", name, n, err)
				}
				if _, err := q.Explain(bg); !errors.Is(err, airnest.ErrInvalid) {
					t.Errorf("name %q: Explain: %v", name, err)
				}
			}
		}
		// Hostile values are only ever values.
		for _, v := range []string{`x"; DROP TABLE "Job`, `' OR 1=1 --`, "\x00", strings.Repeat("'", 10<<10)} {
			if !anyText[backendOf(dsn)] && strings.Contains(v, "\x00") {
				continue // ErrInvalid: see TestTextTheDatabaseCannotHold
			}
			if n, err := jobs.Where(airnest.Or(airnest.Eq("status", v), airnest.Prefix("status", v), airnest.In("status", v))).Delete(bg); err != nil || n != 0 {
				t.Errorf("value %q: Delete = %d, %v", v, n, err)
			}
		}
		if after := schema(); after != before {
			t.Fatalf("schema changed:\n%s\nwas:\n%s", after, before)
		}
		if n, _ := jobs.Count(bg); n != 5 {
			t.Fatalf("%d values left, want 5", n)
		}
	})
}

// rawDialect turns QueryRaw text written for SQLite (? parameters, IS ?)
// into each backend's SQL.
var rawDialect = map[string]func(string) string{
	"sqlite": func(q string) string { return q },
	"postgres": func(q string) string {
		q = strings.ReplaceAll(q, " IS ?", " IS NOT DISTINCT FROM ?")
		n := 0
		return regexp.MustCompile(`\?`).ReplaceAllStringFunc(q, func(string) string { n++; return fmt.Sprint("$", n) })
	},
}

func TestQueryRaw(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, recs := recStoreAt(t, dsn)
		all := saveAll(t, recs, recFixture(dsn))
		raw := rawDialect[backendOf(dsn)]
		for _, tc := range []struct {
			sql  string
			args []any
			want string
		}{
			{`SELECT v FROM "Rec" WHERE "n" = ? ORDER BY id`, []any{3}, "cdh"},
			{`SELECT "n", v FROM "Rec" WHERE "s" = ?`, []any{"apple"}, "a"},
			{`SELECT v FROM "Rec" WHERE "at" = ? ORDER BY id`, []any{t0}, "af"},
			{`SELECT v FROM "Rec" WHERE "at" IS ? ORDER BY id`, []any{time.Time{}}, "cg"},
			{`SELECT v FROM "Rec" WHERE "ref" = ? ORDER BY id`, []any{ref2}, "bf"},
			{`SELECT v FROM "Rec" WHERE id = ?`, []any{all[4].ID}, "e"},
			{`SELECT v FROM "Rec" WHERE "b" = ? AND "f" > ? ORDER BY id`, []any{true, 0.7}, "eh"},
			{`SELECT v FROM "Rec" WHERE "p" IS ? ORDER BY id`, []any{nil}, "bf"},
			{`SELECT v FROM "Rec" WHERE "raw" = ?`, []any{[]byte{1, 2}}, "c"},
			{`SELECT v FROM "Rec" WHERE "level" = ? ORDER BY id`, []any{Level(3)}, "ch"},
			{`SELECT v FROM "Rec" WHERE "u8" = ?`, []any{uint8(255)}, "d"},
			{`  SELECT v FROM "Rec" ORDER BY "n" DESC LIMIT 2 ;  `, nil, "gf"},
		} {
			got, err := recs.QueryRaw(bg, raw(tc.sql), tc.args...)
			if err != nil {
				t.Errorf("%s: %v", tc.sql, err)
				continue
			}
			if tags(got) != tc.want {
				t.Errorf("%s: got %q, want %q", tc.sql, tags(got), tc.want)
			}
		}
		for _, tc := range []struct{ sql, why string }{
			{`INSERT INTO "Rec" (id, v) SELECT id, v FROM "Rec" RETURNING v`, "write"},
			{`DELETE FROM "Rec" RETURNING v`, "write"},
			{`SELECT v FROM "Rec"; DELETE FROM "Rec"`, "two statements"},
			{`SELECT v FROM "Rec"; SELECT v FROM "Rec"`, "two statements"},
			{`SELECT id FROM "Rec"`, "no v"},
			{`SELECT v AS blob FROM "Rec"`, "no v"},
			{`SELECT v FROM "Rec" WHERE "n" = ?`, "missing argument"},
			{`SELECT 1 AS v`, "v is not a blob"},
			{``, "empty"},
		} {
			if _, err := recs.QueryRaw(bg, raw(tc.sql)); !errors.Is(err, airnest.ErrInvalid) {
				t.Errorf("%s (%s): %v, want ErrInvalid", tc.sql, tc.why, err)
			}
		}
		if _, err := recs.QueryRaw(bg, raw(`SELECT v FROM "Rec" WHERE "n" = ?`), struct{}{}); !errors.Is(err, airnest.ErrInvalid) {
			t.Errorf("unbindable argument: %v", err)
		}
		// Inside a write transaction QueryRaw still refuses to write.
		err := s.Tx(bg, func(tx *airnest.Tx) error {
			_, err := recs.In(tx).QueryRaw(bg, `DELETE FROM "Rec" RETURNING v`)
			return err
		})
		if !errors.Is(err, airnest.ErrInvalid) {
			t.Errorf("write in Tx: %v", err)
		}
		if n, _ := recs.Count(bg); n != len(all) {
			t.Fatalf("%d values, want %d", n, len(all))
		}
	})
}
