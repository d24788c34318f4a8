package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"

	"github.com/airnest/airnest"
)

// readers and writers are Options.Readers and Writers for every store the
// benchmark opens (0: the default).
var readers, writers int

// airImpl runs the workloads through airnest's public API only.
type airImpl struct {
	name  string // "airnest", or "airnest on <database>" when two are compared
	ctx   context.Context
	path  string // a file, or a postgres:// URL
	store *airnest.Store
	jobs  *airnest.Coll[Job]
	pool  []Job
	ids   []airnest.ID[Job]
}

func openAirnest(ctx context.Context, path string, sync airnest.Sync, pool []Job) (*airImpl, error) {
	store := airnest.NewStore()
	jobs := airnest.Collection[Job](store, airnest.Index("status,priority", "priority"))
	if err := store.Open(ctx, path, &airnest.Options{Sync: sync, Readers: readers, Writers: writers}); err != nil {
		return nil, err
	}
	return &airImpl{name: "airnest", ctx: ctx, path: path, store: store, jobs: jobs, pool: pool}, nil
}

func (a *airImpl) Name() string { return a.name }

// isPostgres reports a store on PostgreSQL.
func (a *airImpl) isPostgres() bool { return strings.HasPrefix(a.path, "postgres") }

func (a *airImpl) Preload(n, batch int) error {
	return inBatches(n, batch, func(done, m int) error {
		return a.store.Tx(a.ctx, func(tx *airnest.Tx) error {
			jobs := a.jobs.In(tx)
			for i := range m {
				v := a.pool[(done+i)%len(a.pool)]
				v.ID = airnest.ID[Job]{}
				if err := jobs.Save(a.ctx, &v); err != nil {
					return err
				}
				a.ids = append(a.ids, v.ID)
			}
			return nil
		})
	})
}

func (a *airImpl) SaveNew(k int) error {
	v := a.pool[k%len(a.pool)]
	v.ID = airnest.ID[Job]{}
	return a.jobs.Save(a.ctx, &v)
}

func (a *airImpl) SaveBatch(k, n int) error {
	return a.store.Tx(a.ctx, func(tx *airnest.Tx) error {
		jobs := a.jobs.In(tx)
		for i := range n {
			v := a.pool[(k+i)%len(a.pool)]
			v.ID = airnest.ID[Job]{}
			if err := jobs.Save(a.ctx, &v); err != nil {
				return err
			}
		}
		return nil
	})
}

func (a *airImpl) Update(i int) error {
	_, err := a.jobs.Update(a.ctx, a.ids[i%len(a.ids)], func(j *Job) error {
		j.Priority = (j.Priority + 1) % 100
		return nil
	})
	return err
}

func (a *airImpl) Loader(int) (func(i int) error, error) {
	return func(i int) error {
		_, err := a.jobs.Load(a.ctx, a.ids[i%len(a.ids)])
		return err
	}, nil
}

func (a *airImpl) Query(status string) (int, error) { return airQuery(a.ctx, a.jobs, status) }

func (a *airImpl) Count(status string) (int, error) { return airCount(a.ctx, a.jobs, status) }

func (a *airImpl) Scan() (int, error) {
	all, err := a.jobs.Scan(a.ctx)
	return len(all), err
}

func (a *airImpl) Stream() (int, error) {
	n := 0
	for _, err := range a.jobs.All(a.ctx) {
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (a *airImpl) db() (*sql.DB, error) { return a.store.DB() }

// Settle vacuums and analyzes the table on PostgreSQL.
func (a *airImpl) Settle() error {
	if !a.isPostgres() {
		return nil
	}
	db, err := a.db()
	if err != nil {
		return err
	}
	return settle(func(sql string) error {
		_, err := db.ExecContext(a.ctx, sql)
		return err
	}, fmt.Sprintf("%q", a.jobs.Name()))
}

func (a *airImpl) Disk() (int64, error) {
	db, err := a.db()
	if err != nil {
		return 0, err
	}
	if a.isPostgres() {
		var n int64
		err := db.QueryRowContext(a.ctx, fmt.Sprintf(`SELECT pg_total_relation_size('%q')`, a.jobs.Name())).Scan(&n)
		return n, err
	}
	if _, err := db.ExecContext(a.ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return 0, err
	}
	return fileSizes(a.path)
}

func (a *airImpl) AvgBlob() (float64, error) {
	db, err := a.db()
	if err != nil {
		return 0, err
	}
	var avg float64
	err = db.QueryRowContext(a.ctx, fmt.Sprintf(`SELECT avg(length(v)) FROM %q`, a.jobs.Name())).Scan(&avg)
	return avg, err
}

func (a *airImpl) Rows() (int, error) { return a.jobs.Count(a.ctx) }

func (a *airImpl) Close() error { return a.store.Close() }

// fileSizes is the size of a database file plus its WAL, if any.
func fileSizes(path string) (int64, error) {
	var total int64
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			if os.IsNotExist(err) && p != path {
				continue
			}
			return 0, err
		}
		total += fi.Size()
	}
	return total, nil
}
