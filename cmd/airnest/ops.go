package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/airnest/airnest"
	"github.com/airnest/airnest/internal/backend"
)

func (a *app) backupCmd() *cobra.Command {
	var noVerify bool
	cmd := &cobra.Command{
		Use:   "backup FILE DEST",
		Short: "Copy FILE to DEST online, while programs go on writing, then verify the copy",
		Long: `Copy FILE to DEST, which must not exist, with SQLite's online backup API.
The copy is one consistent snapshot: programs may keep reading and writing
FILE meanwhile, even inside a long transaction (their later writes are not
in the copy). It is written
beside DEST, checked with SQLite's quick_check, synced and renamed into
place, so DEST never holds a partial copy. A failure removes the
temporary file; a backup killed mid-copy leaves it behind, hidden as
.DEST.tmp-<random>, for you to delete.

Then DEST is checked as 'airnest verify' does (skip with --no-verify); a
copy that fails makes the command exit with status 1.`,
		Example: "  airnest backup app.db backups/app-$(date +%Y%m%d-%H%M%S).db",
		Args:    exactArgs("FILE", "DEST"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if !backend.IsFile(args[0]) {
				return usagef("backup copies an airnest file; %s is a database server's: back it up with pg_dump (or the server's own backups), or make a local copy with 'airnest copy URL FILE.db'", backend.Redact(args[0]))
			}
			if !backend.IsFile(args[1]) {
				return usagef("backup writes a new file, not %s: copy a file into a database with 'airnest copy FILE URL'", backend.Redact(args[1]))
			}
			if err := checkFile(ctx, args[0]); err != nil {
				return err
			}
			bar := &progress{}
			pages := 0
			start := time.Now()
			err := airnest.BackupFile(ctx, args[0], args[1], &airnest.BackupOptions{Progress: func(copied, total int) {
				if bar.bar == nil && a.showProgress() {
					bar = a.newProgress(int64(total), "backup (pages)", false)
				}
				bar.set(int64(copied))
				pages = total
			}})
			bar.done()
			if err != nil {
				return err
			}
			var bytes int64
			if fi, err := os.Stat(args[1]); err == nil {
				bytes = fi.Size()
			}
			fmt.Fprintf(a.stdout, "backed up %s to %s: %d pages, %s, in %s\n", args[0], args[1], pages, size(bytes), time.Since(start).Round(time.Millisecond))
			if noVerify {
				return nil
			}
			return a.verify(ctx, args[1], false)
		},
	}
	cmd.Flags().BoolVar(&noVerify, "no-verify", false, "do not verify the copy")
	return cmd
}

func (a *app) verifyCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify FILE",
		Short: "Check the file: SQLite integrity, every blob, every index column",
		Long: `Check FILE from one snapshot while programs go on using it: SQLite's
integrity_check and foreign_key_check; for every collection that its
table and index columns exist, that every id is 16 bytes, that every blob
is well-formed CBOR holding the row's ID, that every index column holds
its declared SQL type, and that index columns over fields of built-in
types (strings, numbers, bools, times) equal the blob's field.

Prints a report; exits with status 1 when it found any problem. A program
that knows its Go types can check more with Store.Verify.`,
		Example: "  airnest verify app.db && echo intact",
		Args:    exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.verify(cmd.Context(), args[0], asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// verify checks path and prints the report; a report with problems is an
// error (exit status 1).
func (a *app) verify(ctx context.Context, dsn string, asJSON bool) error {
	// A database that cannot be opened, or a name no program could have
	// declared, is refused before the report prints it; other problems are
	// the report's to describe.
	var oe openError
	if err := checkFile(ctx, dsn); errors.As(err, &oe) || errors.Is(err, airnest.ErrSchema) {
		return err
	}
	path := backend.Redact(dsn)
	stop := a.spinner("verify " + path)
	rep, err := airnest.VerifyFile(ctx, dsn)
	stop()
	if err != nil {
		return err
	}
	if asJSON {
		b, err := marshalJSON(rep, true)
		if err != nil {
			return err
		}
		a.stdout.Write(b)
	} else {
		fmt.Fprintf(a.stdout, "verify %s: %s", path, rep)
	}
	if !rep.OK() {
		return fmt.Errorf("verify %s: %d problems found", path, len(rep.Problems)+rep.Omitted)
	}
	return nil
}

// spinner draws an indeterminate bar until stop is called, for work that
// reports no progress of its own.
func (a *app) spinner(what string) (stop func()) {
	if !a.showProgress() {
		return func() {}
	}
	bar := a.newProgress(-1, what, false)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				bar.tick()
			case <-done:
				return
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		bar.done()
	}
}

func (a *app) statsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stats FILE",
		Short: "Show page counts, free pages, the WAL's size and per-collection sizes",
		Long: `Show the file's page size and page count, the pages on the free list
(which 'airnest vacuum' gives back), the size of the WAL beside it, and for
each collection its row count and the bytes of its stored values. Reads
one snapshot, never writes, and never waits for a program's writes. On a
postgres:// URL the database's size replaces the page figures.`,
		Example: "  airnest stats app.db\n  airnest stats --json app.db",
		Args:    exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := checkFile(ctx, args[0]); err != nil {
				return err
			}
			st, err := airnest.StatsFile(ctx, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				b, err := marshalJSON(st, true)
				if err != nil {
					return err
				}
				_, err = a.stdout.Write(b)
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			if st.PageSize > 0 {
				fmt.Fprintf(tw, "file\t%s\n", st.Path)
				fmt.Fprintf(tw, "journal mode\t%s\n", st.JournalMode)
				fmt.Fprintf(tw, "page size\t%d\n", st.PageSize)
				fmt.Fprintf(tw, "pages\t%d (%s)\n", st.PageCount, size(st.FileBytes))
				fmt.Fprintf(tw, "free pages\t%d (%s)\n", st.FreePages, size(st.FreePages*st.PageSize))
				fmt.Fprintf(tw, "WAL\t%s\n", size(st.WALBytes))
			} else {
				// A server keeps its pages to itself.
				fmt.Fprintf(tw, "database\t%s\n", st.Path)
				fmt.Fprintf(tw, "size\t%s\n", size(st.FileBytes))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout)
			tw = tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "COLLECTION\tROWS\tBLOB BYTES\tAVG BLOB")
			for _, c := range st.Collections {
				avg := "-"
				if c.Rows > 0 {
					avg = size(c.BlobBytes / c.Rows)
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", c.Name, c.Rows, size(c.BlobBytes), avg)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) vacuumCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "vacuum FILE",
		Short: "Rebuild the file to give free pages back and truncate the WAL",
		Long: `Rebuild FILE with SQLite's VACUUM, giving the pages on the free list back
to the operating system and packing rows tighter, then checkpoint and
truncate the WAL. Programs may keep using the file: their writes wait
until the rebuild is done, reads go on; a program that holds the write
lock longer than 5 s makes vacuum fail with a busy error, changing
nothing. Needs free disk space of about twice the file's size.

Prints the database's pages and bytes before and after, how many pages
were reclaimed (from the free list, or by packing rows), the WAL's size
before and after, and the disk space given back.

Under Litestream, a vacuum rewrites every page, so the next replication
uploads the whole file again.`,
		Example: "  airnest vacuum app.db",
		Args:    exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if !backend.IsFile(args[0]) {
				return usagef("vacuum rebuilds an airnest file; %s is a database server's, whose autovacuum gives space back on its own (run VACUUM, or VACUUM FULL, in psql to force it)", backend.Redact(args[0]))
			}
			s, err := openStore(ctx, args[0])
			if err != nil {
				return busy(args[0], err)
			}
			defer s.Close()
			before, err := s.Stats(ctx)
			if err != nil {
				return err
			}
			diskBefore := diskBytes(args[0])
			stop := a.spinner("vacuum " + args[0])
			err = s.Vacuum(ctx)
			stop()
			if err != nil {
				return busy(args[0], err)
			}
			after, err := s.Stats(ctx)
			if err != nil {
				return err
			}
			fmt.Fprint(a.stdout, vacuumReport(args[0], before, after, diskBefore, diskBytes(args[0])))
			return nil
		},
	}
}

// busy says plainly that vacuum found the write lock held by another
// program for longer than the busy timeout, and changed nothing.
func busy(path string, err error) error {
	if errors.Is(err, airnest.ErrBusy) || backend.Classify(err) == backend.Busy {
		return fmt.Errorf("%w: %s: another program held the write lock for more than %s; vacuum changed nothing, try again (%w)", airnest.ErrBusy, path, busyTimeout, err)
	}
	return err
}

// diskBytes is what the file and its WAL take on disk.
func diskBytes(path string) int64 {
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// vacuumReport says what a vacuum did: the database's pages before and
// after, where the reclaimed pages came from (the free list, or rows
// packed tighter), and the disk space the file and its WAL take.
func vacuumReport(path string, before, after *airnest.Stats, diskBefore, diskAfter int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "vacuumed %s\n", path)
	fmt.Fprintf(&b, "  database: %d pages (%s) before, %d pages (%s) after", before.PageCount, size(before.FileBytes), after.PageCount, size(after.FileBytes))
	if n := before.PageCount - after.PageCount; n > 0 {
		free := min(before.FreePages, n)
		fmt.Fprintf(&b, ": %d pages (%s) reclaimed, %d of them free pages and %d by packing rows tighter\n", n, size(n*after.PageSize), free, n-free)
	} else {
		fmt.Fprintf(&b, ": no pages reclaimed, the file was already compact\n")
	}
	fmt.Fprintf(&b, "  WAL: %s before, %s after (checkpointed into the database and truncated)\n", size(before.WALBytes), size(after.WALBytes))
	fmt.Fprintf(&b, "  on disk, database and WAL: %s before, %s after", size(diskBefore), size(diskAfter))
	if n := diskBefore - diskAfter; n > 0 {
		fmt.Fprintf(&b, ": %s given back to the file system\n", size(n))
	} else {
		fmt.Fprintf(&b, ": nothing given back\n")
	}
	return b.String()
}
