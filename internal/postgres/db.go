package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/goid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// marks counts, per goroutine (goid.Current), what it is doing with the
// database. Unlike SQLite's single writer, many goroutines hold write
// connections at once, so each is recorded on its own.
type marks struct {
	mu sync.Mutex
	n  map[uintptr]int
}

func (m *marks) add(g uintptr, d int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n == nil {
		m.n = map[uintptr]int{}
	}
	if m.n[g] += d; m.n[g] <= 0 {
		delete(m.n, g)
	}
}

func (m *marks) has(g uintptr) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n[g] > 0
}

// Reentrant reports whether the calling goroutine runs user code with a
// write connection (inside Exclusive, or a Write job marked User).
func (d *DB) Reentrant() bool { return d.users.has(goid.Current()) }

// HeldByCaller reports whether the calling goroutine holds a reader.
func (d *DB) HeldByCaller() bool { return d.readers.has(goid.Current()) }

func ctxOr(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}

// acquire lends a connection of p with its airnest state.
func (d *DB) acquire(ctx context.Context, p *pgxpool.Pool) (*conn, error) {
	pc, err := p.Acquire(ctx)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil, fmt.Errorf("postgres: waiting for a connection: %w", err)
		}
		return nil, d.connectErr(ctx, err)
	}
	c := d.connOf(pc.Conn().PgConn())
	c.pooled, c.ctx = pc, context.Background()
	return c, nil
}

// release gives c back to its pool; the pool destroys a connection left
// closed (a cancelled statement, a server gone) or inside a transaction.
func (d *DB) release(c *conn) {
	c.reset()
	switch {
	case c.extra != nil:
		x := c.extra
		c.extra = nil
		x.Close(context.Background())
	case c.pooled != nil:
		pc := c.pooled
		c.pooled = nil
		pc.Release()
	}
}

// Write runs one job in its own transaction on a write connection: BEGIN
// (sent with the job's first statement), j.Run, COMMIT; a one-statement
// job in one round trip (single.go). A panic in Run rolls back and goes on
// in the caller, on whose goroutine Run runs.
func (d *DB) Write(j *backend.Job) error {
	if d.Reentrant() {
		return backend.ErrReentrant
	}
	ctx := ctxOr(j.Ctx)
	c, err := d.acquire(ctx, d.writers)
	if err != nil {
		return err
	}
	defer d.release(c)
	if j.User {
		g := goid.Current()
		d.users.add(g, 1)
		defer d.users.add(g, -1)
	}
	c.SetInterrupt(ctx)
	if !j.Tx && !j.User {
		return d.writeSingle(c, j)
	}
	c.versionFirst = true
	return d.writeTx(c, j)
}

// writeTx runs j on c between BEGIN and COMMIT.
func (d *DB) writeTx(c *conn, j *backend.Job) error {
	if err := c.Exec(d.dialect.Begin); err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			c.Rollback()
			panic(r)
		}
	}()
	if err := j.Run(c); err != nil {
		c.Rollback()
		return err
	}
	if c.committed {
		c.committed = false // with the job's statement
		return nil
	}
	if !c.InTx() {
		c.Rollback()
		return backend.ErrRolledBack
	}
	// COMMIT is not interrupted: its outcome must be known.
	c.SetInterrupt(context.Background())
	if err := c.Exec(d.dialect.Commit); err != nil {
		c.Rollback()
		return err
	}
	return nil
}

// Exclusive lends fn a write connection with no transaction open; fn runs
// on the caller's goroutine, marked as running user code.
func (d *DB) Exclusive(ctx context.Context, fn func(c backend.Conn) error) error {
	if d.Reentrant() {
		return backend.ErrReentrant
	}
	c, err := d.acquire(ctxOr(ctx), d.writers)
	if err != nil {
		return err
	}
	defer d.release(c)
	g := goid.Current()
	d.users.add(g, 1)
	defer d.users.add(g, -1)
	c.user = true
	return fn(c)
}

// Read lends a read-only connection; ctx's end stops its statements. A
// goroutine that holds a reader already never waits for another (it may be
// waiting for itself): it takes an idle one, or one the pool may still
// open, or else an extra connection that Release closes.
func (d *DB) Read(ctx context.Context) (backend.Conn, error) {
	ctx = ctxOr(ctx)
	g := goid.Current()
	var c *conn
	var err error
	if d.readers.has(g) {
		c, err = d.nestedReader(ctx)
	} else {
		c, err = d.acquire(ctx, d.readPool)
	}
	if err != nil {
		return nil, err
	}
	c.holder = g
	d.readers.add(g, 1)
	c.SetInterrupt(ctx)
	return c, nil
}

func (d *DB) nestedReader(ctx context.Context) (*conn, error) {
	if idle := d.readPool.AcquireAllIdle(ctx); len(idle) > 0 {
		for _, pc := range idle[1:] {
			pc.Release()
		}
		c := d.connOf(idle[0].Conn().PgConn())
		c.pooled, c.ctx = idle[0], context.Background()
		return c, nil
	}
	if d.readPool.Stat().TotalConns() < d.readPool.Config().MaxConns {
		return d.acquire(ctx, d.readPool)
	}
	x, err := pgx.ConnectConfig(ctx, d.readPool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, d.connectErr(ctx, err)
	}
	c := d.connOf(x.PgConn())
	c.extra = x
	return c, nil
}

// Release gives back a connection from Read (from any goroutine).
func (d *DB) Release(bc backend.Conn) {
	c := bc.(*conn)
	d.readers.add(c.holder, -1)
	c.holder = 0
	d.release(c)
}
