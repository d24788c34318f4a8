// Package sqlite is airnest's only contact with the SQLite driver: connections
// with a prepared-statement cache, the reader pool, the single writer with
// group commit, and error classification. No driver type leaves internal/.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/goid"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"
	_ "github.com/ncruces/go-sqlite3/vfs/mvcc" // in-memory stores
)

// Stmt is a prepared statement owned by one Conn.
type Stmt struct{ *sqlite3.Stmt }

// ColumnType is the type of column i's value in the current row.
func (s *Stmt) ColumnType(i int) backend.Type {
	switch s.Stmt.ColumnType(i) {
	case sqlite3.INTEGER:
		return backend.Integer
	case sqlite3.FLOAT:
		return backend.Float
	case sqlite3.TEXT:
		return backend.Text
	case sqlite3.BLOB:
		return backend.Blob
	}
	return backend.Null
}

// BindFloat binds v; SQLite itself stores NaN as NULL.
func (s *Stmt) BindFloat(i int, v float64) error { return s.Stmt.BindFloat(i, v) }

// Config is what every connection of a store is set up with.
type Config struct {
	URI         string // file: URI, see FileURI and MemoryURI
	Memory      bool   // in-memory database (mvcc VFS): no WAL
	Synchronous string // "FULL" or "NORMAL" (or "OFF", "EXTRA")
	BusyTimeout time.Duration
	// HeapLimit caps the memory SQLite may use on one connection (bytes, 0 = driver default).
	HeapLimit int64
	// CacheSize is PRAGMA cache_size (negative: KiB), 0 = SQLite's default.
	CacheSize int
	// CheckpointPages is PRAGMA wal_autocheckpoint: 0 = DefaultCheckpointPages,
	// negative = no automatic checkpoint (an external tool does them).
	CheckpointPages int
	// WALSizeLimit is PRAGMA journal_size_limit in bytes: 0 = the default
	// (see walSizeLimit), negative = never truncate the WAL.
	WALSizeLimit int64
}

// DefaultCheckpointPages is the writer's checkpoint interval in WAL pages
// (16 MiB of 4 KiB pages) unless the store says otherwise. SQLite's own
// default is 1000: the pages consecutive commits rewrite (the newest leaf,
// index tails) are copied back once per checkpoint, so fewer checkpoints
// write fewer pages. The benchmark baseline uses the same setting.
const DefaultCheckpointPages = 4000

// pageSize is SQLite's default page size, which airnest never changes.
const pageSize = 4096

// checkpointPages is the wal_autocheckpoint value cfg asks for.
func (cfg Config) checkpointPages() int {
	switch {
	case cfg.CheckpointPages < 0:
		return 0
	case cfg.CheckpointPages == 0:
		return DefaultCheckpointPages
	}
	return cfg.CheckpointPages
}

// walSizeLimit is the journal_size_limit cfg asks for. The default is twice
// the WAL's size at the checkpoint interval (about 31 MiB by default; the same when
// checkpoints are left to another tool): in steady state the WAL restarts
// well below it and is never truncated and grown again, while after a burst
// (a long read holding the WAL, a tool checkpointing late) the file shrinks
// back at the next restart instead of keeping its peak size for ever.
func (cfg Config) walSizeLimit() int64 {
	switch {
	case cfg.WALSizeLimit < 0:
		return -1
	case cfg.WALSizeLimit > 0:
		return cfg.WALSizeLimit
	}
	return 2 * pageSize * int64(max(cfg.checkpointPages(), DefaultCheckpointPages))
}

// FileURI turns a path into a file: URI that SQLite opens as exactly that path.
func FileURI(path string) string {
	r := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	return "file:" + r.Replace(path)
}

var memSeq atomic.Uint64

// MemoryURI names a fresh in-memory database shared by all connections of one store.
func MemoryURI() string {
	return fmt.Sprintf("file:/airnest-mem-%d-%d?vfs=mvcc", time.Now().UnixNano(), memSeq.Add(1))
}

// Conn is one SQLite connection. It is not safe for concurrent use: the pool
// and the writer hand it to one goroutine at a time.
type Conn struct {
	c      *sqlite3.Conn
	stmts  []*Stmt        // indexed by Query.ID
	broken bool           // hit the memory limit mid-statement: do not reuse as is
	holder atomic.Uintptr // the goroutine a Pool lent it to (0: idle or not pooled)
	extra  bool           // opened past the pool's cap for a nested read: closed on Put

	// schema caches PRAGMA schema_version for the transaction in progress:
	// while this connection holds the write lock no other can change the
	// schema, so one read per transaction serves every row it writes.
	schema   int64
	schemaOK bool
}

// ErrNoMem: SQLite needed more memory than the connection may use.
var ErrNoMem = errors.New("out of memory: the statement needs more than Options.ConnMemoryLimit")

// isOOM reports the driver's out-of-memory panic value.
func isOOM(r any) bool {
	e, ok := r.(error)
	return ok && e.Error() == "sqlite3: out of memory"
}

// Guard, deferred, turns the driver's out-of-memory panic into an error
// wrapping ErrNoMem and sqlite3.NOMEM, and marks c so that it is reset or
// discarded before its next use. Other panics go on.
func Guard(c *Conn, errp *error) {
	if r := recover(); r != nil {
		if !isOOM(r) {
			panic(r)
		}
		if c != nil {
			c.broken = true
		}
		*errp = fmt.Errorf("%w: %w", ErrNoMem, sqlite3.NOMEM)
	}
}

// IsNoMem reports an out-of-memory error from Guard.
func IsNoMem(err error) bool { return errors.Is(err, sqlite3.NOMEM) }

// Repair makes a connection that hit the memory limit usable again: the
// open transaction is rolled back and every cached statement is finalised,
// to be prepared afresh.
func (c *Conn) Repair() {
	if !c.broken {
		return
	}
	defer func() { recover() }()
	c.c.SetInterrupt(context.Background())
	for i, s := range c.stmts {
		if s != nil {
			s.Close()
			c.stmts[i] = nil
		}
	}
	if !c.c.GetAutocommit() {
		c.c.Exec("ROLLBACK")
	}
	c.broken = false
}

// Open opens one connection and applies cfg. reader makes it query_only.
func Open(ctx context.Context, cfg Config, reader bool) (*Conn, error) {
	c, err := sqlite3.OpenContext(ctx, cfg.URI)
	if err != nil {
		return nil, err
	}
	conn := &Conn{c: c}
	if err := conn.setup(cfg, reader); err != nil {
		c.Close()
		return nil, err
	}
	return conn, nil
}

func (c *Conn) setup(cfg Config, reader bool) error {
	c.c.CommitHook(func() bool { c.schemaOK = false; return true })
	c.c.RollbackHook(func() { c.schemaOK = false })
	if cfg.BusyTimeout > 0 {
		if err := c.c.BusyTimeout(cfg.BusyTimeout); err != nil {
			return err
		}
	}
	if cfg.HeapLimit > 0 {
		c.c.HardHeapLimit(cfg.HeapLimit)
	}
	var b strings.Builder
	if !cfg.Memory && !reader {
		// Only the writer commits, so only its settings decide when the WAL
		// is checkpointed and how far it is truncated when it restarts.
		fmt.Fprintf(&b, "PRAGMA journal_mode=WAL;PRAGMA wal_autocheckpoint=%d;PRAGMA journal_size_limit=%d;",
			cfg.checkpointPages(), cfg.walSizeLimit())
	}
	fmt.Fprintf(&b, "PRAGMA synchronous=%s;PRAGMA foreign_keys=ON;PRAGMA trusted_schema=OFF;", cfg.Synchronous)
	if cfg.CacheSize != 0 {
		fmt.Fprintf(&b, "PRAGMA cache_size=%d;", cfg.CacheSize)
	}
	if reader {
		b.WriteString("PRAGMA query_only=ON;")
	}
	return c.c.Exec(b.String())
}

// Exec runs one or more statements that return no rows. BEGIN IMMEDIATE
// and COMMIT, which every write transaction runs, use cached statements
// instead of being parsed again each time.
func (c *Conn) Exec(sql string) error {
	var q *backend.Query
	switch sql {
	case "BEGIN IMMEDIATE":
		q = qBegin
	case "COMMIT":
		q = qCommit
	default:
		c.schemaOK = false // the statement may change the schema
		return c.c.Exec(sql)
	}
	st, err := c.Prepare(q)
	if err != nil {
		return err
	}
	return st.Exec()
}

// SchemaVersion returns the file's schema cookie, read once per
// transaction: call it inside a write transaction, where only this
// connection's own Exec can change the schema (and Exec forgets the cache).
func (c *Conn) SchemaVersion() (int64, error) {
	if c.schemaOK {
		return c.schema, nil
	}
	st, err := c.Prepare(qSchemaVersion)
	if err != nil {
		return 0, err
	}
	if !st.Step() {
		err := st.Err()
		st.Reset()
		return 0, fmt.Errorf("reading schema_version: %w", err)
	}
	c.schema = st.ColumnInt64(0)
	if err := st.Reset(); err != nil {
		return 0, err
	}
	c.schemaOK = !c.c.GetAutocommit()
	return c.schema, nil
}

var (
	qSchemaVersion = backend.NewQuery("PRAGMA schema_version")
	qBegin         = backend.NewQuery("BEGIN IMMEDIATE")
	qCommit        = backend.NewQuery("COMMIT")
)

// Prepare returns the cached statement for q, preparing it on first use.
func (c *Conn) Prepare(q *backend.Query) (backend.Stmt, error) {
	st, err := c.prepare(q)
	if err != nil {
		return nil, err
	}
	return st, nil
}

func (c *Conn) prepare(q *backend.Query) (*Stmt, error) {
	if q.ID < len(c.stmts) {
		if s := c.stmts[q.ID]; s != nil {
			return s, nil
		}
	} else {
		c.stmts = append(c.stmts, make([]*Stmt, q.ID+1-len(c.stmts))...)
	}
	s, tail, err := c.c.Prepare(q.SQL)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(tail) != "" {
		s.Close()
		return nil, fmt.Errorf("sqlite: more than one statement in %q", q.SQL)
	}
	c.stmts[q.ID] = &Stmt{s}
	return c.stmts[q.ID], nil
}

// PrepareOnce prepares a statement the caller must Close. A second statement in
// sql is an error (backend.ErrMultiple).
func (c *Conn) PrepareOnce(sql string) (backend.Stmt, error) {
	st, err := c.prepareOnce(sql)
	if err != nil {
		return nil, err
	}
	return st, nil
}

func (c *Conn) prepareOnce(sql string) (*Stmt, error) {
	s, tail, err := c.c.Prepare(sql)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, fmt.Errorf("%w: empty statement", backend.ErrMultiple)
	}
	if strings.TrimSpace(strings.Trim(tail, "; \t\r\n")) != "" {
		s.Close()
		return nil, fmt.Errorf("%w: %q", backend.ErrMultiple, tail)
	}
	return &Stmt{s}, nil
}

// Guarded runs fn on c, turning the driver's out-of-memory panic into an
// error (and marking c for repair).
func (c *Conn) Guarded(fn func(backend.Conn) error) (err error) {
	defer Guard(c, &err)
	return fn(c)
}

// SetInterrupt makes a done ctx interrupt the running statement; it returns
// the previous context. Passing context.Background() clears it.
func (c *Conn) SetInterrupt(ctx context.Context) context.Context {
	return c.c.SetInterrupt(ctx)
}

// BeginSnapshot opens a read transaction and starts its snapshot at once
// (a plain BEGIN takes the snapshot only at the first read). End it with
// Rollback.
func (c *Conn) BeginSnapshot() error {
	return c.c.Exec("BEGIN; SELECT count(*) FROM sqlite_schema")
}

// InTx reports whether a transaction is open on the connection.
func (c *Conn) InTx() bool { return !c.c.GetAutocommit() }

// Changes is the number of rows the last statement changed.
func (c *Conn) Changes() int64 { return c.c.Changes() }

// Raw exposes the driver connection to other internal packages.
func (c *Conn) Raw() *sqlite3.Conn { return c.c }

// Close finalises the cached statements and closes the connection.
func (c *Conn) Close() (err error) {
	defer Guard(nil, &err)
	for _, s := range c.stmts {
		if s != nil {
			s.Close()
		}
	}
	c.stmts = nil
	return c.c.Close()
}

// Rollback ends any open transaction, even when the connection's context was
// cancelled: the interrupt is cleared first so ROLLBACK itself runs.
func (c *Conn) Rollback() (err error) {
	defer Guard(c, &err)
	c.c.SetInterrupt(context.Background())
	if c.c.GetAutocommit() {
		return nil
	}
	return c.c.Exec("ROLLBACK")
}

// Version is the SQLite library version the driver embeds, e.g. "3.51.3".
func (c *Conn) Version() (string, error) {
	s, _, err := c.c.Prepare("SELECT sqlite_version()")
	if err != nil {
		return "", err
	}
	defer s.Close()
	if !s.Step() {
		return "", s.Err()
	}
	return s.ColumnText(0), nil
}

// IsUnique reports a UNIQUE or PRIMARY KEY constraint violation.
func IsUnique(err error) bool {
	return errors.Is(err, sqlite3.CONSTRAINT_UNIQUE) || errors.Is(err, sqlite3.CONSTRAINT_PRIMARYKEY)
}

// IsInterrupt reports an interrupted statement.
func IsInterrupt(err error) bool { return errors.Is(err, sqlite3.INTERRUPT) }

// IsBusy reports a lock that could not be taken within the busy timeout.
func IsBusy(err error) bool { return errors.Is(err, sqlite3.BUSY) }

// Pool hands out reader connections, opening at most max of them.
type Pool struct {
	cfg    Config
	idle   chan *Conn
	tokens chan struct{} // one per connection that may still be opened
	mu     sync.Mutex
	all    []*Conn
}

// NewPool makes a pool of at most max readers; none is opened yet.
func NewPool(cfg Config, max int) *Pool {
	p := &Pool{cfg: cfg, idle: make(chan *Conn, max), tokens: make(chan struct{}, max)}
	for range max {
		p.tokens <- struct{}{}
	}
	return p
}

// Get returns an idle reader, opens one if fewer than max exist, or waits.
// A goroutine that already holds a reader never waits (the reader it would
// wait for may be its own): if none is free it gets an extra connection,
// past max, that Put closes.
func (p *Pool) Get(ctx context.Context) (*Conn, error) {
	g := goid.Current()
	select {
	case c := <-p.idle:
		return p.lend(c, g), nil
	default:
	}
	if p.Holds(g) {
		select {
		case <-p.tokens:
			return p.open(ctx, g, false)
		default:
			return p.open(ctx, g, true)
		}
	}
	select {
	case c := <-p.idle:
		return p.lend(c, g), nil
	case <-p.tokens:
		return p.open(ctx, g, false)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *Pool) open(ctx context.Context, g uintptr, extra bool) (*Conn, error) {
	c, err := Open(ctx, p.cfg, true)
	if err != nil {
		if !extra {
			p.tokens <- struct{}{}
		}
		return nil, err
	}
	c.extra = extra
	p.mu.Lock()
	p.all = append(p.all, c)
	p.mu.Unlock()
	return p.lend(c, g), nil
}

// lend marks c as held by goroutine g: one atomic store, so the hot path
// takes no lock; only Holds, on the slow path, looks at every connection.
func (p *Pool) lend(c *Conn, g uintptr) *Conn {
	c.holder.Store(g)
	return c
}

// Holds reports whether goroutine g (goid.Current()) holds a reader of p.
func (p *Pool) Holds(g uintptr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.all {
		if c.holder.Load() == g {
			return true
		}
	}
	return false
}

// HeldByCaller reports whether the calling goroutine holds a reader of p:
// waiting for every reader to come back would wait for itself.
func (p *Pool) HeldByCaller() bool { return p.Holds(goid.Current()) }

// Put returns c to the pool. The caller has reset its statements.
func (p *Pool) Put(c *Conn) {
	c.holder.Store(0)
	if c.broken || c.extra {
		// Out of memory mid-statement: close it and let a fresh one take
		// its place rather than reuse statements in an unknown state. An
		// extra connection is closed to bring the pool back to its cap.
		c.Close()
		p.mu.Lock()
		for i, o := range p.all {
			if o == c {
				p.all = append(p.all[:i], p.all[i+1:]...)
				break
			}
		}
		p.mu.Unlock()
		if !c.extra {
			p.tokens <- struct{}{}
		}
		return
	}
	c.c.SetInterrupt(context.Background())
	if !c.c.GetAutocommit() {
		c.c.Exec("ROLLBACK")
	}
	p.idle <- c
}

// Opened is the number of reader connections opened so far.
func (p *Pool) Opened() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.all)
}

// Close closes every reader. No Get may be running or follow.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for _, c := range p.all {
		errs = append(errs, c.Close())
	}
	p.all = nil
	return errors.Join(errs...)
}

// Each calls fn with every connection opened so far (for tests and Stats);
// it takes them out of the pool one by one so none is in use meanwhile.
func (p *Pool) Each(ctx context.Context, fn func(*Conn) error) error {
	p.mu.Lock()
	n := len(p.all)
	p.mu.Unlock()
	got := make([]*Conn, 0, n)
	g := goid.Current()
	defer func() {
		for _, c := range got {
			p.Put(c)
		}
	}()
	for range n {
		select {
		case c := <-p.idle:
			got = append(got, p.lend(c, g))
			if err := fn(c); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// OpenDB opens a database/sql handle on the same database, every connection
// set up like the store's writer (the same PRAGMAs).
func OpenDB(cfg Config) (*sql.DB, error) {
	return driver.Open(cfg.URI, func(c *sqlite3.Conn) error {
		return (&Conn{c: c}).setup(cfg, false)
	})
}

// Each runs one statement of sql with args bound in order (nil, string,
// int64, float64 or []byte), calling row, if not nil, for each result row.
// For bookkeeping and tools, not hot paths: it prepares sql every time.
func (c *Conn) Each(sql string, args []any, row func(backend.Stmt) error) error {
	return backend.Each(c, sql, args, row)
}
