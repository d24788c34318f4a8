package airnest

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
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
// On PostgreSQL, Backup returns ErrInvalid naming pg_dump: back up the
// server with its own tools.
//
// Errors: ErrInvalid (dest exists, or appeared meanwhile; PostgreSQL),
// ErrClosed, the context's error, or the file system's or SQLite's error.
func (s *Store) Backup(ctx context.Context, dest string, opts *BackupOptions) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	err := s.db.Backup(ctx, dest, backupOptions(opts))
	if err != nil {
		return errorf("airnest: Backup: %w", ctxErr(ctx, err))
	}
	return nil
}

func backupOptions(o *BackupOptions) backend.BackupOptions {
	if o == nil {
		return backend.BackupOptions{}
	}
	return backend.BackupOptions{Progress: o.Progress, StepPages: o.StepPages}
}

// BackupFile is Store.Backup for the airnest file at path, without opening
// it as a Store: it only reads, so it never waits for a program that holds
// the write lock. It is what 'airnest backup' runs. Given a postgres:// URL
// it returns ErrInvalid naming pg_dump, as Store.Backup does there.
func BackupFile(ctx context.Context, path, dest string, opts *BackupOptions) error {
	db, err := openReadOnly(ctx, path)
	if err != nil {
		return errorf("airnest: Backup %s: %w", backend.Redact(path), err)
	}
	defer db.Close()
	if err := db.Backup(ctx, dest, backupOptions(opts)); err != nil {
		return errorf("airnest: Backup: %w", ctxErr(ctx, err))
	}
	return nil
}

// openReadOnly opens the database at dsn (a file path or a server's URL)
// for the functions that read one without opening it as a Store: one
// reader, nothing written, a missing file an error rather than a new one.
func openReadOnly(ctx context.Context, dsn string) (backend.DB, error) {
	opener, ok := backend.For(dsn)
	if !ok {
		return nil, fmt.Errorf("%w: no database understands %q", ErrInvalid, backend.Redact(dsn))
	}
	cfg, err := (&Options{Readers: 1, Writers: 1}).config()
	if err != nil {
		return nil, err
	}
	cfg.ReadOnly = true
	return opener.Open(ctx, dsn, cfg)
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
	Path    string // a nested field's declared path ("meta.owner"), else ""
	Func    bool   // computed by an IndexFunc
	// ElemsTable, for a slice column (which holds the slice's length), is
	// the side table holding its elements, of SQL type ElemType.
	ElemsTable, ElemType string
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
	defer s.db.Release(conn)
	st, err := statsOn(conn, s.d, s.db.Info)
	if err != nil {
		return nil, errorf("airnest: Stats: %w", ctxErr(ctx, err))
	}
	return st, nil
}

// StatsFile is Store.Stats for the airnest file at dsn, or the PostgreSQL
// database at a postgres:// URL, without opening it as a Store: it only
// reads, so it never waits for a program that holds the write lock. It is
// what 'airnest stats' runs. On PostgreSQL, Path is the URL without its
// password and FileBytes the database's size; the page figures are zero.
func StatsFile(ctx context.Context, dsn string) (*Stats, error) {
	db, err := openReadOnly(ctx, dsn)
	if err != nil {
		return nil, errorf("airnest: Stats %s: %w", backend.Redact(dsn), err)
	}
	defer db.Close()
	conn, err := db.Read(ctx)
	if err != nil {
		return nil, errorf("airnest: Stats %s: %w", backend.Redact(dsn), err)
	}
	defer db.Release(conn)
	st, err := statsOn(conn, db.Dialect(), db.Info)
	if err != nil {
		return nil, errorf("airnest: Stats %s: %w", backend.Redact(dsn), ctxErr(ctx, err))
	}
	return st, nil
}

// statsOn reads the stats in one snapshot: the database's own figures
// from info, then each collection's.
func statsOn(conn backend.Conn, d *sqlgen.Dialect, info func(backend.Conn) (backend.Info, error)) (*Stats, error) {
	if err := conn.BeginSnapshot(); err != nil {
		return nil, err
	}
	defer conn.Rollback()
	in, err := info(conn)
	if err != nil {
		return nil, err
	}
	st := &Stats{Path: in.Path, JournalMode: in.JournalMode, PageSize: in.PageSize, PageCount: in.PageCount,
		FreePages: in.FreePages, FileBytes: in.FileBytes, WALBytes: in.WALBytes}
	err = query(conn, d.Collections(), nil, func(r backend.Stmt) error {
		cs := CollectionStats{Name: r.ColumnText(0), GoType: r.ColumnText(1), Created: time.Unix(0, r.ColumnInt64(3))}
		var sc storedCollection
		if err := json.Unmarshal([]byte(r.ColumnText(2)), &sc); err != nil {
			return fmt.Errorf("collection %q: bookkeeping row: %w", cs.Name, err)
		}
		for _, c := range sc.Columns {
			ic := IndexColumn{Name: c.Name, Type: c.Type, Indexed: c.Indexed, Unique: c.Unique, Path: c.Path, Func: c.Func}
			if c.Elems != nil {
				ic.ElemsTable, ic.ElemType = c.Elems.Table, c.Elems.Type
			}
			cs.Columns = append(cs.Columns, ic)
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
		err := query(conn, sqlgen.Table{Name: cs.Name}.Size(), nil, func(r backend.Stmt) error {
			cs.Rows, cs.BlobBytes = r.ColumnInt64(0), r.ColumnInt64(1)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("collection %q: %w", cs.Name, err)
		}
	}
	return st, nil
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
	if err := s.db.Vacuum(ctx); err != nil {
		return errorf("airnest: Vacuum: %w", ctxErr(ctx, s.writeErr(err)))
	}
	return nil
}
