// Package backend is the seam between airnest's typed API and a database.
//
// The root package plans: Go types, the codec, index columns, queries as a
// tree that internal/sqlgen turns into SQL text for the database's Dialect.
// A backend stores rows and runs that text: it hands out connections (Conn)
// whose prepared statements (Stmt) bind parameters and step through result
// rows, runs writes (Write) and transactions (Exclusive), and does what only
// it knows how to do (Backup, Vacuum, Info, Check). internal/sqlite and
// internal/postgres implement it; a new database is a new folder that
// implements DB, Conn and Stmt and registers an Opener.
package backend

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airnest/airnest/codec"
	"github.com/airnest/airnest/internal/sqlgen"
)

// Type is the type of a result column's value in the current row.
type Type int

const (
	Null Type = iota
	Integer
	Float
	Text
	Blob
)

// String is the SQL name of t as SQLite spells it.
func (t Type) String() string {
	return [...]string{"NULL", "INTEGER", "REAL", "TEXT", "BLOB"}[t]
}

// Stmt is a prepared statement on one Conn. Parameters are numbered from 1,
// columns from 0. Step advances to the next row (false at the end or on an
// error, which Err then returns). Values returned by ColumnRawBlob and
// ColumnText stay valid until the next Step or Reset. Exec runs the
// statement to completion. Reset makes a cached statement ready for its next
// use (bindings are kept); Close frees one from PrepareOnce.
type Stmt interface {
	BindNull(i int) error
	BindInt64(i int, v int64) error
	BindFloat(i int, v float64) error // NaN binds as NULL
	BindText(i int, v string) error
	BindBlob(i int, v []byte) error
	ClearBindings() error
	BindCount() int

	Step() bool
	Err() error
	Exec() error
	Reset() error
	Close() error

	// ReadOnly reports whether the statement cannot write (QueryRaw refuses
	// the others).
	ReadOnly() bool
	ColumnCount() int
	ColumnName(i int) string
	ColumnType(i int) Type
	ColumnInt64(i int) int64
	ColumnInt(i int) int
	ColumnFloat(i int) float64
	ColumnText(i int) string
	ColumnRawBlob(i int) []byte
	// ColumnBlob appends the value to buf and returns it.
	ColumnBlob(i int, buf []byte) []byte
}

// Conn is one database connection, used by one goroutine at a time.
type Conn interface {
	// Prepare returns the connection's cached statement for q, preparing it
	// on first use. The caller Resets it after use.
	Prepare(q *Query) (Stmt, error)
	// PrepareOnce prepares sql for one use; the caller Closes it. More than
	// one statement in sql is an error wrapping ErrMultiple.
	PrepareOnce(sql string) (Stmt, error)
	// Exec runs one or more statements without parameters or result rows.
	// Transaction control text comes from the Dialect (Begin, Commit).
	Exec(sql string) error
	// Each runs one statement with args bound in order (nil, string,
	// int64, float64 or []byte), calling row, if not nil, for each row.
	// For bookkeeping, not hot paths.
	Each(sql string, args []any, row func(Stmt) error) error
	// Changes is how many rows the last completed write statement changed.
	Changes() int64
	// InTx reports whether a transaction is open and usable.
	InTx() bool
	// Rollback ends the open transaction, if any, discarding its writes.
	Rollback() error
	// BeginSnapshot opens a read-only transaction whose snapshot starts at
	// once (View). End it with Rollback.
	BeginSnapshot() error
	// SchemaVersion returns a number that changes whenever any program
	// changes the schema; read inside a write transaction, once per
	// transaction.
	SchemaVersion() (int64, error)
	// SetInterrupt makes ctx's end stop the running statement and returns
	// the previous context; context.Background() clears it.
	SetInterrupt(ctx context.Context) context.Context
	// Plan steps st, prepared from Dialect.Explain and bound, and returns
	// the database's query plan as text, one node per line.
	Plan(st Stmt) (string, error)
}

// Query is SQL text with a process-wide number, so each connection
// prepares it once and finds it again by index, not by hashing the text.
type Query struct {
	SQL string
	ID  int
	// MayFail marks a statement that can fail in a way a transaction must
	// survive (a UNIQUE clash): where a failed statement would end the
	// transaction (PostgreSQL), the backend runs it in a savepoint.
	MayFail bool
}

var querySeq atomic.Int64

// NewQuery registers sql for statement caching.
func NewQuery(sql string) *Query { return &Query{SQL: sql, ID: int(querySeq.Add(1) - 1)} }

// Job is one write. Run executes inside a transaction that the backend
// begins and commits (on SQLite possibly together with other jobs: group
// commit, where a job's failing statement is undone alone).
//
// A job without Tx or User writes with one statement, its last act (it
// may read first), and returns that statement's error: the backend may
// send the COMMIT with it (PostgreSQL does, in one round trip), so nothing
// Run does after it is undone. Such a Run may be called again when its
// first attempt wrote nothing (PostgreSQL, when the schema version it was
// given turned out stale).
type Job struct {
	Ctx  context.Context
	Run  func(c Conn) error
	Tx   bool // needs a transaction even when alone (several statements)
	User bool // Run calls user code (an Update function)
}

// BackupOptions is airnest.BackupOptions.
type BackupOptions struct {
	Progress  func(copied, total int)
	StepPages int
}

// Info is what Store.Stats reports about the database itself.
type Info struct {
	Path        string
	JournalMode string
	PageSize    int64
	PageCount   int64
	FreePages   int64
	FileBytes   int64
	WALBytes    int64
}

// DB is an open database: the connections of one Store.
type DB interface {
	Dialect() *sqlgen.Dialect
	// Write runs one write job and returns its error; a panic in j.Run goes
	// on in the caller.
	Write(j *Job) error
	// Exclusive runs fn with a write connection to itself and no
	// transaction open: fn begins and ends its own (Store.Tx, Open's schema
	// sync, Migrate). fn runs on the caller's goroutine.
	Exclusive(ctx context.Context, fn func(c Conn) error) error
	// Reentrant reports whether the calling goroutine is running user code
	// with the write connection (a write now would wait for itself).
	Reentrant() bool
	// Read lends a connection for reads; ctx's end stops its statements.
	// Give it back with Release.
	Read(ctx context.Context) (Conn, error)
	Release(c Conn)
	// HeldByCaller reports whether the calling goroutine holds a reader.
	HeldByCaller() bool
	// SQLDB returns a database/sql handle on the same database, opened on
	// first call and closed by Close.
	SQLDB() (*sql.DB, error)
	// Backup copies the database to the file dest; ErrUnsupported where the
	// backend has no such copy.
	Backup(ctx context.Context, dest string, opts BackupOptions) error
	// Vacuum gives free space back; ErrUnsupported where that is not the
	// application's job.
	Vacuum(ctx context.Context) error
	// Info describes the database, read on c (inside a snapshot).
	Info(c Conn) (Info, error)
	// Check returns the database's own consistency problems, read on c
	// inside a snapshot (SQLite's integrity_check); none where the server
	// keeps them to itself.
	Check(c Conn) ([]Problem, error)
	Close() error
}

// Notifier is a DB that tells a listener about other processes' commits
// (PostgreSQL's LISTEN/NOTIFY), so watchers need not poll for them.
type Notifier interface {
	// Listen opens a session of its own listening on channel, calls ready
	// once it listens, then notify at each notification, until ctx ends
	// or the session fails; it returns why it stopped and closes the
	// session.
	Listen(ctx context.Context, channel string, ready, notify func()) error
}

// Problem is one finding of DB.Check: the check that found it
// ("integrity", "foreign_key"), the table, and what is wrong.
type Problem struct {
	Check, Table, Detail string
}

// Config is everything a backend may be opened with; each uses the fields
// that apply to it.
type Config struct {
	Sync            string // SQLite: FULL, NORMAL or EXTRA
	Readers         int
	Writers         int // PostgreSQL: most write connections
	BusyTimeout     time.Duration
	HeapLimit       int64
	MaxBatch        int
	VFS             string
	CheckpointPages int
	WALSizeLimit    int64
	// ReadOnly opens an existing database only to read it, for tools: no
	// connection may write, and a SQLite file that does not exist is an
	// error rather than a new file (nor is its journal mode changed).
	ReadOnly bool
}

// Opener opens one kind of database.
type Opener struct {
	Name string
	// Match reports a dsn this backend opens; nil makes it the fallback
	// that opens whatever no other backend matches (SQLite: a file path).
	Match func(dsn string) bool
	Open  func(ctx context.Context, dsn string, cfg Config) (DB, error)
	// File means a dsn is the path of one file that holds the whole
	// database (SQLite): airnest.Copy builds a new one beside it and
	// renames it into place, where a server's database is written in one
	// transaction instead.
	File bool
	// Classify says what kind of failure err is, Other when it is not this
	// backend's error.
	Classify func(err error) Class
}

// Class is a kind of database failure that airnest maps to its sentinels.
type Class int

const (
	Other     Class = iota
	Unique          // a UNIQUE constraint failed
	Busy            // a lock could not be had in time, or a deadlock
	Interrupt       // the statement was stopped by its context
	ReadOnly        // a write was refused on a read-only connection
	Gone            // the server or the connection is not there
)

var (
	mu      sync.RWMutex
	openers []Opener
)

// Register adds a backend; called from the backend's init.
func Register(o Opener) {
	mu.Lock()
	defer mu.Unlock()
	openers = append(openers, o)
}

// For returns the backend that opens dsn: the one whose Match takes it,
// else the fallback.
func For(dsn string) (Opener, bool) {
	mu.RLock()
	defer mu.RUnlock()
	var fallback *Opener
	for i, o := range openers {
		switch {
		case o.Match == nil:
			fallback = &openers[i]
		case o.Match(dsn):
			return o, true
		}
	}
	if fallback != nil {
		return *fallback, true
	}
	return Opener{}, false
}

// IsFile reports whether dsn goes to the fallback backend, which opens
// file paths, rather than to one whose Match takes it (a server's URL).
func IsFile(dsn string) bool {
	o, ok := For(dsn)
	return ok && o.Match == nil
}

// Classify asks every backend what err is.
func Classify(err error) Class {
	if err == nil {
		return Other
	}
	mu.RLock()
	defer mu.RUnlock()
	for _, o := range openers {
		if c := o.Classify(err); c != Other {
			return c
		}
	}
	return Other
}

// Errors a backend returns for airnest to map to its sentinels.
var (
	// ErrUnsupported: the backend cannot do this; the message says what to
	// use instead. It wraps airnest.ErrInvalid.
	ErrUnsupported = fmt.Errorf("%w: not supported by this database", codec.ErrInvalid)
	// ErrReentrant: a write from the goroutine that runs user code with the
	// write connection would wait for itself.
	ErrReentrant = errors.New("write from inside a running transaction")
	// ErrMultiple: SQL text held more than one statement where one was
	// allowed.
	ErrMultiple = errors.New("more than one SQL statement")
	// ErrRolledBack: the database ended the transaction after an error in it.
	ErrRolledBack = errors.New("the database rolled the transaction back after an error inside it")
)
