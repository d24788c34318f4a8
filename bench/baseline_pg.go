package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/airnest/airnest"
	"github.com/airnest/airnest/internal/sqlgen"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgBaseImpl is what a competent pgx user writes by hand against the table
// airnest itself creates (so the schema, indexes and collation are the
// same): one pgxpool, pgx's own statement cache (each statement prepared
// once per connection), a single save one autocommit upsert, a batch one
// transaction of upserts, a read-modify-write SELECT ... FOR UPDATE and
// UPDATE in one transaction, and the same CBOR encoding as the SQLite
// baseline.
type pgBaseImpl struct {
	ctx  context.Context
	pool *pgxpool.Pool
	jobs []baseJob
	ids  [][16]byte
	bufs sync.Pool // *bytes.Buffer, one encode buffer per goroutine at a time

	table                                                     string // the quoted table name
	upsert, load, lock, update, query, count, scan, avg, rows string
}

// pgBaseShape fills airnest's shape column, so that rows are as wide as
// airnest's.
const pgBaseShape = 1

// openPGBaseline makes the collection's table by opening an airnest store
// on url once (the schema airnest creates), then connects a pool of size
// conns to it.
func openPGBaseline(ctx context.Context, url string, conns int, pool []Job) (*pgBaseImpl, error) {
	a, err := openAirnest(ctx, url, airnest.SyncFull, nil)
	if err != nil {
		return nil, fmt.Errorf("creating the baseline's table: %w", err)
	}
	table := fmt.Sprintf("%q", a.jobs.Name())
	if err := a.Close(); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = int32(conns)
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	shape := sqlgen.ShapeColumn
	b := &pgBaseImpl{ctx: ctx, pool: p, table: table,
		upsert: `INSERT INTO ` + table + ` (id, v, ` + shape + `, status, priority) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (id) DO UPDATE SET v = excluded.v, ` + shape + ` = excluded.` + shape + `, status = excluded.status, priority = excluded.priority`,
		load:   `SELECT v FROM ` + table + ` WHERE id = $1`,
		lock:   `SELECT v FROM ` + table + ` WHERE id = $1 FOR UPDATE`,
		update: `UPDATE ` + table + ` SET v = $1, status = $2, priority = $3 WHERE id = $4`,
		// NULLS FIRST as airnest's indexes order (SQLite's order): the
		// query reads the index in order instead of sorting the matches.
		query: `SELECT v FROM ` + table + ` WHERE status = $1 ORDER BY priority NULLS FIRST LIMIT 50`,
		count: `SELECT count(*) FROM ` + table + ` WHERE status = $1`,
		scan:  `SELECT v FROM ` + table + ` ORDER BY id`,
		avg:   `SELECT avg(length(v)) FROM ` + table,
		rows:  `SELECT count(*) FROM ` + table,
	}
	b.bufs.New = func() any { return new(bytes.Buffer) }
	for i := range pool {
		b.jobs = append(b.jobs, toBase(&pool[i], [16]byte{}))
	}
	return b, nil
}

func (b *pgBaseImpl) Name() string { return "hand-written pgx" }

// exec encodes v and upserts it on q (the pool or a transaction).
func (b *pgBaseImpl) exec(q interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, v *baseJob) error {
	buf := b.bufs.Get().(*bytes.Buffer)
	defer b.bufs.Put(buf)
	buf.Reset()
	if err := baseEnc.MarshalToBuffer(v, buf); err != nil {
		return err
	}
	_, err := q.Exec(b.ctx, b.upsert, v.ID[:], buf.Bytes(), pgBaseShape, v.Status, v.Priority)
	return err
}

func (b *pgBaseImpl) Preload(n, batch int) error {
	return inBatches(n, batch, func(done, m int) error { return b.saveTx(done, m, true) })
}

func (b *pgBaseImpl) SaveNew(k int) error {
	v := b.jobs[k%len(b.jobs)]
	v.ID = newID()
	return b.exec(b.pool, &v)
}

func (b *pgBaseImpl) SaveBatch(k, n int) error { return b.saveTx(k, n, false) }

// saveTx saves n pool records from k on, with fresh ids, in one
// transaction; keep records their ids for the reads.
func (b *pgBaseImpl) saveTx(k, n int, keep bool) error {
	return pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
		for i := range n {
			v := b.jobs[(k+i)%len(b.jobs)]
			v.ID = newID()
			if err := b.exec(tx, &v); err != nil {
				return err
			}
			if keep {
				b.ids = append(b.ids, v.ID)
			}
		}
		return nil
	})
}

func (b *pgBaseImpl) Update(i int) error {
	id := b.ids[i%len(b.ids)]
	return pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
		var raw []byte
		if err := tx.QueryRow(b.ctx, b.lock, id[:]).Scan(&raw); err != nil {
			return err
		}
		var v baseJob
		if err := baseDec.Unmarshal(raw, &v); err != nil {
			return err
		}
		v.Priority = (v.Priority + 1) % 100
		buf := b.bufs.Get().(*bytes.Buffer)
		defer b.bufs.Put(buf)
		buf.Reset()
		if err := baseEnc.MarshalToBuffer(&v, buf); err != nil {
			return err
		}
		_, err := tx.Exec(b.ctx, b.update, buf.Bytes(), v.Status, v.Priority, id[:])
		return err
	})
}

func (b *pgBaseImpl) Loader(int) (func(i int) error, error) {
	return func(i int) error {
		id := b.ids[i%len(b.ids)]
		var raw []byte
		if err := b.pool.QueryRow(b.ctx, b.load, id[:]).Scan(&raw); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return errNotFound
			}
			return err
		}
		var v baseJob
		return baseDec.Unmarshal(raw, &v)
	}, nil
}

// decodeAll decodes the v column of every row of sql, calling keep with each.
func (b *pgBaseImpl) decodeAll(sql string, keep func(baseJob), args ...any) error {
	rows, err := b.pool.Query(b.ctx, sql, args...)
	if err != nil {
		return err
	}
	var raw []byte
	_, err = pgx.ForEachRow(rows, []any{&raw}, func() error {
		var v baseJob
		if err := baseDec.Unmarshal(raw, &v); err != nil {
			return err
		}
		keep(v)
		return nil
	})
	return err
}

func (b *pgBaseImpl) Query(status string) (int, error) {
	var out []baseJob
	err := b.decodeAll(b.query, func(v baseJob) { out = append(out, v) }, status)
	return len(out), err
}

func (b *pgBaseImpl) Count(status string) (int, error) {
	var n int
	err := b.pool.QueryRow(b.ctx, b.count, status).Scan(&n)
	return n, err
}

func (b *pgBaseImpl) Scan() (int, error) {
	var out []baseJob
	err := b.decodeAll(b.scan, func(v baseJob) { out = append(out, v) })
	return len(out), err
}

func (b *pgBaseImpl) Stream() (int, error) {
	n := 0
	err := b.decodeAll(b.scan, func(baseJob) { n++ })
	return n, err
}

func (b *pgBaseImpl) Settle() error {
	return settle(func(sql string) error {
		_, err := b.pool.Exec(b.ctx, sql)
		return err
	}, b.table)
}

func (b *pgBaseImpl) Disk() (int64, error) {
	var n int64
	err := b.pool.QueryRow(b.ctx, `SELECT pg_total_relation_size($1)`, b.table).Scan(&n)
	return n, err
}

func (b *pgBaseImpl) AvgBlob() (float64, error) {
	var avg float64
	err := b.pool.QueryRow(b.ctx, b.avg).Scan(&avg)
	return avg, err
}

func (b *pgBaseImpl) Rows() (int, error) {
	var n int
	err := b.pool.QueryRow(b.ctx, b.rows).Scan(&n)
	return n, err
}

func (b *pgBaseImpl) Close() error {
	b.pool.Close()
	return nil
}
