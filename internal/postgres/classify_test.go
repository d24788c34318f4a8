package postgres

import (
	"fmt"
	"testing"

	"github.com/airnest/airnest/internal/backend"
	"github.com/ncruces/go-sqlite3"
)

// Both backends classify every error airnest sees: another database's
// errors must be Other here, or they would be taken for this one's (SQLite's
// errors have net.Error's methods, and a UNIQUE clash read as Gone).
func TestClassifyLeavesOtherDatabasesErrors(t *testing.T) {
	db, err := sqlite3.Open(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	clash := db.Exec("CREATE TABLE t (x UNIQUE); INSERT INTO t VALUES (1); INSERT INTO t VALUES (1)")
	if clash == nil {
		t.Fatal("no UNIQUE clash")
	}
	for _, err := range []error{
		clash, fmt.Errorf("wrapped: %w", clash),
		sqlite3.CONSTRAINT_UNIQUE, sqlite3.BUSY, sqlite3.INTERRUPT, sqlite3.IOERR,
		fmt.Errorf("wrapped: %w", sqlite3.CONSTRAINT_UNIQUE),
	} {
		if c := Classify(err); c != backend.Other {
			t.Errorf("Classify(%v) = %v, want Other", err, c)
		}
	}
}
