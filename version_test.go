package airnest_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/airnest/airnest"
)

// The embedded SQLite must include the fix for the WAL-reset corruption
// bug (3.51.3): a store's file is shared by many connections in WAL mode.
func TestSQLiteVersionHasWALResetFix(t *testing.T) {
	t.Parallel()
	s, err := airnest.Open(bg, filepath.Join(t.TempDir(), "v.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db, err := s.DB()
	if err != nil {
		t.Fatal(err)
	}
	var v string
	if err := db.QueryRow(`SELECT sqlite_version()`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	var major, minor, patch int
	if _, err := fmt.Sscanf(v, "%d.%d.%d", &major, &minor, &patch); err != nil {
		t.Fatalf("sqlite_version() = %q: %v", v, err)
	}
	if got, want := [3]int{major, minor, patch}, [3]int{3, 51, 3}; versionLess(got, want) {
		t.Fatalf("the driver embeds SQLite %s, want at least 3.51.3 (the WAL-reset fix)", v)
	}
	t.Logf("embedded SQLite %s", v)
}

func versionLess(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}
