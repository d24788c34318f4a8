// Package lstables makes the tables Litestream adds to a database it
// replicates, for the tests that check airnest ignores them.
package lstables

import (
	"database/sql"
	"fmt"
)

// statements are Litestream's own (v0.5.18, db.go): its two tables, a
// sequence bump and a checkpoint barrier row.
var statements = []string{
	`CREATE TABLE IF NOT EXISTS _litestream_seq (id INTEGER PRIMARY KEY, seq INTEGER)`,
	`CREATE TABLE IF NOT EXISTS _litestream_lock (id INTEGER)`,
	`INSERT INTO _litestream_seq (id, seq) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET seq = seq + 1`,
	`INSERT INTO _litestream_lock (id) VALUES (1)`,
}

// Add runs Litestream's statements on db.
func Add(db *sql.DB) error {
	for _, q := range statements {
		if _, err := db.Exec(q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}
