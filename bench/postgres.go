package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/airnest/airnest/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

// pgServer resolves -postgres for the run: "start" starts a temporary
// server (stopped by the returned function), anything else is a database
// URL. With two set (-backend postgres), airnest and the hand-written
// baseline each get a database of their own on a started server, or a
// schema of their own (created here) in the given database.
func pgServer(ctx context.Context, spec string, two bool) (air, base string, stop func(), err error) {
	stop = func() {}
	if spec == "start" {
		srv, err := pgtest.Start(ctx)
		if err != nil {
			return "", "", stop, err
		}
		stop = srv.Stop
		if air, err = srv.NewDatabase(ctx); err == nil && two {
			base, err = srv.NewDatabase(ctx)
		}
		return air, base, stop, err
	}
	if !two {
		return spec, "", stop, nil
	}
	c, err := pgx.Connect(ctx, spec)
	if err != nil {
		return "", "", stop, err
	}
	defer c.Close(ctx)
	for _, s := range []string{"airnest_bench", "airnest_bench_pgx"} {
		if _, err := c.Exec(ctx, "CREATE SCHEMA "+s); err != nil {
			return "", "", stop, fmt.Errorf("creating schema %s for the comparison (drop it if a former run left it): %w", s, err)
		}
	}
	return withSearchPath(spec, "airnest_bench"), withSearchPath(spec, "airnest_bench_pgx"), stop, nil
}

// withSearchPath sets the URL's search_path run-time parameter.
func withSearchPath(url, schema string) string {
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "search_path=" + schema
}

// pgSettings prints the server settings the write figures depend on.
func pgSettings(ctx context.Context, o io.Writer, url string, conns int) error {
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	var parts []string
	for _, name := range []string{"server_version", "fsync", "synchronous_commit", "wal_sync_method", "commit_delay", "shared_buffers"} {
		var v string
		if err := c.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&v); err != nil {
			return err
		}
		parts = append(parts, name+"="+v)
	}
	fmt.Fprintf(o, "PostgreSQL over a unix socket or the URL given: %s; %d connections in each pool (airnest: Writers and Readers; pgx: one pgxpool).\n\n",
		strings.Join(parts, ", "), conns)
	return nil
}

// pgTarget is the least ratio airnest ÷ hand-written pgx each workload
// must reach on PostgreSQL (0: none).
func pgTarget(workload string) float64 {
	switch {
	case workload == "single save", strings.HasPrefix(workload, "load by id"),
		strings.HasPrefix(workload, "query "), strings.HasPrefix(workload, "update "),
		strings.HasSuffix(workload, "concurrent savers"):
		return 0.90
	case strings.HasPrefix(workload, "batched save"), strings.HasPrefix(workload, "scan "):
		return 0.85
	}
	return 0
}

// saverScaling prints how much faster airnest's concurrent savers write
// than its single saver, and whether that reaches min.
func saverScaling(o io.Writer, rows []rowResult, min float64) bool {
	var one, many float64
	var name string
	for _, r := range rows {
		switch {
		case r.w.name == "single save":
			one = r.rate[0]
		case strings.HasSuffix(r.w.name, "concurrent savers"):
			many, name = r.rate[0], r.w.name
		}
	}
	if one == 0 || many == 0 {
		return true
	}
	x := many / one
	fmt.Fprintf(o, "airnest's %s ÷ its single save: %.2f× (target ≥ %.0f×%s)\n\n", name, x, min, missed(x < min))
	return x >= min
}

// settle checkpoints, then vacuums and analyzes table (VACUUM right after a
// bulk load can leave the visibility map empty without the checkpoint). A
// user without the right to CHECKPOINT goes without.
func settle(exec func(sql string) error, table string) error {
	exec("CHECKPOINT")
	return exec("VACUUM (ANALYZE) " + table)
}
