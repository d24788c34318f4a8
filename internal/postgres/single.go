package postgres

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
	"github.com/jackc/pgx/v5/pgconn"
)

// A one-statement write job (a Save or a Delete outside a transaction)
// costs one round trip instead of three: the shared schema lock, a check
// of the schema version and the statement go as one batch, which runs as
// one implicit transaction that the batch's Sync commits (or rolls back
// whole after an error), as a single autocommit statement would.
//
// The version is guessed (the last one any connection of this DB read) so
// that the job can plan its statement before the batch goes; the check
// then raises an error on the server when the version differs, which
// skips the rest of the batch, so a stale plan writes nothing and the job
// runs again reading the version. The check runs after the shared schema
// lock, as the read it replaces did, so a schema sync in progress is
// waited for and seen.
//
// The job commits with its batch only when its context cannot end:
// interrupting a batch that commits would leave its outcome unknown.
// Under a context that can end, the job takes two round trips (the batch
// after an explicit BEGIN, then COMMIT, which is not interrupted). A job
// whose first statement reads (a re-plan) opens its transaction with that
// read, the check with it, and commits after its write as any other.

// qSchemaCheck fails (invalid input for an integer: the message says why)
// unless the schema version is $1.
var qSchemaCheck = backend.NewQuery(fmt.Sprintf(
	"SELECT CASE WHEN (%s) = $1 THEN '0' ELSE 'airnest: the schema changed since this connection planned its statement' END::int",
	sqlgen.Postgres.SchemaVersion))

// errAfterCommit: a job that ran as one statement tried a second one.
var errAfterCommit = errors.New("postgres: a statement after the COMMIT of a one-statement write job")

// schemaSeen is the last schema version read on any connection, plus one
// (0: none read yet).
type schemaSeen struct{ v atomic.Int64 }

func (s *schemaSeen) Store(v int64) { s.v.Store(v + 1) }

func (s *schemaSeen) Load() (int64, bool) {
	v := s.v.Load()
	return v - 1, v > 0
}

// guessSchema answers SchemaVersion without a round trip where the job
// allows it and the transaction has not begun on the server: the answer
// is checked by the server with the transaction's first statement.
func (c *conn) guessSchema() (int64, bool) {
	if !c.guess || c.begin == "" {
		return 0, false
	}
	v, ok := c.db.schemaSeen.Load()
	if !ok {
		return 0, false
	}
	c.expect, c.check = v, true
	c.schema, c.schemaOK = v, true
	return v, true
}

// checkStmt returns the check of the guessed schema version, bound, when
// one is due; nil when none is.
func (c *conn) checkStmt() (*stmt, error) {
	if !c.check {
		return nil, nil
	}
	st, err := c.Prepare(qSchemaCheck)
	if err != nil {
		return nil, fmt.Errorf("checking the schema version: %w", err)
	}
	if err := st.BindInt64(1, c.expect); err != nil {
		return nil, err
	}
	return st.(*stmt), nil
}

// verify sends the pending BEGIN and schema check on their own, before a
// statement that cannot carry them (simple-protocol text).
func (c *conn) verify() error {
	st, err := c.Prepare(qSchemaVersion)
	if err != nil {
		return err
	}
	s := st.(*stmt)
	s.Reset()
	s.running = true
	c.start(s)
	return s.Reset()
}

// schemaMoved reports the error of a failed schema check.
func schemaMoved(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "22P02"
}

// writeSingle runs a one-statement job (see above) on c: once with a
// guessed schema version, and again reading it if the guess was stale.
func (d *DB) writeSingle(c *conn, j *backend.Job) error {
	ctx := c.ctx
	for attempt := 0; ; attempt++ {
		c.SetInterrupt(ctx) // a rollback cleared it
		c.guess = attempt == 0
		c.commitFirst = ctx.Done() == nil
		c.stale = false
		err := d.writeTx(c, j)
		if !c.stale || attempt > 0 {
			return err
		}
	}
}

// versionAlong returns the schema-version read to send with the BEGIN
// before s, where the transaction asked for it and nothing else gives the
// version (s is not that read, and no guess is being checked).
func (c *conn) versionAlong(s, check *stmt) (*stmt, error) {
	if !c.versionFirst || check != nil || c.schemaOK {
		return nil, nil
	}
	st, err := c.Prepare(qSchemaVersion)
	if err != nil || st.(*stmt) == s {
		return nil, err
	}
	return st.(*stmt), nil
}
