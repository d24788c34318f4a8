package main

import "errors"

// impl is one way of storing the records: airnest, or the hand-written
// baseline. Every method may be called from several goroutines at once,
// except Preload, Close and the stats.
type impl interface {
	Name() string
	// Preload saves n pool records in transactions of batch, keeping their
	// ids for Load, Update and the other reads.
	Preload(n, batch int) error
	// SaveNew saves a copy of pool record k under a fresh id, alone.
	SaveNew(k int) error
	// SaveBatch saves n pool records from k on, with fresh ids, in one transaction.
	SaveBatch(k, n int) error
	// Update is a read-modify-write of the i-th preloaded record.
	Update(i int) error
	// Loader returns the load function of goroutine g (the baseline gives
	// each loader goroutine a connection of its own).
	Loader(g int) (func(i int) error, error)
	// Query runs status = ? ORDER BY priority LIMIT 50 and decodes the rows.
	Query(status string) (int, error)
	// Count counts the rows with a status.
	Count(status string) (int, error)
	// Scan decodes every row into a slice.
	Scan() (int, error)
	// Stream decodes every row, one at a time.
	Stream() (int, error)
	// Disk is the size of the database file and its WAL after a checkpoint.
	Disk() (int64, error)
	// AvgBlob is the mean stored length of the blob column.
	AvgBlob() (float64, error)
	// Rows is the number of rows in the table now.
	Rows() (int, error)
	Close() error
}

// errPending marks a workload the library cannot run yet.
var errPending = errors.New("pending: not supported by this build of airnest")

// inBatches calls tx for successive batches of at most batch of n rows:
// with the rows done before it and its own count.
func inBatches(n, batch int, tx func(done, m int) error) error {
	for done := 0; done < n; {
		m := min(batch, n-done)
		if err := tx(done, m); err != nil {
			return err
		}
		done += m
	}
	return nil
}
