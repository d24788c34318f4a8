// Package postgres is airnest's PostgreSQL backend: backend.DB, Conn and
// Stmt over pgx (pgxpool for the connections, pgconn for statements, whose
// values it encodes and decodes itself). Two pools: writers, and readers
// whose sessions are read-only. No pgx type leaves internal/.
//
// Round trips: a statement is prepared once per connection; BEGIN waits
// and travels with the transaction's first statement. A single Save or
// Delete is one round trip (single.go), or two under a context that can
// end; an Update three (its read with BEGIN and the schema version, the
// write, COMMIT); a transaction one per statement plus its COMMIT.
//
// Where PostgreSQL differs from SQLite the backend makes it behave the
// same: a failing statement inside a user's transaction (Exclusive) is
// undone alone, by a savepoint sent in the statement's own round trip; NaN
// is stored as NULL; text compares byte-wise (the dialect's COLLATE "C").
//
// Several processes: every write transaction takes the schema lock
// (Dialect.SchemaLock's key) shared with its BEGIN, before touching any
// table, and a schema sync takes it exclusively first. A write therefore
// never runs with a column list a sync is changing, and the two cannot
// deadlock.
package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

func init() {
	backend.Register(backend.Opener{Name: "postgres", Match: Match, Open: Open, Classify: Classify})
}

// Match reports a postgres:// or postgresql:// URL.
func Match(dsn string) bool {
	l := strings.ToLower(dsn)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// DB is an open PostgreSQL database. It is safe for concurrent use.
type DB struct {
	dialect  *sqlgen.Dialect
	url      string // the URL without its password
	writers  *pgxpool.Pool
	readPool *pgxpool.Pool
	where    string // database, host and user, for error messages

	users   marks // goroutines running user code with a write connection
	readers marks // goroutines holding a reader

	schemaSeen schemaSeen // the schema version one-statement writes guess

	sqlMu sync.Mutex
	sqlDB *sql.DB
}

// defaultConnectTimeout bounds each connection attempt when the URL sets
// no connect_timeout: a server that never answers (a dropped packet, a
// firewall) fails the call instead of hanging for minutes.
const defaultConnectTimeout = 15 * time.Second

// configHook, set by tests, sees the pools' configuration before they open.
var configHook func(writers, readers *pgxpool.Config)

// Open connects to the database at dsn and checks that both pools can
// reach it before ctx ends.
func Open(ctx context.Context, dsn string, cfg backend.Config) (backend.DB, error) {
	ctx = ctxOr(ctx)
	safe := backend.Redact(dsn)
	// pgx reads only a lower-case scheme as a URL; schemes ignore case.
	scheme, rest, _ := strings.Cut(dsn, "://")
	dsn = strings.ToLower(scheme) + "://" + rest
	wc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, parseErr(dsn, safe, err)
	}
	if wc.ConnConfig.ConnectTimeout == 0 {
		wc.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	rc := wc.Copy()
	defaultSize := int32(max(4, 2*runtime.GOMAXPROCS(0)))
	wc.MaxConns, rc.MaxConns = defaultSize, defaultSize
	if cfg.Writers > 0 {
		wc.MaxConns = int32(cfg.Writers)
	}
	if cfg.Readers > 0 {
		rc.MaxConns = int32(cfg.Readers)
	}
	rc.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	if cfg.ReadOnly {
		wc.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	}
	if cfg.BusyTimeout > 0 {
		// How long a statement waits for a row or table lock, as SQLite's
		// busy timeout bounds its wait for the write lock.
		ms := fmt.Sprint(cfg.BusyTimeout.Milliseconds())
		wc.ConnConfig.RuntimeParams["lock_timeout"] = ms
		rc.ConnConfig.RuntimeParams["lock_timeout"] = ms
	}
	if configHook != nil {
		configHook(wc, rc)
	}
	d := &DB{
		dialect: sqlgen.Postgres, url: safe,
		where: fmt.Sprintf("database %q on %s as user %q", wc.ConnConfig.Database, hostOf(wc), wc.ConnConfig.User),
	}
	if d.writers, err = pgxpool.NewWithConfig(ctx, wc); err != nil {
		return nil, parseErr(dsn, safe, err)
	}
	if d.readPool, err = pgxpool.NewWithConfig(ctx, rc); err != nil {
		d.writers.Close()
		return nil, parseErr(dsn, safe, err)
	}
	for _, p := range []*pgxpool.Pool{d.writers, d.readPool} {
		if err := p.Ping(ctx); err != nil {
			d.Close()
			return nil, d.connectErr(ctx, err)
		}
	}
	return d, nil
}

// hostOf names the server of cfg: host:port, or the socket directory.
func hostOf(cfg *pgxpool.Config) string {
	h := cfg.ConnConfig.Host
	if strings.HasPrefix(h, "/") {
		return fmt.Sprintf("the unix socket in %s (port %d)", h, cfg.ConnConfig.Port)
	}
	return fmt.Sprintf("%s:%d", h, cfg.ConnConfig.Port)
}

// Dialect is PostgreSQL's.
func (d *DB) Dialect() *sqlgen.Dialect { return d.dialect }

// SQLDB returns a database/sql handle (pgx's stdlib driver) with
// connections of its own, set up as the writers' are.
func (d *DB) SQLDB() (*sql.DB, error) {
	d.sqlMu.Lock()
	defer d.sqlMu.Unlock()
	if d.sqlDB == nil {
		d.sqlDB = stdlib.OpenDB(*d.writers.Config().ConnConfig.Copy())
	}
	return d.sqlDB, nil
}

// Backup is the server's job on PostgreSQL.
func (d *DB) Backup(ctx context.Context, dest string, opts backend.BackupOptions) error {
	return fmt.Errorf("%w: on PostgreSQL use pg_dump (or the server's own backups or replication) to copy the database", backend.ErrUnsupported)
}

// Vacuum is the server's job on PostgreSQL.
func (d *DB) Vacuum(ctx context.Context) error {
	return fmt.Errorf("%w: PostgreSQL's autovacuum reclaims space on its own; run VACUUM (FULL) in psql to force it", backend.ErrUnsupported)
}

// Info describes the database: its URL without the password and its size.
func (d *DB) Info(bc backend.Conn) (backend.Info, error) {
	info := backend.Info{Path: d.url}
	err := bc.Each("SELECT pg_database_size(current_database())", nil, func(st backend.Stmt) error {
		info.FileBytes = st.ColumnInt64(0)
		return nil
	})
	return info, err
}

// Check has nothing to report: PostgreSQL keeps its consistency checks
// (amcheck, data checksums) to the server's administrators.
func (d *DB) Check(backend.Conn) ([]backend.Problem, error) { return nil, nil }

// Close closes both pools (waiting for lent connections to come back) and
// the database/sql handle.
func (d *DB) Close() error {
	d.sqlMu.Lock()
	var err error
	if d.sqlDB != nil {
		err = d.sqlDB.Close()
		d.sqlDB = nil
	}
	d.sqlMu.Unlock()
	if d.readPool != nil {
		d.readPool.Close()
	}
	if d.writers != nil {
		d.writers.Close()
	}
	return err
}
