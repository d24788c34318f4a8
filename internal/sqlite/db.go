package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
	"github.com/ncruces/go-sqlite3"
)

func init() {
	backend.Register(backend.Opener{
		Name:     "sqlite",
		Match:    nil, // a path: whatever no other backend takes
		Open:     openDB,
		File:     true,
		Classify: classify,
	})
}

func classify(err error) backend.Class {
	switch {
	case IsUnique(err):
		return backend.Unique
	case IsBusy(err):
		return backend.Busy
	case IsInterrupt(err):
		return backend.Interrupt
	case errors.Is(err, sqlite3.READONLY):
		return backend.ReadOnly
	}
	return backend.Other
}

// DB is an open SQLite database: one writer with group commit and a pool
// of readers. It implements backend.DB.
type DB struct {
	Cfg Config
	W   *Writer
	R   *Pool

	mu    sync.Mutex
	sqldb *sql.DB
}

// ConfigFor turns a path (":memory:" for an in-memory database) and a
// backend.Config into this package's Config.
func ConfigFor(path string, bc backend.Config) Config {
	cfg := Config{
		URI:             FileURI(path),
		Synchronous:     bc.Sync,
		BusyTimeout:     bc.BusyTimeout,
		HeapLimit:       bc.HeapLimit,
		CheckpointPages: bc.CheckpointPages,
		WALSizeLimit:    bc.WALSizeLimit,
	}
	if path == ":memory:" {
		cfg.URI, cfg.Memory = MemoryURI(), true
	} else if bc.VFS != "" {
		cfg.URI += "?vfs=" + url.QueryEscape(bc.VFS)
	}
	return cfg
}

func openDB(ctx context.Context, path string, bc backend.Config) (backend.DB, error) {
	cfg := ConfigFor(path, bc)
	if bc.ReadOnly && !cfg.Memory {
		// Opening would create a missing file.
		fi, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		if fi.IsDir() {
			return nil, fmt.Errorf("%s is a directory, not a database file", path)
		}
	}
	// A read-only store's writer is set up as a reader: it never turns the
	// file's WAL mode on, and refuses to write.
	wc, err := Open(ctx, cfg, bc.ReadOnly)
	if err != nil {
		return nil, err
	}
	w := NewWriter(wc)
	if bc.MaxBatch > 0 {
		w.MaxBatch = bc.MaxBatch
	}
	return &DB{Cfg: cfg, W: w, R: NewPool(cfg, bc.Readers)}, nil
}

func (d *DB) Dialect() *sqlgen.Dialect { return sqlgen.SQLite }

// Write runs j through the group-commit queue.
func (d *DB) Write(bj *backend.Job) error {
	j := NewJob()
	j.Ctx, j.Run, j.Tx, j.User = bj.Ctx, bj.Run, bj.Tx, bj.User
	err := d.W.Do(j)
	j.Release()
	return err
}

func (d *DB) Exclusive(ctx context.Context, fn func(backend.Conn) error) error {
	return d.W.Exclusive(ctx, func(c *Conn) error { return fn(c) })
}

func (d *DB) Reentrant() bool { return d.W.Reentrant() }

// Read lends a reader whose statements ctx interrupts.
func (d *DB) Read(ctx context.Context) (backend.Conn, error) {
	c, err := d.R.Get(ctx)
	if err != nil {
		return nil, err
	}
	if ctx.Done() != nil {
		c.SetInterrupt(ctx)
	}
	return c, nil
}

func (d *DB) Release(c backend.Conn) { d.R.Put(c.(*Conn)) }

func (d *DB) HeldByCaller() bool { return d.R.HeldByCaller() }

func (d *DB) SQLDB() (*sql.DB, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sqldb == nil {
		db, err := OpenDB(d.Cfg)
		if err != nil {
			return nil, err
		}
		d.sqldb = db
	}
	return d.sqldb, nil
}

func (d *DB) Close() error {
	var errs []error
	d.mu.Lock()
	if d.sqldb != nil {
		errs = append(errs, d.sqldb.Close())
		d.sqldb = nil
	}
	d.mu.Unlock()
	return errors.Join(append(errs, d.R.Close(), d.W.Close())...)
}
