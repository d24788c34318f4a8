package main

import (
	"context"
	"strings"
	"sync"

	"github.com/airnest/airnest"
	"github.com/ncruces/go-sqlite3"
)

// The predicate-query workload: the jobs of one status whose owner ends in
// "7" (about a tenth of them). Owner is not an index column, so the
// status index narrows the rows and the rest is decided in Go, on every
// decoded value.

func ownerPicked(owner string) bool { return strings.HasSuffix(owner, "7") }

// airMatch is the workload on airnest: an index filter, then Match.
func airMatch(ctx context.Context, jobs *airnest.Coll[Job], status string) (int, error) {
	got, err := jobs.Where(airnest.Eq("status", status)).
		Match(func(j *Job) bool { return ownerPicked(j.Owner) }).Find(ctx)
	return len(got), err
}

// baseMatchStmts holds the baseline's prepared statement per reader.
var baseMatchStmts sync.Map // *baseReader -> *sqlite3.Stmt

// baseMatch is the nearest hand-written SQL: scan the status index in ID
// order, decode every row, keep those the predicate accepts.
func (b *baseImpl) baseMatch(status string) (int, error) {
	r, err := b.reader(0)
	if err != nil {
		return 0, err
	}
	st, ok := baseMatchStmts.Load(r)
	if !ok {
		s, err := prepare(r.c, `SELECT v FROM "Job" WHERE status = ? ORDER BY id`)
		if err != nil {
			return 0, err
		}
		st, _ = baseMatchStmts.LoadOrStore(r, s)
	}
	s := st.(*sqlite3.Stmt)
	defer s.Reset()
	s.BindText(1, status)
	var out []baseJob
	for s.Step() {
		var v baseJob
		if err := baseDec.Unmarshal(s.ColumnRawBlob(0), &v); err != nil {
			return 0, err
		}
		if ownerPicked(v.Owner) {
			out = append(out, v)
		}
	}
	return len(out), s.Err()
}
