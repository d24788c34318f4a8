package sqlite

import (
	"context"
	"errors"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// Backup copies the main database of c into the file at destURI with
// SQLite's online backup API, step pages at a time, calling progress (if
// not nil) after each step with the pages copied so far and the total.
//
// The caller should hold a read transaction open on c: then every step
// reads the same snapshot, so writes committed meanwhile by other
// connections or processes neither restart the copy nor end up half in it.
func (c *Conn) Backup(ctx context.Context, destURI string, step int, progress func(copied, total int)) (err error) {
	if step <= 0 {
		step = -1
	}
	b, err := c.c.BackupInit("main", destURI)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, b.Close()) }()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		done, err := b.Step(step)
		if err != nil {
			if errors.Is(err, sqlite3.BUSY) || errors.Is(err, sqlite3.LOCKED) {
				// The destination is locked by someone else for a moment:
				// SQLite allows the step to be retried.
				select {
				case <-time.After(10 * time.Millisecond):
					continue
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return err
		}
		if progress != nil {
			total := b.PageCount()
			progress(total-b.Remaining(), total)
		}
		if done {
			return nil
		}
	}
}
