package airnest

import (
	"fmt"
	"time"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

// Retention bounds a collection's change log (see ChangeLog).
type Retention struct {
	// Changes is how many of the collection's newest changes the log keeps
	// (default DefaultRetainChanges). The log is trimmed every 64 changes,
	// so it holds up to 63 more.
	Changes int
	// Age, when set, also drops changes older than Age (rounded up to a
	// second), checked when the log is trimmed, that is while the
	// collection is written. Zero means no age limit.
	Age time.Duration
}

// DefaultRetainChanges is how many changes a change log keeps by default.
const DefaultRetainChanges = 10000

// ChangeLog makes the collection keep a change log, which Coll.Watch and
// Query.Watch read: every committed save and delete, by any path (Save,
// Update, Delete, Query.Delete, Migrate) and by any program on the same
// database, is recorded in the same transaction as the write, with the
// value as committed. A collection without a log pays nothing per write;
// one with a log pays one more row written per change (the README's
// "Watching changes" gives the measured cost).
//
// The log lives in the database (database triggers on the collection's
// table), so once a program opens the store with ChangeLog, writes by
// programs that do not declare it are logged too; the retention is the one
// declared by the program that opened the store last. Declare it in every
// program that writes the collection anyway, so the one that opens first
// creates it. Opening without ChangeLog leaves an existing log in place.
func ChangeLog(r Retention) Option {
	return Option{func(o *collOptions) { o.log = &r }}
}

// logRetention is the checked (keep, age in seconds) of a ChangeLog option.
func logRetention(coll string, r *Retention) (keep, age int64, err error) {
	if r.Changes < 0 || r.Age < 0 {
		return 0, 0, fmt.Errorf("%w: collection %q: ChangeLog(Retention{Changes: %d, Age: %s}): negative retention", ErrInvalid, coll, r.Changes, r.Age)
	}
	keep = int64(r.Changes)
	if keep == 0 {
		keep = DefaultRetainChanges
	}
	age = int64((r.Age + time.Second - 1) / time.Second)
	return keep, age, nil
}

// initLog creates or updates the collection's change log and its triggers;
// it runs inside the transaction that opens the store. Nothing is done
// when the table already logs with this retention.
func (c *collection[T]) initLog(conn backend.Conn, d *sqlgen.Dialect) error {
	if c.log == nil {
		return nil
	}
	keep, age, err := logRetention(c.name, c.log)
	if err != nil {
		return err
	}
	if err := conn.Exec(d.ChangeLogTables()); err != nil {
		return fmt.Errorf("collection %q: creating the change log: %w", c.name, err)
	}
	trigger := sqlgen.TriggerName(c.name)
	if d.Name == sqlgen.SQLite.Name {
		trigger += "_i"
	}
	current := false
	err = query(conn, d.ChangeLogState(), []any{trigger, c.name}, func(st backend.Stmt) error {
		current = st.ColumnInt64(0) == keep && st.ColumnInt64(1) == age && st.ColumnInt64(2) > 0
		return nil
	})
	if err != nil || current {
		return err
	}
	if fn := d.ChangeLogFunction(); fn != "" {
		if err := conn.Exec(fn); err != nil {
			return fmt.Errorf("collection %q: creating the change log function: %w", c.name, err)
		}
	}
	if err := exec(conn, d.ChangeLogRow(), c.name, keep, age); err != nil {
		return err
	}
	if err := conn.Exec(d.ChangeLogTrigger(c.name, keep, age)); err != nil {
		return fmt.Errorf("collection %q: creating the change log triggers: %w", c.name, err)
	}
	return nil
}
