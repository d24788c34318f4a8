package airnest_test

import (
	"path/filepath"
	"strings"
	"testing"

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
