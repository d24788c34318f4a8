package main

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/gofrs/uuid/v5"
	"github.com/ncruces/go-sqlite3"
)

// baseImpl is what a careful engineer writes by hand on the same driver:
// the same schema, PRAGMAs (see baseConn) and CBOR encoding, statements prepared once and
// reused, one write connection shared under a mutex (each Save its own
// autocommit transaction), and a connection of its own for each reader
// goroutine.
type baseImpl struct {
	path string
	sync string
	pool []baseJob
	ids  [][16]byte

	mu                                     sync.Mutex // guards w, its statements and buf
	w                                      *sqlite3.Conn
	buf                                    bytes.Buffer
	ins, sel, upd, begin, commit, rollback *sqlite3.Stmt

	rmu     sync.Mutex
	readers map[int]*baseReader
}

type baseReader struct {
	c                        *sqlite3.Conn
	load, query, count, scan *sqlite3.Stmt
}

var (
	baseEnc cbor.UserBufferEncMode
	baseDec cbor.DecMode
)

func init() {
	var err error
	if baseEnc, err = (cbor.EncOptions{Sort: cbor.SortCoreDeterministic}).UserBufferEncMode(); err != nil {
		panic(err)
	}
	if baseDec, err = (cbor.DecOptions{}).DecMode(); err != nil {
		panic(err)
	}
}

const baseSchema = `
CREATE TABLE IF NOT EXISTS "Job" (id BLOB PRIMARY KEY NOT NULL, v BLOB NOT NULL, status TEXT, priority INTEGER) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS "Job__status__priority" ON "Job" (status, priority);
CREATE INDEX IF NOT EXISTS "Job__priority" ON "Job" (priority);`

// baseConn opens a connection with the PRAGMAs airnest sets on its own
// (internal/sqlite, Conn.setup): WAL, its checkpoint interval and WAL size
// limit on the writer, foreign keys on, untrusted schema, query_only on
// readers, a 5 s busy timeout and airnest's default 256 MiB heap limit per
// connection.
func baseConn(path, sync string, reader bool) (*sqlite3.Conn, error) {
	c, err := sqlite3.Open("file:" + path)
	if err != nil {
		return nil, err
	}
	if err := c.BusyTimeout(5 * time.Second); err != nil {
		c.Close()
		return nil, err
	}
	c.HardHeapLimit(256 << 20)
	pragmas := "PRAGMA synchronous=" + sync + "; PRAGMA foreign_keys=ON; PRAGMA trusted_schema=OFF;"
	if reader {
		pragmas += " PRAGMA query_only=ON;"
	} else {
		pragmas = "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=4000; PRAGMA journal_size_limit=32768000; " + pragmas
	}
	if err := c.Exec(pragmas); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func prepare(c *sqlite3.Conn, sql string) (*sqlite3.Stmt, error) {
	st, _, err := c.Prepare(sql)
	return st, err
}

func openBaseline(path, sync string, pool []Job) (*baseImpl, error) {
	w, err := baseConn(path, sync, false)
	if err != nil {
		return nil, err
	}
	b := &baseImpl{path: path, sync: sync, w: w, readers: map[int]*baseReader{}}
	for i := range pool {
		b.pool = append(b.pool, toBase(&pool[i], [16]byte{}))
	}
	if err := w.Exec(baseSchema); err != nil {
		w.Close()
		return nil, err
	}
	for _, p := range []struct {
		st  **sqlite3.Stmt
		sql string
	}{
		{&b.ins, `INSERT INTO "Job" (id, v, status, priority) VALUES (?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET v = excluded.v, status = excluded.status, priority = excluded.priority`},
		{&b.sel, `SELECT v FROM "Job" WHERE id = ?`},
		{&b.upd, `UPDATE "Job" SET v = ?, status = ?, priority = ? WHERE id = ?`},
		{&b.begin, `BEGIN IMMEDIATE`},
		{&b.commit, `COMMIT`},
		{&b.rollback, `ROLLBACK`},
	} {
		if *p.st, err = prepare(w, p.sql); err != nil {
			b.Close()
			return nil, err
		}
	}
	return b, nil
}

func (b *baseImpl) Name() string { return "baseline" }

// insert encodes v and runs the upsert; b.mu is held.
func (b *baseImpl) insert(v *baseJob) error {
	b.buf.Reset()
	if err := baseEnc.MarshalToBuffer(v, &b.buf); err != nil {
		return err
	}
	b.ins.BindBlob(1, v.ID[:])
	b.ins.BindBlob(2, b.buf.Bytes())
	b.ins.BindText(3, v.Status)
	b.ins.BindInt64(4, int64(v.Priority))
	return b.ins.Exec()
}

func newID() [16]byte {
	u, err := uuid.NewV7()
	if err != nil {
		panic(err)
	}
	return u
}

// inTx runs fn between BEGIN IMMEDIATE and COMMIT; b.mu is held.
func (b *baseImpl) inTx(fn func() error) error {
	if err := b.begin.Exec(); err != nil {
		return err
	}
	if err := fn(); err != nil {
		b.rollback.Exec()
		return err
	}
	if err := b.commit.Exec(); err != nil {
		b.rollback.Exec()
		return err
	}
	return nil
}

func (b *baseImpl) Preload(n, batch int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return inBatches(n, batch, func(done, m int) error {
		return b.inTx(func() error {
			for i := range m {
				v := b.pool[(done+i)%len(b.pool)]
				v.ID = newID()
				if err := b.insert(&v); err != nil {
					return err
				}
				b.ids = append(b.ids, v.ID)
			}
			return nil
		})
	})
}

func (b *baseImpl) SaveNew(k int) error {
	v := b.pool[k%len(b.pool)]
	v.ID = newID()
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.insert(&v)
}

func (b *baseImpl) SaveBatch(k, n int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inTx(func() error {
		for i := range n {
			v := b.pool[(k+i)%len(b.pool)]
			v.ID = newID()
			if err := b.insert(&v); err != nil {
				return err
			}
		}
		return nil
	})
}

var errNotFound = errors.New("not found")

func (b *baseImpl) Update(i int) error {
	id := b.ids[i%len(b.ids)]
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inTx(func() error {
		b.sel.BindBlob(1, id[:])
		if !b.sel.Step() {
			err := b.sel.Err()
			b.sel.Reset()
			if err == nil {
				err = errNotFound
			}
			return err
		}
		var v baseJob
		err := baseDec.Unmarshal(b.sel.ColumnRawBlob(0), &v)
		b.sel.Reset()
		if err != nil {
			return err
		}
		v.Priority = (v.Priority + 1) % 100
		b.buf.Reset()
		if err := baseEnc.MarshalToBuffer(&v, &b.buf); err != nil {
			return err
		}
		b.upd.BindBlob(1, b.buf.Bytes())
		b.upd.BindText(2, v.Status)
		b.upd.BindInt64(3, int64(v.Priority))
		b.upd.BindBlob(4, id[:])
		return b.upd.Exec()
	})
}

// reader returns goroutine g's connection, opening it on first use.
func (b *baseImpl) reader(g int) (*baseReader, error) {
	b.rmu.Lock()
	defer b.rmu.Unlock()
	if r := b.readers[g]; r != nil {
		return r, nil
	}
	c, err := baseConn(b.path, b.sync, true)
	if err != nil {
		return nil, err
	}
	r := &baseReader{c: c}
	for _, p := range []struct {
		st  **sqlite3.Stmt
		sql string
	}{
		{&r.load, `SELECT v FROM "Job" WHERE id = ?`},
		{&r.query, `SELECT v FROM "Job" WHERE status = ? ORDER BY priority LIMIT 50`},
		{&r.count, `SELECT count(*) FROM "Job" WHERE status = ?`},
		{&r.scan, `SELECT v FROM "Job" ORDER BY id`},
	} {
		if *p.st, err = prepare(c, p.sql); err != nil {
			c.Close()
			return nil, err
		}
	}
	b.readers[g] = r
	return r, nil
}

func (b *baseImpl) Loader(g int) (func(i int) error, error) {
	r, err := b.reader(g)
	if err != nil {
		return nil, err
	}
	return func(i int) error {
		id := b.ids[i%len(b.ids)]
		r.load.BindBlob(1, id[:])
		if !r.load.Step() {
			err := r.load.Err()
			r.load.Reset()
			if err == nil {
				err = errNotFound
			}
			return err
		}
		var v baseJob
		err := baseDec.Unmarshal(r.load.ColumnRawBlob(0), &v)
		r.load.Reset()
		return err
	}, nil
}

func (b *baseImpl) Query(status string) (int, error) {
	r, err := b.reader(0)
	if err != nil {
		return 0, err
	}
	st := r.query
	defer st.Reset()
	st.BindText(1, status)
	var out []baseJob
	for st.Step() {
		var v baseJob
		if err := baseDec.Unmarshal(st.ColumnRawBlob(0), &v); err != nil {
			return 0, err
		}
		out = append(out, v)
	}
	return len(out), st.Err()
}

func (b *baseImpl) Count(status string) (int, error) {
	r, err := b.reader(0)
	if err != nil {
		return 0, err
	}
	st := r.count
	defer st.Reset()
	st.BindText(1, status)
	if !st.Step() {
		return 0, st.Err()
	}
	return int(st.ColumnInt64(0)), nil
}

func (b *baseImpl) Scan() (int, error) {
	r, err := b.reader(0)
	if err != nil {
		return 0, err
	}
	st := r.scan
	defer st.Reset()
	var out []baseJob
	for st.Step() {
		var v baseJob
		if err := baseDec.Unmarshal(st.ColumnRawBlob(0), &v); err != nil {
			return 0, err
		}
		out = append(out, v)
	}
	return len(out), st.Err()
}

func (b *baseImpl) Stream() (int, error) {
	r, err := b.reader(0)
	if err != nil {
		return 0, err
	}
	st := r.scan
	defer st.Reset()
	n := 0
	for st.Step() {
		var v baseJob
		if err := baseDec.Unmarshal(st.ColumnRawBlob(0), &v); err != nil {
			return 0, err
		}
		n++
	}
	return n, st.Err()
}

func (b *baseImpl) Disk() (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return 0, err
	}
	return fileSizes(b.path)
}

func (b *baseImpl) AvgBlob() (float64, error) { return b.one(`SELECT avg(length(v)) FROM "Job"`) }

func (b *baseImpl) Rows() (int, error) {
	n, err := b.one(`SELECT count(*) FROM "Job"`)
	return int(n), err
}

// one runs a query of one number on the write connection.
func (b *baseImpl) one(sql string) (float64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, err := prepare(b.w, sql)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if !st.Step() {
		return 0, fmt.Errorf("%s: %w", sql, st.Err())
	}
	return st.ColumnFloat(0), nil
}

func (b *baseImpl) Close() error {
	var errs []error
	for _, r := range b.readers {
		for _, st := range []*sqlite3.Stmt{r.load, r.query, r.count, r.scan} {
			st.Close()
		}
		errs = append(errs, r.c.Close())
	}
	for _, st := range []*sqlite3.Stmt{b.ins, b.sel, b.upd, b.begin, b.commit, b.rollback} {
		if st != nil {
			st.Close()
		}
	}
	errs = append(errs, b.w.Close())
	return errors.Join(errs...)
}
