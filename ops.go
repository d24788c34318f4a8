package airnest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/airnest/airnest/internal/atomicfile"
	"github.com/airnest/airnest/internal/sqlgen"
	"github.com/airnest/airnest/internal/sqlite"
)

// BackupOptions configures Store.Backup. A nil *BackupOptions means the
// defaults.
type BackupOptions struct {
	// Progress, if set, is called after each step of the copy with the
	// pages copied so far and the total, from the goroutine calling Backup.
	Progress func(copied, total int)
	// StepPages is how many pages each step copies (default 1024, 4 MiB
	// with the default page size); it only sets how often Progress is called.
	StepPages int
}

// Backup writes a consistent copy of the whole store to the file dest,
// which must not exist yet (like SQLite's VACUUM INTO). The copy is taken
// with SQLite's online backup API from one read snapshot, so writes by this
// store or by other processes go on meanwhile and are simply not in it.
//
// The copy is written to a temporary file beside dest, checked with
// SQLite's quick_check, synced, and only then renamed to dest: a crash or a
// failure never leaves a partial file at dest. A failure removes the
// temporary file; a process killed mid-copy leaves it behind, hidden as
// .<dest's name>.tmp-<random>, for you to delete. A file created at dest
// while the copy was made is not replaced (ErrInvalid). The copy is a
// normal airnest file; open it like any other.
//
// Errors: ErrInvalid (dest exists, or appeared meanwhile), ErrClosed, the
// context's error, or the file system's or SQLite's error.
func (s *Store) Backup(ctx context.Context, dest string, opts *BackupOptions) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	conn, err := s.readConn(ctx)
	if err != nil {
		return errorf("airnest: Backup: %w", err)
	}
	defer s.rd.Put(conn)
	return backup(ctx, conn, dest, opts)
}

// BackupFile is Store.Backup for the airnest file at path, without opening
// it as a Store: it only reads, so it never waits for a program that holds
// the write lock. It is what 'airnest backup' runs.
func BackupFile(ctx context.Context, path, dest string, opts *BackupOptions) error {
	conn, err := openFileReader(ctx, path)
	if err != nil {
		return errorf("airnest: Backup %s: %w", path, err)
	}
	defer conn.Close()
	return backup(ctx, conn, dest, opts)
}

// openFileReader opens a read-only connection on an existing file.
func openFileReader(ctx context.Context, path string) (*sqlite.Conn, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	conn, err := sqlite.Open(ctx, sqlite.Config{
		URI:         sqlite.FileURI(path) + "?mode=ro",
		Synchronous: "NORMAL",
		BusyTimeout: defaultBusyTimeout,
		HeapLimit:   defaultMemoryLimit,
	}, true)
	if err != nil {
		return nil, err
	}
	if ctx.Done() != nil {
		conn.SetInterrupt(ctx)
	}
	return conn, nil
}

// backup copies the database conn reads to dest: see Store.Backup.
func backup(ctx context.Context, conn *sqlite.Conn, dest string, opts *BackupOptions) error {
	if opts == nil {
		opts = &BackupOptions{}
	}
	step := opts.StepPages
	if step <= 0 {
		step = 1024
	}
	// A left-over -wal beside dest would be replayed into the copy.
	for _, p := range []string{dest, dest + "-wal", dest + "-journal"} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%w: Backup: %s already exists", ErrInvalid, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return errorf("airnest: Backup: %w", err)
		}
	}
	tmp, err := atomicfile.Temp(dest)
	if err != nil {
		return errorf("airnest: Backup: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			atomicfile.RemoveDB(tmp)
		}
	}()

	// Hold one read snapshot for the whole copy: see sqlite.Conn.Backup.
	err = conn.BeginSnapshot()
	if err == nil {
		err = conn.Backup(ctx, sqlite.FileURI(tmp), step, opts.Progress)
	}
	var src string
	if err == nil {
		err = query(conn, "SELECT file FROM pragma_database_list WHERE name = 'main'", nil, func(st *sqlite.Stmt) error {
			src = st.ColumnText(0)
			return nil
		})
	}
	conn.Rollback()
	if err != nil {
		return errorf("airnest: Backup: %w", ctxErr(ctx, err))
	}
	if err := checkCopy(ctx, tmp); err != nil {
		return errorf("airnest: Backup: the copy failed its check: %w", err)
	}
	// The copy gets the permissions of the original (CreateTemp made it private).
	if fi, err := os.Stat(src); err == nil && src != "" {
		if err := os.Chmod(tmp, fi.Mode().Perm()); err != nil {
			return errorf("airnest: Backup: %w", err)
		}
	}
	// A file created at dest while the copy was made is not replaced.
	if err := atomicfile.Publish(tmp, dest); errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: Backup: %s was created while the copy was made; the copy was not kept", ErrInvalid, dest)
	} else if err != nil {
		return errorf("airnest: Backup: %w", err)
	}
	ok = true
	return nil
}

// checkCopy turns a finished copy into a self-contained file in rollback
// journal mode (the copy's header says WAL, like its source: opened
// read-only it would need a -wal and -shm beside it; airnest.Open turns WAL
// back on) and runs quick_check on it.
func checkCopy(ctx context.Context, path string) error {
	c, err := sqlite.Open(ctx, sqlite.Config{URI: sqlite.FileURI(path), Synchronous: "FULL", BusyTimeout: defaultBusyTimeout}, false)
	if err != nil {
		return err
	}
	var problems []string
	err = c.Exec("PRAGMA journal_mode=DELETE")
	if err == nil {
		err = query(c, "PRAGMA quick_check", nil, func(st *sqlite.Stmt) error {
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

// Stats describes the store's file and collections, read in one snapshot.
type Stats struct {
	Path        string // the database file; "" for an in-memory store
	JournalMode string // "wal" for a file
	PageSize    int64  // bytes per page
	PageCount   int64  // pages in the database (FileBytes = PageSize*PageCount)
	FreePages   int64  // pages on the free list, returned to the OS by Vacuum
	FileBytes   int64  // the database's size, without the WAL
	WALBytes    int64  // size of the -wal file beside it, 0 when there is none
	Collections []CollectionStats
}

// CollectionStats describes one collection as stored in the file: every
// collection that was ever opened on it, declared in this program or not.
type CollectionStats struct {
	Name       string // table name
	GoType     string // the Go type that last opened the collection, e.g. "main.Job"
	Created    time.Time
	Columns    []IndexColumn    // index columns, in table order
	Composites []CompositeIndex // indexes over several columns
	Rows       int64
	BlobBytes  int64 // total size of the stored CBOR values
}

// IndexColumn is one typed index column of a collection.
type IndexColumn struct {
	Name    string
	Type    string // INTEGER, REAL, TEXT or BLOB
	Indexed bool   // has a single-column index of its own
	Unique  bool   // that index is UNIQUE
}

// CompositeIndex is an index over several columns, in order.
type CompositeIndex struct {
	Columns []string
	Unique  bool
}

// Stats reads the file's page counts, the WAL's size and each collection's
// row count and blob bytes. It counts every row, so it takes time in
// proportion to the number of values. Errors: ErrClosed, the context's
// error, or SQLite's.
func (s *Store) Stats(ctx context.Context) (*Stats, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	conn, err := s.readConn(ctx)
	if err != nil {
		return nil, errorf("airnest: Stats: %w", err)
	}
	defer s.rd.Put(conn)
	st, err := statsOn(conn)
	if err != nil {
		return nil, errorf("airnest: Stats: %w", ctxErr(ctx, err))
	}
	return st, nil
}

// StatsFile is Store.Stats for the airnest file at path, without opening
// it as a Store: it only reads, so it never waits for a program that holds
// the write lock. It is what 'airnest stats' runs.
func StatsFile(ctx context.Context, path string) (*Stats, error) {
	conn, err := openFileReader(ctx, path)
	if err != nil {
		return nil, errorf("airnest: Stats %s: %w", path, err)
	}
	defer conn.Close()
	st, err := statsOn(conn)
	if err != nil {
		return nil, errorf("airnest: Stats %s: %w", path, err)
	}
	return st, nil
}

// statsOn reads the stats in one snapshot, then the WAL's size.
func statsOn(conn *sqlite.Conn) (*Stats, error) {
	st, err := readStats(conn)
	conn.Rollback()
	if err != nil {
		return nil, err
	}
	if st.Path != "" && st.JournalMode == "wal" {
		if fi, err := os.Stat(st.Path + "-wal"); err == nil {
			st.WALBytes = fi.Size()
		}
	}
	return st, nil
}

func readStats(conn *sqlite.Conn) (*Stats, error) {
	if err := conn.BeginSnapshot(); err != nil {
		return nil, err
	}
	st := &Stats{}
	pragmas := []struct {
		sql string
		to  func(*sqlite.Stmt)
	}{
		{"PRAGMA page_size", func(r *sqlite.Stmt) { st.PageSize = r.ColumnInt64(0) }},
		{"PRAGMA page_count", func(r *sqlite.Stmt) { st.PageCount = r.ColumnInt64(0) }},
		{"PRAGMA freelist_count", func(r *sqlite.Stmt) { st.FreePages = r.ColumnInt64(0) }},
		{"PRAGMA journal_mode", func(r *sqlite.Stmt) { st.JournalMode = r.ColumnText(0) }},
		{"SELECT file FROM pragma_database_list WHERE name = 'main'", func(r *sqlite.Stmt) { st.Path = r.ColumnText(0) }},
	}
	for _, p := range pragmas {
		err := query(conn, p.sql, nil, func(r *sqlite.Stmt) error { p.to(r); return nil })
		if err != nil {
			return nil, err
		}
	}
	st.FileBytes = st.PageSize * st.PageCount
	if st.JournalMode == "memory" || st.Path == "" || st.Path == "/" || isMemoryPath(st.Path) {
		st.Path = ""
	}
	err := query(conn, "SELECT name, go_type, columns, created FROM _airnest_collections ORDER BY name", nil, func(r *sqlite.Stmt) error {
		cs := CollectionStats{Name: r.ColumnText(0), GoType: r.ColumnText(1), Created: time.Unix(0, r.ColumnInt64(3))}
		var sc storedCollection
		if err := json.Unmarshal([]byte(r.ColumnText(2)), &sc); err != nil {
			return fmt.Errorf("collection %q: bookkeeping row: %w", cs.Name, err)
		}
		for _, c := range sc.Columns {
			cs.Columns = append(cs.Columns, IndexColumn(c))
		}
		for _, c := range sc.Composites {
			cs.Composites = append(cs.Composites, CompositeIndex(c))
		}
		st.Collections = append(st.Collections, cs)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range st.Collections {
		cs := &st.Collections[i]
		q := fmt.Sprintf("SELECT count(*), coalesce(sum(length(v)), 0) FROM %s", sqlgen.Quote(cs.Name))
		err := query(conn, q, nil, func(r *sqlite.Stmt) error {
			cs.Rows, cs.BlobBytes = r.ColumnInt64(0), r.ColumnInt64(1)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("collection %q: %w", cs.Name, err)
		}
	}
	return st, nil
}

// isMemoryPath recognises the names MemoryURI gives in-memory databases.
func isMemoryPath(p string) bool {
	return len(p) > 12 && p[:12] == "/airnest-mem"
}

// Vacuum rebuilds the file to give free pages back to the operating system
// and defragment it, then checkpoints and truncates the WAL. It holds the
// store's write connection for the duration (other writes wait) and needs
// free disk space of about twice the file's size. Readers go on.
// Errors: ErrClosed, ErrInvalid (called from inside a Tx or a View), the context's
// error, or SQLite's (busy when another process holds a write lock for
// longer than the busy timeout).
func (s *Store) Vacuum(ctx context.Context) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if s.rd.HeldByCaller() {
		// The closing checkpoint would wait for the caller's own snapshot.
		return fmt.Errorf("%w: Vacuum called from inside a View would wait for itself", ErrInvalid)
	}
	err := s.w.Exclusive(ctx, func(c *sqlite.Conn) error {
		if ctx.Done() != nil {
			c.SetInterrupt(ctx)
			defer c.SetInterrupt(context.Background())
		}
		if err := c.Exec("VACUUM"); err != nil {
			return err
		}
		return c.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	})
	if err != nil {
		return errorf("airnest: Vacuum: %w", ctxErr(ctx, s.writeErr(err)))
	}
	return nil
}
