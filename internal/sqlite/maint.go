package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/airnest/airnest/codec"
	"github.com/airnest/airnest/internal/atomicfile"
	"github.com/airnest/airnest/internal/backend"
)

// defaultBusyTimeout is what connections opened on a path alone wait for a lock.
const defaultBusyTimeout = 5 * time.Second

// OpenReader opens a read-only connection on the existing file at path, for
// tools that read a file without opening it as a store.
func OpenReader(ctx context.Context, path string) (*Conn, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	conn, err := Open(ctx, Config{
		URI:         FileURI(path) + "?mode=ro",
		Synchronous: "NORMAL",
		BusyTimeout: defaultBusyTimeout,
		HeapLimit:   256 << 20,
	}, true)
	if err != nil {
		return nil, err
	}
	if ctx.Done() != nil {
		conn.SetInterrupt(ctx)
	}
	return conn, nil
}

// Backup copies the store to dest: see airnest.Store.Backup.
func (d *DB) Backup(ctx context.Context, dest string, opts backend.BackupOptions) error {
	conn, err := d.R.Get(ctx)
	if err != nil {
		return err
	}
	defer d.R.Put(conn)
	if ctx.Done() != nil {
		conn.SetInterrupt(ctx)
	}
	return Backup(ctx, conn, dest, opts)
}

// Backup copies the database conn reads to the new file dest through a
// temporary file that is checked, synced and renamed: see
// airnest.Store.Backup.
func Backup(ctx context.Context, conn *Conn, dest string, opts backend.BackupOptions) error {
	step := opts.StepPages
	if step <= 0 {
		step = 1024
	}
	// A left-over -wal beside dest would be replayed into the copy.
	for _, p := range []string{dest, dest + "-wal", dest + "-journal"} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%w: %s already exists", codec.ErrInvalid, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	tmp, err := atomicfile.Temp(dest)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			atomicfile.RemoveDB(tmp)
		}
	}()

	// Hold one read snapshot for the whole copy: see Conn.Backup.
	err = conn.BeginSnapshot()
	if err == nil {
		err = conn.Backup(ctx, FileURI(tmp), step, opts.Progress)
	}
	var src string
	if err == nil {
		src, err = conn.mainFile()
	}
	conn.Rollback()
	if err != nil {
		return err
	}
	if err := checkCopy(ctx, tmp); err != nil {
		return fmt.Errorf("the copy failed its check: %w", err)
	}
	// The copy gets the permissions of the original (CreateTemp made it private).
	if fi, err := os.Stat(src); err == nil && src != "" {
		if err := os.Chmod(tmp, fi.Mode().Perm()); err != nil {
			return err
		}
	}
	// A file created at dest while the copy was made is not replaced.
	if err := atomicfile.Publish(tmp, dest); errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %s was created while the copy was made; the copy was not kept", codec.ErrInvalid, dest)
	} else if err != nil {
		return err
	}
	ok = true
	return nil
}

func (c *Conn) mainFile() (string, error) {
	var src string
	err := c.Each("SELECT file FROM pragma_database_list WHERE name = 'main'", nil, func(st backend.Stmt) error {
		src = st.ColumnText(0)
		return nil
	})
	return src, err
}

// checkCopy turns a finished copy into a self-contained file in rollback
// journal mode (the copy's header says WAL, like its source: opened
// read-only it would need a -wal and -shm beside it; airnest.Open turns WAL
// back on) and runs quick_check on it.
func checkCopy(ctx context.Context, path string) error {
	c, err := Open(ctx, Config{URI: FileURI(path), Synchronous: "FULL", BusyTimeout: defaultBusyTimeout}, false)
	if err != nil {
		return err
	}
	var problems []string
	err = c.Exec("PRAGMA journal_mode=DELETE")
	if err == nil {
		err = c.Each("PRAGMA quick_check", nil, func(st backend.Stmt) error {
			if r := st.ColumnText(0); r != "ok" {
				problems = append(problems, r)
			}
			return nil
		})
	}
	err = errors.Join(err, c.Close())
	if err == nil && len(problems) > 0 {
		err = fmt.Errorf("quick_check: %v", problems)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if rmErr := os.Remove(path + suffix); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
			err = errors.Join(err, rmErr)
		}
	}
	return err
}

// Info reads the file's page counts and the WAL's size; c is inside a
// snapshot.
func (d *DB) Info(c backend.Conn) (backend.Info, error) { return Info(c) }

// Info is DB.Info for any SQLite connection.
func Info(c backend.Conn) (backend.Info, error) {
	var st backend.Info
	pragmas := []struct {
		sql string
		to  func(backend.Stmt)
	}{
		{"PRAGMA page_size", func(r backend.Stmt) { st.PageSize = r.ColumnInt64(0) }},
		{"PRAGMA page_count", func(r backend.Stmt) { st.PageCount = r.ColumnInt64(0) }},
		{"PRAGMA freelist_count", func(r backend.Stmt) { st.FreePages = r.ColumnInt64(0) }},
		{"PRAGMA journal_mode", func(r backend.Stmt) { st.JournalMode = r.ColumnText(0) }},
		{"SELECT file FROM pragma_database_list WHERE name = 'main'", func(r backend.Stmt) { st.Path = r.ColumnText(0) }},
	}
	for _, p := range pragmas {
		err := c.Each(p.sql, nil, func(r backend.Stmt) error { p.to(r); return nil })
		if err != nil {
			return st, err
		}
	}
	st.FileBytes = st.PageSize * st.PageCount
	if st.JournalMode == "memory" || st.Path == "" || st.Path == "/" || isMemoryPath(st.Path) {
		st.Path = ""
	}
	if st.Path != "" && st.JournalMode == "wal" {
		if fi, err := os.Stat(st.Path + "-wal"); err == nil {
			st.WALBytes = fi.Size()
		}
	}
	return st, nil
}

// isMemoryPath recognises the names MemoryURI gives in-memory databases.
func isMemoryPath(p string) bool {
	return len(p) > 12 && p[:12] == "/airnest-mem"
}

// Check runs integrity_check and foreign_key_check; c is inside a snapshot.
func (d *DB) Check(c backend.Conn) ([]backend.Problem, error) { return Check(c) }

// Check is DB.Check for any SQLite connection. integrity_check reports
// "ok" alone or up to 100 lines of errors.
func Check(c backend.Conn) ([]backend.Problem, error) {
	var problems []backend.Problem
	err := c.Each("PRAGMA integrity_check", nil, func(st backend.Stmt) error {
		if r := st.ColumnText(0); r != "ok" {
			problems = append(problems, backend.Problem{Check: "integrity", Detail: r})
		}
		return nil
	})
	if err != nil {
		return problems, fmt.Errorf("integrity_check: %w", err)
	}
	err = c.Each("PRAGMA foreign_key_check", nil, func(st backend.Stmt) error {
		problems = append(problems, backend.Problem{Check: "foreign_key", Table: st.ColumnText(0),
			Detail: fmt.Sprintf("row %d refers to a missing row of %s (foreign key %d)", st.ColumnInt64(1), st.ColumnText(2), st.ColumnInt64(3))})
		return nil
	})
	if err != nil {
		return problems, fmt.Errorf("foreign_key_check: %w", err)
	}
	return problems, nil
}

// Vacuum rebuilds the file, then checkpoints and truncates the WAL, holding
// the write connection: see airnest.Store.Vacuum.
func (d *DB) Vacuum(ctx context.Context) error {
	if d.R.HeldByCaller() {
		// The closing checkpoint would wait for the caller's own snapshot.
		return fmt.Errorf("%w: Vacuum called from inside a View would wait for itself", codec.ErrInvalid)
	}
	return d.W.Exclusive(ctx, func(c *Conn) error {
		if ctx.Done() != nil {
			c.SetInterrupt(ctx)
			defer c.SetInterrupt(context.Background())
		}
		if err := c.Exec("VACUUM"); err != nil {
			return err
		}
		return c.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	})
}
