package airnest

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airnest/airnest/codec"
	"github.com/airnest/airnest/internal/backend"
	_ "github.com/airnest/airnest/internal/postgres" // postgres:// URLs
	"github.com/airnest/airnest/internal/sqlgen"
	_ "github.com/airnest/airnest/internal/sqlite" // file paths
)

// Sync is how hard a commit pushes data to stable storage.
type Sync int

const (
	// SyncFull (the default) syncs the WAL on every commit: an acknowledged
	// write survives a crash of the process and a power cut.
	SyncFull Sync = iota
	// SyncNormal syncs only at checkpoints: an acknowledged write survives a
	// crash of the process, but a power cut may lose the last commits. The
	// file stays intact on a disk with power-safe overwrite whose failed
	// syncs keep their writes; the README's Reliability section shows the
	// damage otherwise. Faster for many small commits.
	SyncNormal
	// SyncExtra is SyncFull plus a sync of the directory after the WAL is reset.
	SyncExtra
)

func (s Sync) pragma() (string, error) {
	switch s {
	case SyncFull:
		return "FULL", nil
	case SyncNormal:
		return "NORMAL", nil
	case SyncExtra:
		return "EXTRA", nil
	}
	return "", fmt.Errorf("%w: Options.Sync %d", ErrInvalid, int(s))
}

// Options configures a Store. A nil *Options means the defaults. Each
// field says which database it applies to; the others ignore it.
type Options struct {
	// Sync (SQLite) is the durability of a commit; the zero value is
	// SyncFull. PostgreSQL commits as its server is configured
	// (synchronous_commit, on by default: durable on return).
	Sync Sync
	// Readers (both) is the most reader connections the store opens, each on
	// first need (default: twice GOMAXPROCS, at least 4). Goroutines that
	// find every reader busy wait, idle, while a writer takes the CPU; one
	// that already holds a reader (a read through the store inside View)
	// gets an extra connection instead of waiting for its own.
	Readers int
	// Writers (PostgreSQL) is the most connections that write at once
	// (default: twice GOMAXPROCS, at least 4). On SQLite one connection
	// writes, committing concurrent writes together.
	Writers int
	// BusyTimeout is how long a statement waits for a lock held by another
	// process (SQLite) or session (PostgreSQL: lock_timeout) before failing
	// with ErrBusy (default 5s).
	BusyTimeout time.Duration
	// ConnMemoryLimit (SQLite) caps the heap SQLite may use on each connection, in
	// bytes (default 256 MiB). Each connection runs in its own sandbox.
	ConnMemoryLimit int64
	// MaxBatch (SQLite) bounds how many concurrent writes one group commit carries
	// (default 256).
	MaxBatch int
	// VFS (SQLite) names a registered SQLite VFS to open the file through instead of
	// the operating system's (advanced: fault-injection tests use it).
	VFS string
	// CheckpointPages (SQLite) is how many pages the WAL may hold before the writer
	// copies them back into the database file (a PASSIVE checkpoint, which
	// never blocks readers): default 4000, about 16 MiB. NoCheckpoint leaves
	// checkpoints to an external tool such as Litestream, whose own
	// checkpoints otherwise compete with the writer's (the WAL may then grow
	// larger between the tool's checkpoints); without such a tool the WAL
	// grows until the store closes.
	CheckpointPages int
	// WALSizeLimit (SQLite) is the size in bytes the WAL file is cut back to when it
	// restarts after a checkpoint (SQLite's journal_size_limit). Default:
	// twice the WAL's size at the checkpoint interval (about 31 MiB), so a WAL that
	// grew during a burst or under a replication tool does not keep that
	// size for ever. -1 never truncates it.
	WALSizeLimit int64
}

const (
	defaultBusyTimeout = 5 * time.Second
	defaultMemoryLimit = 256 << 20
)

// Store is one database (an SQLite file, or a PostgreSQL database) holding
// every collection declared on it. Declare it at package level with
// NewStore, declare collections on it, then Open it once the path or URL is
// known.
//
// Store is safe for concurrent use by many goroutines. It logs nothing.
type Store struct {
	mu     sync.Mutex // guards colls, names and opening/closing
	colls  []collInit
	names  map[string]string
	db     backend.DB      // the open database; nil while closed
	d      *sqlgen.Dialect // its SQL dialect
	active sync.Map        // goroutine (goid) → the *Tx whose closure it runs

	gate   atomic.Int64 // in-flight operations, plus the open and closing bits
	closed chan struct{}

	watch hub // wakes Watch loops (watch_hub.go)
}

const (
	gateOpen    = 1 << 62
	gateClosing = 1 << 61
	gateCount   = gateClosing - 1
)

// collInit is what a declared collection does when its store opens.
type collInit interface {
	tableName() string
	objectNames() []string // the table, then its indexes
	init(c backend.Conn, d *sqlgen.Dialect) error
	verify(c backend.Conn, d *sqlgen.Dialect, reg *codec.Registry, rep *VerifyReport) (rows int, err error)
}

// NewStore returns a store that is not open yet. Collections may be declared
// on it right away; their tables are made when the store opens.
func NewStore() *Store {
	return &Store{names: map[string]string{}, closed: make(chan struct{}, 1)}
}

// Open opens (creating if needed) the SQLite file at path, or the
// PostgreSQL database at a postgres:// URL. See Store.Open.
func Open(ctx context.Context, dsn string, opts *Options) (*Store, error) {
	s := NewStore()
	if err := s.Open(ctx, dsn, opts); err != nil {
		return nil, err
	}
	return s, nil
}

// OpenMemory opens a store on a fresh in-memory database, shared by all the
// store's connections and gone when it closes. For tests and scratch state.
func OpenMemory(ctx context.Context, opts *Options) (*Store, error) {
	return Open(ctx, ":memory:", opts)
}

// Open opens the SQLite file at path (":memory:" for an in-memory database),
// in WAL mode, or, given a postgres:// or postgresql:// URL, that PostgreSQL
// database (tables in the connection's current schema: set search_path in
// the URL to choose one). It creates or updates the tables of every
// collection declared so far, in one transaction; on PostgreSQL an advisory
// lock makes several processes opening at once take turns. A file of
// another application (PRAGMA application_id) or a database of a newer
// airnest format fails with ErrSchema naming both; one from before formats
// were recorded is upgraded in place. An unreachable server, a bad URL or
// credentials fail with the driver's error (the password is never
// repeated). It fails if the store is already open; a closed store may be
// opened again, on the same database or another, and its collections are
// set up again on it.
func (s *Store) Open(ctx context.Context, dsn string, opts *Options) error {
	if opts == nil {
		opts = &Options{}
	}
	cfg, err := opts.config()
	if err != nil {
		return err
	}
	opener, ok := backend.For(dsn)
	if !ok {
		return fmt.Errorf("%w: Open: no database understands %q", ErrInvalid, backend.Redact(dsn))
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate.Load()&(gateOpen|gateClosing) != 0 {
		return fmt.Errorf("%w: Open: store is already open", ErrInvalid)
	}
	db, err := opener.Open(ctx, dsn, cfg)
	if err != nil {
		return errorf("airnest: open %s: %w", backend.Redact(dsn), err)
	}
	d := db.Dialect()
	err = db.Exclusive(ctx, func(c backend.Conn) error {
		// Another program's schema change holds the lock this waits for:
		// ctx bounds the wait (BusyTimeout too, where the database has one).
		if ctx.Done() != nil {
			c.SetInterrupt(ctx)
			defer c.SetInterrupt(context.Background())
		}
		return schemaTx(c, d, func() error {
			version, err := readFormat(c, d)
			if err != nil {
				return err
			}
			if err := c.Exec(d.Meta()); err != nil {
				return err
			}
			for _, ci := range s.colls {
				if err := ci.init(c, d); err != nil {
					return err
				}
			}
			return writeFormat(c, d, version)
		})
	})
	if err != nil {
		db.Close()
		if err = ctxErr(ctx, err); kindOf(err) == ErrBusy {
			err = fmt.Errorf("%w: %w", ErrBusy, err)
		}
		return errorf("airnest: open %s: %w", backend.Redact(dsn), err)
	}
	s.db, s.d = db, d
	s.gate.Or(gateOpen)
	return nil
}

// config checks o and turns it into what a backend is opened with.
func (o *Options) config() (backend.Config, error) {
	syncMode, err := o.Sync.pragma()
	if err != nil {
		return backend.Config{}, err
	}
	if err := o.checkWAL(); err != nil {
		return backend.Config{}, err
	}
	cfg := backend.Config{
		Sync:            syncMode,
		Readers:         o.Readers,
		Writers:         o.Writers,
		BusyTimeout:     o.BusyTimeout,
		HeapLimit:       o.ConnMemoryLimit,
		MaxBatch:        o.MaxBatch,
		VFS:             o.VFS,
		CheckpointPages: o.CheckpointPages,
		WALSizeLimit:    o.WALSizeLimit,
	}
	if cfg.BusyTimeout <= 0 {
		cfg.BusyTimeout = defaultBusyTimeout
	}
	if cfg.HeapLimit <= 0 {
		cfg.HeapLimit = defaultMemoryLimit
	}
	if cfg.Readers <= 0 {
		cfg.Readers = max(4, 2*runtime.GOMAXPROCS(0))
	}
	if cfg.Writers <= 0 {
		cfg.Writers = max(4, 2*runtime.GOMAXPROCS(0))
	}
	return cfg, nil
}

// schemaTx runs fn in the write transaction that changes the schema: the
// dialect's lock serializes it across processes, and the schema version
// moves so that other programs replan their writes.
func schemaTx(c backend.Conn, d *sqlgen.Dialect, fn func() error) error {
	return inTx(c, d, func() error {
		if d.SchemaLock != "" {
			if err := c.Exec(d.SchemaLock); err != nil {
				return err
			}
		}
		for _, sql := range []string{d.FormatTable, d.BumpSchema} {
			if sql == "" {
				continue
			}
			if err := c.Exec(sql); err != nil {
				return err
			}
		}
		return fn()
	})
}

// inTx runs fn inside a write transaction on c, rolling back on error.
func inTx(c backend.Conn, d *sqlgen.Dialect, fn func() error) error {
	if err := c.Exec(d.Begin); err != nil {
		return err
	}
	if err := fn(); err != nil {
		c.Rollback()
		return err
	}
	// COMMIT is not interrupted: its outcome must be known.
	c.SetInterrupt(context.Background())
	if err := c.Exec(d.Commit); err != nil {
		c.Rollback()
		return err
	}
	return nil
}

// enter registers an operation; it fails with ErrClosed unless the store is
// open. Every enter is paired with a leave.
func (s *Store) enter() error {
	v := s.gate.Add(1)
	if v&gateOpen == 0 || v&gateClosing != 0 {
		s.leave()
		return ErrClosed // not opened yet, closing, or closed
	}
	return nil
}

func (s *Store) leave() {
	if v := s.gate.Add(-1); v&gateClosing != 0 && v&gateCount == 0 {
		select {
		case s.closed <- struct{}{}:
		default:
		}
	}
}

// Close waits for the operations in flight to finish, then closes the file.
// Later calls on the store, its collections and its iterators return
// ErrClosed until the store is opened again. Closing a closed store is a
// no-op. Called from inside Tx, View, an Update function or anything else
// that is itself an operation in flight, it returns ErrInvalid instead of
// waiting for itself.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.gate.Load()
	if v&gateOpen == 0 || v&gateClosing != 0 {
		return nil
	}
	if s.db.Reentrant() {
		return fmt.Errorf("%w: Close called from inside a transaction would wait for itself", ErrInvalid)
	}
	if s.db.HeldByCaller() {
		return fmt.Errorf("%w: Close called from inside a View (or a Backup's progress function) would wait for itself", ErrInvalid)
	}
	s.gate.Or(gateClosing)
	s.watch.wake() // watchers find the store closing
	for s.gate.Load()&gateCount != 0 {
		<-s.closed
	}
	err := s.db.Close()
	s.db = nil
	// Every operation has left and new ones fail while the bits are set:
	// clearing both makes the store openable again.
	s.gate.And(^int64(gateOpen | gateClosing))
	return err
}

// DB returns a database/sql handle on the same file, every connection set up
// with the store's PRAGMAs, for anything airnest does not do itself. Writes
// through it bypass airnest's index bookkeeping: keep them to tables of your
// own. The handle is closed by Close.
func (s *Store) DB() (*sql.DB, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	return s.db.SQLDB()
}

// register adds a collection declaration; called by Collection.
func (s *Store) register(ci collInit, goType string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := ci.tableName()
	// SQLite compares table and index names ignoring case, in one namespace.
	objs := ci.objectNames()
	for i, o := range objs {
		if other, ok := s.names[strings.ToLower(o)]; ok {
			what := "table name"
			if i > 0 {
				what = fmt.Sprintf("index name %q", o)
			}
			return fmt.Errorf("%w: collection %q: the %s is already used by %s (names may not differ only in case, which SQLite ignores; pin another with airnest.Name)", ErrInvalid, name, what, other)
		}
	}
	if s.gate.Load()&gateClosing != 0 {
		return ErrClosed
	}
	if s.gate.Load()&gateOpen != 0 {
		// Declared after Open: make its table now.
		if s.db.Reentrant() {
			return fmt.Errorf("%w: collection %q declared inside a transaction", ErrInvalid, name)
		}
		err := s.db.Exclusive(context.Background(), func(c backend.Conn) error {
			return schemaTx(c, s.d, func() error { return ci.init(c, s.d) })
		})
		if err != nil {
			return err
		}
	}
	for i, o := range objs {
		s.names[strings.ToLower(o)] = fmt.Sprintf("collection %q (%s)", name, goType)
		if i > 0 {
			s.names[strings.ToLower(o)] = fmt.Sprintf("an index of collection %q (%s)", name, goType)
		}
	}
	s.colls = append(s.colls, ci)
	return nil
}

// readConn takes a reader connection for ctx; give it back with
// s.db.Release.
func (s *Store) readConn(ctx context.Context) (backend.Conn, error) {
	return s.db.Read(ctx)
}
