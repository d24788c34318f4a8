package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airnest/airnest/internal/sqlite"
)

// TestVacuumBusy holds the write lock, as a program in the middle of a
// long transaction does. The commands that only read go on; vacuum waits
// the busy timeout, then fails with a clear busy error and changes nothing.
func TestVacuumBusy(t *testing.T) {
	binary := airnestBin(t)
	db := filepath.Join(t.TempDir(), "app.db")
	seed(t, db, 200)
	c, err := sqlite.Open(context.Background(), fileConfig(db), false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Exec(`BEGIN IMMEDIATE; DELETE FROM "Job"`); err != nil {
		t.Fatal(err)
	}
	// The commands that only read go on, and see the last commit.
	dir := filepath.Dir(db)
	want(t, binary, 0, []string{"Job", "200"}, "ls", db)
	want(t, binary, 0, []string{"Job         200"}, "stats", db)
	want(t, binary, 0, []string{"ok: 2 collections, 202 values"}, "verify", db)
	want(t, binary, 0, []string{"exported Job: 200 values"}, "export", db, filepath.Join(dir, "export"))
	want(t, binary, 0, []string{"ok: 2 collections, 202 values"}, "backup", db, filepath.Join(dir, "copy.db"))
	if n := len(ndjson(t, want(t, binary, 0, nil, "dump", db, "Job").stdout)); n != 200 {
		t.Fatalf("dump while a write transaction is open: %d lines, want 200", n)
	}
	r := run(t, binary, "vacuum", db)
	if r.code != exitProblem || !strings.Contains(r.stderr, "busy") || !strings.Contains(r.stderr, db) || r.stdout != "" {
		t.Fatalf("vacuum while another connection holds the write lock: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if err := c.Exec("ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	want(t, binary, 0, []string{"ok: 2 collections, 202 values"}, "verify", db)
}
