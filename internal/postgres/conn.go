package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// conn is airnest's state on one server connection: its prepared
// statements, the context its statements run under, and the transaction
// bookkeeping. It lives as long as the connection (in pgconn's CustomData),
// so statements prepared once serve every later borrower.
type conn struct {
	db     *DB
	pg     *pgconn.PgConn
	pooled *pgxpool.Conn // the pool's handle while lent
	extra  *pgx.Conn     // a reader opened past the pool's size; closed at Release
	holder uintptr       // the goroutine that holds the reader (goid.Current)

	stmts   []*stmt // by backend.Query.ID
	onceSeq int
	ctx     context.Context
	changes int64

	// begin holds BEGIN until the next statement, which carries it to the
	// server in the same round trip.
	begin string
	// user: the connection belongs to Exclusive, whose transactions run
	// user code that may catch a statement's error and go on; each write
	// then runs inside a savepoint that its failure rolls back alone.
	user bool
	// open is the statement whose rows are streaming in; any other use of
	// the connection first reads them into memory.
	open *stmt

	schema   int64
	schemaOK bool
	// shared: the open transaction holds the schema lock shared (see
	// schemaShared), taken with its BEGIN.
	shared bool

	// A one-statement write job (see single.go). guess: SchemaVersion may
	// answer with the version last seen, to be checked by the server with
	// the transaction's first statement; check: it did, and that check has
	// not gone yet. commitFirst: the first writing statement commits with
	// its batch; committed: it did. stale: the check found the
	// schema changed, so the job wrote nothing and must run again.
	guess, check, commitFirst, committed, stale bool
	// versionFirst: a write job's transaction reads the schema version
	// with its BEGIN, where its first statement would not (an Update's
	// read): the write that follows needs it, and a round trip is saved.
	versionFirst bool
	expect       int64
}

const customKey = "airnest"

// connOf returns the airnest state of pg, making it on first use.
func (d *DB) connOf(pg *pgconn.PgConn) *conn {
	if c, ok := pg.CustomData()[customKey].(*conn); ok {
		return c
	}
	c := &conn{db: d, pg: pg, ctx: context.Background()}
	pg.CustomData()[customKey] = c
	return c
}

// Savepoint text guarding one statement of a user transaction.
const (
	spSet  = "SAVEPOINT airnest_stmt"
	spDone = "RELEASE SAVEPOINT airnest_stmt"
	spUndo = "ROLLBACK TO SAVEPOINT airnest_stmt; RELEASE SAVEPOINT airnest_stmt"
)

var (
	qSchemaVersion = backend.NewQuery(sqlgen.Postgres.SchemaVersion)
	qSchemaShared  = backend.NewQuery(sqlgen.Postgres.SchemaShared)
	qBegin         = backend.NewQuery(sqlgen.Postgres.Begin)
	qSpSet         = backend.NewQuery(spSet)
	qSpDone        = backend.NewQuery(spDone)
)

// spill reads the rows of a statement still streaming into memory, so the
// connection can carry another statement.
func (c *conn) spill() {
	if s := c.open; s != nil {
		c.open = nil
		s.buffer()
	}
}

// guarded reports whether s runs inside its own savepoint: in a user
// transaction, a statement that may fail and must leave it usable (a
// Unique clash, as on SQLite), or one of PrepareOnce (QueryRaw's). Not
// every write: past 64 savepoints in one transaction PostgreSQL's
// subtransaction cache overflows and slows every session.
func (c *conn) guarded(s *stmt) bool {
	return c.user && (s.mayFail || s.once) && c.InTx()
}

// start sends s's execution. Alone it streams; with a pending BEGIN, a
// savepoint or the schema lock it goes as one batch (one round trip) whose
// rows are read into memory. The statements around it are prepared once
// per connection, like airnest's own.
func (c *conn) start(s *stmt, pre ...*backend.Query) {
	c.spill()
	if c.committed {
		c.done(s, pgconn.CommandTag{}, errAfterCommit)
		return
	}
	guard := c.guarded(s)
	if c.begin == "" && !guard && len(pre) == 0 {
		s.rr = c.pg.ExecStatement(c.ctx, s.desc, s.params, s.formats, s.results)
		c.open = s
		return
	}
	var check, ver *stmt
	commit := false
	if c.begin != "" {
		// The schema lock goes first, before the transaction touches any
		// table: a schema sync takes it first too, so neither can hold
		// what the other waits for. Then the check of a guessed schema
		// version, before the statement that relies on it.
		var err error
		if check, err = c.checkStmt(); err == nil {
			ver, err = c.versionAlong(s, check)
		}
		if err != nil {
			c.done(s, pgconn.CommandTag{}, err)
			return
		}
		// A statement that ends the job goes without BEGIN: the batch's
		// one Sync commits what ran before it, or rolls it all back.
		commit = c.commitFirst && !s.readOnly
		if commit {
			pre = append([]*backend.Query{qSchemaShared}, pre...)
		} else {
			pre = append([]*backend.Query{qBegin, qSchemaShared}, pre...)
		}
	}
	if guard {
		pre = append(pre, qSpSet)
	}
	post := []*backend.Query{}
	if guard {
		post = append(post, qSpDone)
	}
	var b pgconn.Batch
	for _, q := range pre {
		if err := c.control(&b, q); err != nil {
			c.done(s, pgconn.CommandTag{}, err)
			return
		}
	}
	at, checkAt, verAt := len(pre), -1, -1 // the results of s, the check and the version
	for _, x := range []*stmt{ver, check} {
		if x == nil {
			continue
		}
		b.ExecStatement(x.desc, x.params, x.formats, x.results)
		if x == check {
			checkAt = at
		} else {
			verAt = at
		}
		at++
	}
	b.ExecStatement(s.desc, s.params, s.formats, s.results)
	for _, q := range post {
		if err := c.control(&b, q); err != nil {
			c.done(s, pgconn.CommandTag{}, err)
			return
		}
	}
	if c.begin != "" {
		c.begin, c.shared, c.check = "", true, false // on its way, now that the batch is whole
	}
	mrr := c.pg.ExecBatch(c.ctx, &b)
	var tag pgconn.CommandTag
	var err error
	n := 0 // results read whole
	for ; mrr.NextResult(); n++ {
		rr := mrr.ResultReader()
		if n == verAt && rr.NextRow() {
			ver.row = copyValues(rr.Values())
		}
		if n != at {
			if _, e := rr.Close(); e != nil && err == nil {
				err = e
				break
			}
			continue
		}
		for rr.NextRow() {
			s.rows = append(s.rows, copyValues(rr.Values()))
		}
		if tag, err = rr.Close(); err != nil {
			break
		}
	}
	if e := mrr.Close(); err == nil {
		err = e
	}
	// The check failed whether its error came before its result began
	// (planning) or inside it.
	c.stale = err != nil && n == checkAt && schemaMoved(err)
	if err != nil && guard && c.pg.TxStatus() == 'E' {
		c.simple(context.Background(), spUndo)
	}
	if commit && err == nil {
		c.committed, c.shared = true, false
	}
	if ver != nil && ver.row != nil && err == nil {
		c.schema, c.schemaOK = ver.ColumnInt64(0), true
		c.db.schemaSeen.Store(c.schema)
	}
	if ver != nil {
		ver.row = nil
	}
	c.done(s, tag, err)
}

// control adds q, a statement without parameters or rows, to b.
func (c *conn) control(b *pgconn.Batch, q *backend.Query) error {
	st, err := c.Prepare(q)
	if err != nil {
		return err
	}
	b.ExecStatement(st.(*stmt).desc, nil, nil, nil)
	return nil
}

// done records the end of s's execution.
func (c *conn) done(s *stmt, tag pgconn.CommandTag, err error) {
	if err != nil {
		s.err, s.rows = c.explain(err), s.rows[:0]
		return
	}
	if tag.Insert() || tag.Update() || tag.Delete() || strings.HasPrefix(tag.String(), "MERGE") {
		c.changes = tag.RowsAffected()
	}
}

// explain adds what only the backend knows to a statement's error.
func (c *conn) explain(err error) error {
	var pe *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pe) && pe.Code == "42601" && strings.Contains(pe.Message, "multiple commands"):
		return fmt.Errorf("%w: %w", backend.ErrMultiple, err)
	case Classify(err) == backend.Gone:
		return fmt.Errorf("postgres: lost the connection to %s (the server stopped or closed it; a transaction in progress was rolled back): %w", c.db.where, err)
	}
	return err
}

// simple runs sql (one or more statements) with the simple protocol.
func (c *conn) simple(ctx context.Context, sql string) ([]*pgconn.Result, error) {
	c.spill()
	if c.check && c.begin != "" {
		// A guessed schema version is checked before anything else runs.
		if err := c.verify(); err != nil {
			return nil, err
		}
	}
	if c.begin != "" {
		sql = c.begin + "; " + sql
		c.begin = ""
	}
	res, err := c.pg.Exec(ctx, sql).ReadAll()
	return res, c.explain(err)
}

// Prepare returns the connection's statement for q, preparing it once.
func (c *conn) Prepare(q *backend.Query) (backend.Stmt, error) {
	if q.ID < len(c.stmts) {
		if s := c.stmts[q.ID]; s != nil {
			return s, nil
		}
	} else {
		c.stmts = append(c.stmts, make([]*stmt, q.ID+1-len(c.stmts))...)
	}
	s, err := c.prepare("an"+strconv.Itoa(q.ID), q.SQL, false)
	if err != nil {
		return nil, err
	}
	s.mayFail = q.MayFail
	c.stmts[q.ID] = s
	return s, nil
}

// PrepareOnce prepares sql, one statement, for one use.
func (c *conn) PrepareOnce(sql string) (backend.Stmt, error) {
	if multiple(sql) {
		return nil, fmt.Errorf("%w: %q", backend.ErrMultiple, sql)
	}
	if strings.TrimSpace(strings.Trim(sql, "; \t\r\n")) == "" {
		return nil, fmt.Errorf("%w: empty statement", backend.ErrMultiple)
	}
	c.onceSeq++
	name := "ano" + strconv.Itoa(c.onceSeq)
	if !c.user || !c.InTx() {
		return c.prepare(name, sql, true)
	}
	// A statement the server cannot parse would end a user's transaction.
	if _, err := c.simple(c.ctx, spSet); err != nil {
		return nil, err
	}
	s, err := c.prepare(name, sql, true)
	undo := spDone
	if err != nil {
		undo = spUndo
	}
	if _, e := c.simple(context.Background(), undo); e != nil && err == nil {
		s.Close()
		return nil, e
	}
	return s, err
}

func (c *conn) prepare(name, sql string, once bool) (*stmt, error) {
	c.spill()
	desc, err := c.pg.Prepare(c.ctx, name, sql, nil)
	if err != nil {
		return nil, c.explain(err)
	}
	return newStmt(c, desc, once), nil
}

// Exec runs sql, one or more statements without parameters. BEGIN waits to
// go with the next statement.
func (c *conn) Exec(sql string) error {
	c.schemaOK = false
	if sql == sqlgen.Postgres.SchemaLock {
		// A schema sync: any failure fails it whole, so its statements
		// (one per row in a back-fill) need no savepoint each, which past
		// 64 in one transaction would slow every other session.
		c.user = false
	}
	if sql == sqlgen.Postgres.Begin && c.begin == "" && c.pg.TxStatus() == 'I' {
		c.begin = sql
		return nil
	}
	if sql == sqlgen.Postgres.Commit && c.begin != "" {
		c.begin = "" // nothing ran
		return nil
	}
	res, err := c.simple(c.ctx, sql)
	if c.pg.TxStatus() != 'T' && c.pg.TxStatus() != 'E' {
		c.shared = false
	}
	if err != nil {
		return err
	}
	if sql == sqlgen.Postgres.Commit && len(res) > 0 && res[len(res)-1].CommandTag.String() == "ROLLBACK" {
		return fmt.Errorf("postgres: COMMIT: %w", backend.ErrRolledBack)
	}
	return nil
}

// Each runs one statement with ? placeholders and args bound in order.
func (c *conn) Each(sql string, args []any, row func(backend.Stmt) error) error {
	return c.each(sqlgen.Postgres.Rebind(sql), args, row)
}

// each is Each for SQL with PostgreSQL's own $n parameters.
func (c *conn) each(sql string, args []any, row func(backend.Stmt) error) error {
	return backend.Each(c, sql, args, row)
}

func (c *conn) Changes() int64 { return c.changes }

// InTx reports an open transaction that can still commit: after an error
// PostgreSQL keeps it open but refuses everything but ROLLBACK ('E').
func (c *conn) InTx() bool {
	return c.begin != "" || !c.pg.IsClosed() && c.pg.TxStatus() == 'T'
}

// rollbackTimeout bounds a ROLLBACK, which runs whatever the caller's
// context says: a server that does not answer loses the connection, and
// with it the transaction.
const rollbackTimeout = 10 * time.Second

// Rollback ends the transaction, if any. It clears the interrupt first so
// that ROLLBACK itself runs after the caller's context ended.
func (c *conn) Rollback() error {
	c.spill()
	c.ctx, c.begin, c.schemaOK, c.shared = context.Background(), "", false, false
	c.check, c.committed = false, false
	if c.pg.IsClosed() || c.pg.TxStatus() == 'I' {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), rollbackTimeout)
	defer cancel()
	_, err := c.simple(ctx, "ROLLBACK")
	return err
}

// BeginSnapshot opens a read-only REPEATABLE READ transaction whose
// snapshot is taken at once, by its first statement.
func (c *conn) BeginSnapshot() error {
	c.begin = ""
	_, err := c.simple(c.ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1")
	return err
}

// SchemaVersion reads the schema version once per transaction. Inside a
// transaction it first takes the schema lock shared (see schemaShared) if
// the transaction's BEGIN did not, in the same round trip.
func (c *conn) SchemaVersion() (int64, error) {
	if c.schemaOK && c.InTx() {
		return c.schema, nil
	}
	if v, ok := c.guessSchema(); ok {
		return v, nil
	}
	st, err := c.Prepare(qSchemaVersion)
	if err != nil {
		return 0, fmt.Errorf("reading the schema version: %w", err)
	}
	s := st.(*stmt)
	s.Reset()
	var pre []*backend.Query
	if c.InTx() && !c.shared && c.begin == "" {
		pre = []*backend.Query{qSchemaShared}
	}
	s.running = true
	c.start(s, pre...)
	ok := s.Step()
	v := s.ColumnInt64(0)
	if err := s.Reset(); err != nil {
		return 0, fmt.Errorf("reading the schema version: %w", err)
	}
	if !ok {
		return 0, errors.New("reading the schema version: _airnest_format has no row")
	}
	c.schema, c.schemaOK = v, c.InTx()
	c.db.schemaSeen.Store(v)
	return v, nil
}

// SetInterrupt makes ctx bound the statements that follow.
func (c *conn) SetInterrupt(ctx context.Context) context.Context {
	old := c.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	c.ctx = ctx
	return old
}

// Plan steps the EXPLAIN statement st and returns its lines under the
// header SQLite's backend writes.
func (c *conn) Plan(st backend.Stmt) (string, error) {
	var b strings.Builder
	b.WriteString("QUERY PLAN\n")
	for st.Step() {
		b.WriteString(st.ColumnText(0))
		b.WriteByte('\n')
	}
	if err := st.Err(); err != nil {
		return "", err
	}
	return b.String(), nil
}

// reset makes the connection ready for its next borrower: no rows
// streaming, no transaction, no interrupt.
func (c *conn) reset() {
	c.user, c.guess, c.commitFirst, c.stale, c.versionFirst = false, false, false, false, false
	for _, s := range c.stmts {
		if s != nil && s.running {
			s.Reset()
		}
	}
	if c.open != nil {
		c.open.finish()
	}
	c.Rollback()
}
