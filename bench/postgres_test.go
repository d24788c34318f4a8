package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/airnest/airnest/internal/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.StopShared()
	os.Exit(code)
}

// TestShortPostgres runs the PostgreSQL comparison in its tiny size.
func TestShortPostgres(t *testing.T) {
	var out bytes.Buffer
	cfg := config{impls: "both", syncs: []string{"FULL"}, workers: 8, conns: 4, out: &out, dir: t.TempDir(),
		postgres: pgtest.Database(t), pgBase: pgtest.Database(t)}.tinyConfig()
	cfg.scale = false
	if _, err := runCompare(context.Background(), cfg, cfg.dir); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"## PostgreSQL, 2000 rows preloaded", "| airnest | hand-written pgx |", "synchronous_commit=on",
		"fsync=on", "| single save |", "| 8 concurrent savers |", "8 concurrent savers ÷ its single save", "| ≥ 0.85 |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
