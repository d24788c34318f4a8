package airnest_test

import (
	"errors"
	"testing"
	"time"

	"github.com/airnest/airnest"
)

// JobStatusInt reads the Job table with Status changed from a string to an int.
type JobStatusInt struct {
	ID     airnest.ID[JobStatusInt]
	Status int
}

// The exact text of a representative error of each sentinel: "airnest: "
// once, the collection and method, the sentinel's words, then the detail,
// ids as UUIDs.
// dbErrorText is the database's part of the errors that carry one.
var dbErrorText = map[string]struct{ conflict, busy string }{
	"sqlite": {
		"sqlite3: constraint failed: UNIQUE constraint failed: Session.user",
		"sqlite3: database is locked",
	},
	"postgres": {
		`ERROR: duplicate key value violates unique constraint "Session__user" (SQLSTATE 23505)`,
		"ERROR: canceling statement due to lock timeout (SQLSTATE 55P03)",
	},
}

func TestErrorText(t *testing.T) {
	t.Parallel()
	eachBackend(t, errorText)
}

func errorText(t *testing.T, dsn string) {
	s, jobs, sessions := testStoreAt(t, dsn, airnest.Index("status"))
	j := Job{Status: "new"}
	if err := jobs.Save(bg, &j); err != nil {
		t.Fatal(err)
	}
	if err := sessions.Save(bg, &Session{User: "ann"}); err != nil {
		t.Fatal(err)
	}
	missing := airnest.NewID[Job]()
	var kept *airnest.Tx
	s.Tx(bg, func(tx *airnest.Tx) error { kept = tx; return nil })

	_, notFound := jobs.Load(bg, missing)
	_, invalid := jobs.Where(airnest.Eq("status", 3)).Find(bg)
	_, raw := jobs.QueryRaw(bg, "SELECT 1")
	_, first := jobs.Where(airnest.Eq("status", "none")).First(bg)
	conflict := sessions.Save(bg, &Session{User: "ann"})

	// A second store on the database sees the Job table as JobStatusInt (a
	// release that dropped the status index), and finds the lock it needs
	// to write held by the first: SQLite's write lock, or PostgreSQL's
	// lock on the row both write.
	s2 := airnest.NewStore()
	vi := airnest.Collection[JobStatusInt](s2, airnest.Name("Job"), airnest.DropIndex("status"))
	if err := s2.Open(bg, dsn, &airnest.Options{BusyTimeout: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	_, schemaErr := vi.Scan(bg)
	var busyErr error
	s.Tx(bg, func(tx *airnest.Tx) error {
		if err := jobs.In(tx).Delete(bg, j.ID); err != nil {
			return err
		}
		busyErr = vi.Save(bg, &JobStatusInt{ID: airnest.ID[JobStatusInt](j.ID)})
		return nil
	})
	dbText := dbErrorText[backendOf(dsn)]
	cases := []struct {
		sentinel error
		err      error
		want     string
	}{
		{airnest.ErrConflict, conflict,
			"airnest: Session.Save: conflict: " + dbText.conflict},
		{airnest.ErrNotFound, notFound, "airnest: Job.Load: not found: id " + missing.String()},
		{airnest.ErrNotFound, first, "airnest: Job.First: not found: no value matches"},
		{airnest.ErrInvalid, invalid, `airnest: Job.Where: invalid: Eq("status"): column "status" is field Status of type string; an int does not fit`},
		{airnest.ErrInvalid, raw, "airnest: Job.QueryRaw: invalid: the statement must select the stored value, column v"},
		{airnest.ErrTxDone, jobs.In(kept).Save(bg, &Job{}), "airnest: Job.Save: transaction already finished"},
		{airnest.ErrSchema, schemaErr, "airnest: Job.Scan: id " + j.ID.String() + `: collection "Job": field "Status": stored string (CBOR UTF-8 text string), now int: cannot decode; convert stored values with airnest.Migrate`},
		{airnest.ErrBusy, busyErr, "airnest: Job.Save: database busy: " + dbText.busy},
	}
	s.Close()
	_, closed := jobs.Load(bg, j.ID)
	cases = append(cases, struct {
		sentinel error
		err      error
		want     string
	}{airnest.ErrClosed, closed, "airnest: Job.Load: store closed"})
	for _, c := range cases {
		if !errors.Is(c.err, c.sentinel) {
			t.Errorf("%v: does not wrap %v", c.err, c.sentinel)
		}
		if c.err == nil || c.err.Error() != c.want {
			t.Errorf("error text\n got: %v\nwant: %s", c.err, c.want)
		}
	}
}
