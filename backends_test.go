package airnest_test

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airnest/airnest"
	"github.com/airnest/airnest/internal/pgtest"
)

// backend is one database the behavioural tests run on.
type backend struct {
	name string
	// dsn returns where a fresh, empty store lives: a file in a temporary
	// directory, or a new database on the tests' PostgreSQL server.
	dsn func(t testing.TB) string
}

var backends = []backend{
	{"sqlite", func(t testing.TB) string { return filepath.Join(t.TempDir(), "test.db") }},
	{"postgres", func(t testing.TB) string { return pgtest.Database(t) }},
}

// eachBackend runs fn as a parallel subtest per backend, each with the dsn
// of a fresh store. Without PostgreSQL installed the postgres half is skipped
// with advice, except in CI (CI=true), where it fails.
func eachBackend(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.dsn(t))
		})
	}
}

// backendOf names the backend that dsn opens, for the few assertions whose
// expected value differs by backend (plan text, SQL dialect); those keep
// one small table keyed by this name.
func backendOf(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return "postgres"
	}
	return "sqlite"
}

// tableSQL lists a table's columns in order and its secondary indexes by
// name; $1 (SQLite: ?) is the table name.
var tableSQL = map[string]struct{ cols, indexes string }{
	"sqlite": {
		`SELECT name FROM pragma_table_info(?) ORDER BY cid`,
		`SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL ORDER BY name`,
	},
	"postgres": {
		`SELECT column_name::text FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`,
		`SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class r ON r.oid = i.indrelid
		WHERE r.relnamespace = current_schema()::regnamespace AND r.relname = $1 AND NOT i.indisprimary ORDER BY 1`,
	},
}

// tableShape returns the columns and secondary indexes of table in the
// store at dsn, read through db.
func tableShape(t testing.TB, db *sql.DB, dsn, table string) (cols, indexes []string) {
	t.Helper()
	q := tableSQL[backendOf(dsn)]
	return queryStrings(t, db, q.cols, table), queryStrings(t, db, q.indexes, table)
}

// queryStrings returns the first column of every row of query.
func queryStrings(t testing.TB, db *sql.DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// anotherStore returns the dsn of another fresh, empty store on the backend
// of dsn, for tests that need more than one.
func anotherStore(t testing.TB, dsn string) string {
	t.Helper()
	for _, b := range backends {
		if b.name == backendOf(dsn) {
			return b.dsn(t)
		}
	}
	t.Fatalf("no backend opens %q", dsn)
	return ""
}

// A postgres URL opens PostgreSQL however its scheme is spelled (URL
// schemes ignore case), never a file of that name.
func TestOpenPicksTheDatabaseByScheme(t *testing.T) {
	dsn := pgtest.Database(t)
	scheme, rest, _ := strings.Cut(dsn, "://")
	for _, s := range []string{"PostgreSQL", "POSTGRES", scheme} {
		t.Run(s, func(t *testing.T) {
			store := airnest.NewStore()
			jobs := airnest.Collection[Job](store)
			if err := store.Open(bg, s+"://"+rest, nil); err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			j := Job{Status: "x"}
			if err := jobs.Save(bg, &j); err != nil {
				t.Fatal(err)
			}
			st, err := store.Stats(bg)
			if err != nil || st.JournalMode != "" || !strings.HasPrefix(strings.ToLower(st.Path), "postgres") {
				t.Fatalf("opened %+v, %v; want the PostgreSQL database", st, err)
			}
		})
	}
}
