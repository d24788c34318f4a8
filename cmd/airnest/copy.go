package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/airnest/airnest"
	"github.com/airnest/airnest/internal/backend"
)

func (a *app) copyCmd() *cobra.Command {
	var overwrite bool
	cmd := &cobra.Command{
		Use:   "copy SRC DST",
		Short: "Copy a whole store between files and PostgreSQL databases, and verify the copy",
		Long: `Copy the whole store at SRC to DST, each an airnest file or a
postgres:// URL: a file to PostgreSQL to move a store up, PostgreSQL to a
file for a local copy or a test fixture, a file to a file for a compact
copy. Every collection's values (the exact stored bytes), index columns
and indexes, key registry and Migrate state are copied; no Go types are
needed.

SRC is read from one snapshot while programs go on using it. DST must be
new or empty, or, with --overwrite, an airnest store, which is replaced
(no program may have a DST file open then). Nothing is half written: a
file is built beside DST and renamed into place, a PostgreSQL database is
written in one transaction, and the copy is verified (the checks of
'airnest verify') before either. Prints one line per collection and the
verification's result; exits with status 1 when the copy failed, leaving
DST as it was.`,
		Example: `  airnest copy app.db 'postgres://app@db.example.com/app'
  airnest copy 'postgres://app@db.example.com/app' fixture.db
  airnest copy --overwrite app.db compact.db`,
		Args: exactArgs("SRC", "DST"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.copy(cmd.Context(), args[0], args[1], overwrite)
		},
	}
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "replace a DST that already holds an airnest store")
	return cmd
}

func (a *app) copy(ctx context.Context, src, dst string, overwrite bool) error {
	opts := &airnest.CopyOptions{Overwrite: overwrite}
	var bar *progress
	if a.showProgress() {
		opts.Progress = func(done, total int64) {
			if bar == nil {
				bar = a.newProgress(total, "copy", false)
			}
			bar.set(done)
		}
	}
	rep, err := airnest.Copy(ctx, src, dst, opts)
	if bar != nil {
		bar.done()
	}
	if err != nil {
		if len(rep.Verify.Problems) > 0 {
			fmt.Fprint(a.stderr, rep.Verify)
		}
		return err
	}
	for _, c := range rep.Collections {
		fmt.Fprintf(a.stdout, "copied %s: %d values\n", c.Name, c.Rows)
	}
	for _, t := range rep.Skipped {
		fmt.Fprintf(a.stdout, "left out table %s: not an airnest store's\n", t)
	}
	summary, _, _ := strings.Cut(rep.Verify.String(), "\n")
	fmt.Fprintf(a.stdout, "verified %s: %s\n", backend.Redact(dst), summary)
	return nil
}
