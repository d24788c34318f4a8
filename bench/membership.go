package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/airnest/airnest"
)

// The membership workload queries a collection of its own, so that the
// index it needs (a side table per slice) costs the other workloads'
// saves nothing: Tagged values with two tags, one of memberTags rare ones
// (about rows/memberTags values each) and one of four common ones.
type Tagged struct {
	ID   airnest.ID[Tagged]
	Name string
	Tags []string
}

type baseTagged struct {
	ID   [16]byte `cbor:"1,keyasint,omitempty"`
	Name string   `cbor:"2,keyasint,omitempty"`
	Tags []string `cbor:"3,keyasint,omitempty"`
}

const memberTags = 1000

func memberTagsOf(i int) []string {
	return []string{fmt.Sprint("t", i%memberTags), fmt.Sprint("common", i%4)}
}

// memberImpl is an impl that runs the membership workload.
type memberImpl interface {
	// loadMembers saves n Tagged values, once.
	loadMembers(n int) error
	// member finds every value tagged tag, in ID order, and decodes them.
	member(tag string) (int, error)
}

func membershipWorkload(cfg config) workload {
	return workload{fmt.Sprintf("query Contains(tags, ?) (1 value in %d)", memberTags), "queries/s", 0, func(im impl, d time.Duration, r *rand.Rand) (sample, error) {
		mi, ok := im.(memberImpl)
		if !ok {
			return sample{}, errPending
		}
		if err := mi.loadMembers(cfg.rows); err != nil {
			return sample{}, err
		}
		return timed(d, func() (int, error) {
			n, err := mi.member(fmt.Sprint("t", r.IntN(memberTags)))
			if err == nil && n == 0 && cfg.rows >= memberTags {
				err = errors.New("membership query found nothing")
			}
			return 1, err
		})
	}}
}

// airMember is the membership state of one airImpl.
type airMember struct {
	once   sync.Once
	err    error
	tagged *airnest.Coll[Tagged]
}

var airMembers sync.Map // *airImpl -> *airMember

func (a *airImpl) members() *airMember {
	m, _ := airMembers.LoadOrStore(a, &airMember{})
	return m.(*airMember)
}

func (a *airImpl) loadMembers(n int) error {
	m := a.members()
	m.once.Do(func() {
		m.tagged, m.err = airnest.NewCollection[Tagged](a.store, airnest.Index("tags"))
		for done := 0; m.err == nil && done < n; done += txSize {
			m.err = a.store.Tx(a.ctx, func(tx *airnest.Tx) error {
				for i := done; i < min(done+txSize, n); i++ {
					if err := m.tagged.In(tx).Save(a.ctx, &Tagged{Name: fmt.Sprint("v", i), Tags: memberTagsOf(i)}); err != nil {
						return err
					}
				}
				return nil
			})
		}
	})
	return m.err
}

func (a *airImpl) member(tag string) (int, error) {
	got, err := a.members().tagged.Where(airnest.Contains("tags", tag)).Find(a.ctx)
	return len(got), err
}

// baseMember is the membership state of one baseImpl: the hand-written
// side table, filled in the same transaction as the values, and the query
// a careful engineer writes on it: the ids from the side table's key, then
// each value by its key. (The correlated EXISTS form,
// WHERE EXISTS (SELECT 1 FROM "Tagged__tags" s WHERE s.elem = ? AND
// s.id = t.id), makes SQLite read every value and probe the side table for
// each: about 100 times slower at 20,000 values.)
type baseMember struct {
	once  sync.Once
	err   error
	r     *sqlite3.Conn
	query *sqlite3.Stmt
}

var baseMembers sync.Map // *baseImpl -> *baseMember

const baseMemberSchema = `
CREATE TABLE IF NOT EXISTS "Tagged" (id BLOB PRIMARY KEY NOT NULL, v BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS "Tagged__tags" (elem TEXT NOT NULL, id BLOB NOT NULL REFERENCES "Tagged" (id) ON DELETE CASCADE, PRIMARY KEY (elem, id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS "Tagged__tags__id" ON "Tagged__tags" (id);`

const baseMemberQuery = `SELECT v FROM "Tagged" WHERE id IN (SELECT id FROM "Tagged__tags" WHERE elem = ?) ORDER BY id`

func (b *baseImpl) members() *baseMember {
	m, _ := baseMembers.LoadOrStore(b, &baseMember{})
	return m.(*baseMember)
}

func (b *baseImpl) loadMembers(n int) error {
	m := b.members()
	m.once.Do(func() { m.err = b.fillMembers(m, n) })
	return m.err
}

func (b *baseImpl) fillMembers(m *baseMember, n int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.w.Exec(baseMemberSchema); err != nil {
		return err
	}
	ins, err := prepare(b.w, `INSERT INTO "Tagged" (id, v) VALUES (?, ?)`)
	if err != nil {
		return err
	}
	defer ins.Close()
	tag, err := prepare(b.w, `INSERT INTO "Tagged__tags" (elem, id) VALUES (?, ?) ON CONFLICT DO NOTHING`)
	if err != nil {
		return err
	}
	defer tag.Close()
	for done := 0; done < n; done += txSize {
		err := b.inTx(func() error {
			for i := done; i < min(done+txSize, n); i++ {
				v := baseTagged{ID: newID(), Name: fmt.Sprint("v", i), Tags: memberTagsOf(i)}
				b.buf.Reset()
				if err := baseEnc.MarshalToBuffer(&v, &b.buf); err != nil {
					return err
				}
				ins.BindBlob(1, v.ID[:])
				ins.BindBlob(2, b.buf.Bytes())
				if err := ins.Exec(); err != nil {
					return err
				}
				for _, t := range v.Tags {
					tag.BindText(1, t)
					tag.BindBlob(2, v.ID[:])
					if err := tag.Exec(); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if m.r, err = baseConn(b.path, b.sync, true); err != nil {
		return err
	}
	m.query, err = prepare(m.r, baseMemberQuery)
	return err
}

func (b *baseImpl) member(tag string) (int, error) {
	st := b.members().query
	defer st.Reset()
	st.BindText(1, tag)
	var out []baseTagged
	for st.Step() {
		var v baseTagged
		if err := baseDec.Unmarshal(st.ColumnRawBlob(0), &v); err != nil {
			return 0, err
		}
		out = append(out, v)
	}
	return len(out), st.Err()
}
