package airnest

import (
	"context"
	"fmt"
	"iter"
	"sync"
	"time"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

// Op is what a Change did.
type Op int

const (
	// Saved: the value was saved (created or replaced); for a query
	// watch, its new value matches the query.
	Saved Op = iota + 1
	// Deleted: the value was deleted.
	Deleted
	// Left: (query watches only) the value was saved with values that no
	// longer match the query; Value holds the new value.
	Left
)

func (o Op) String() string {
	switch o {
	case Saved:
		return "Saved"
	case Deleted:
		return "Deleted"
	case Left:
		return "Left"
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// Change is one committed change of a collection, as a watch delivers it.
type Change[T any] struct {
	Op Op
	ID ID[T]
	// Value is the value as committed, for Saved and Left; zero for Deleted.
	Value T
	// Seq numbers the change: it grows in commit order across the store's
	// logged collections. Record it to resume a watch after it
	// (WatchOptions.After).
	Seq int64
}

// WatchOptions configures Coll.Watch and Query.Watch. A nil *WatchOptions
// means the defaults: changes committed from now on.
type WatchOptions struct {
	// Resume starts the watch after sequence number After: every change
	// the log retains with a higher Seq is delivered first, then new ones.
	// After 0 means from the oldest change ever logged. When the log no
	// longer holds every change after After (retention dropped some), the
	// watch yields an error wrapping ErrGap instead of skipping them.
	Resume bool
	After  int64
	// Poll is how often the watch reads the log for changes made by
	// other processes that it was not told about: on SQLite, every write
	// of another program (default 50ms, so such a change arrives within
	// about that); on PostgreSQL, a fallback for a notification lost while
	// the listening connection was down (default 1s). Writes of this store
	// wake its watchers at once.
	Poll time.Duration
}

const (
	defaultPoll       = 50 * time.Millisecond
	defaultPollNotify = time.Second
	// watchPage is how many changes one read of the log returns at most.
	watchPage = 256
)

// Watch returns the changes of the collection as they commit, in commit
// order, from this process and from others on the same database, each
// once. The collection must keep a change log (ChangeLog), or Watch yields
// ErrInvalid. An error is yielded once, as the last pair: ErrGap, ErrClosed
// when the store closes, ErrSchema when a logged value does not decode
// into T, or ctx's error when ctx ends. Breaking out of the loop stops the
// watch and frees what it holds. No connection is held while the loop body
// runs, so the body may use the store, including writing the collection
// and recording Seq in a transaction of its own.
//
// Watch is not for a Coll bound to a Tx (ErrInvalid): a transaction sees
// no commits but its own.
func (c *Coll[T]) Watch(ctx context.Context, opts *WatchOptions) iter.Seq2[Change[T], error] {
	return c.watch(ctx, opts, nil)
}

// watchFilter decides what a query watch delivers (see Query.Watch).
type watchFilter[T any] interface {
	// start reads, in the snapshot where the watch starts from now, the
	// IDs that match; not called when a watch resumes.
	start(conn backend.Conn) error
	// pass turns a change into what is delivered; false drops it.
	pass(ch *Change[T]) (bool, error)
}

func (c *Coll[T]) watch(ctx context.Context, opts *WatchOptions, f watchFilter[T]) iter.Seq2[Change[T], error] {
	return func(yield func(Change[T], error) bool) {
		var o WatchOptions
		if opts != nil {
			o = *opts
		}
		w := &watcher[T]{c: c.c, f: f}
		fail := func(err error) { yield(Change[T]{}, c.c.errorf("Watch", err)) }
		if c.tx != nil {
			fail(fmt.Errorf("%w: Watch inside a transaction, which sees no commits but its own: watch through the collection itself", ErrInvalid))
			return
		}
		if o.Resume && o.After < 0 {
			fail(fmt.Errorf("%w: WatchOptions.After %d: negative", ErrInvalid, o.After))
			return
		}
		s := c.c.store
		if err := s.enter(); err != nil {
			fail(err)
			return
		}
		db := s.db
		s.leave()
		s.watch.join(db)
		defer s.watch.leave()
		if o.Poll <= 0 {
			o.Poll = defaultPoll
			if _, ok := db.(backend.Notifier); ok {
				o.Poll = defaultPollNotify
			}
		}
		if err := w.begin(ctx, o); err != nil {
			fail(err)
			return
		}
		tick := time.NewTicker(o.Poll)
		defer tick.Stop()
		for {
			wake := s.watch.next()
			n, err := w.read(ctx, yield)
			if err != nil {
				fail(err)
				return
			}
			if n < 0 {
				return // the loop broke
			}
			if n == watchPage {
				continue
			}
			select {
			case <-wake:
			case <-tick.C:
			case <-ctx.Done():
				fail(ctx.Err())
				return
			}
		}
	}
}

// watcher is the state of one running watch.
type watcher[T any] struct {
	c    *collection[T]
	f    watchFilter[T]
	last int64 // the Seq of the last change read
}

// readOn runs fn on a reader.
func (c *collection[T]) readOn(ctx context.Context, fn func(conn backend.Conn) error) error {
	s := c.store
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	conn, err := s.readConn(ctx)
	if err != nil {
		return ctxErr(ctx, err)
	}
	defer s.db.Release(conn)
	return ctxErr(ctx, guarded(conn, fn))
}

// snapshot runs fn on a reader in one read snapshot.
func (w *watcher[T]) snapshot(ctx context.Context, fn func(conn backend.Conn) error) error {
	return w.c.readOn(ctx, func(conn backend.Conn) error {
		if err := conn.BeginSnapshot(); err != nil {
			return err
		}
		defer conn.Rollback()
		return fn(conn)
	})
}

// watchQueries are the statements a watch repeats, cached per connection.
type watchQueries struct{ read *backend.Query }

var watchQueryCache sync.Map // *sqlgen.Dialect -> *watchQueries

func watchQueriesOf(d *sqlgen.Dialect) *watchQueries {
	if q, ok := watchQueryCache.Load(d); ok {
		return q.(*watchQueries)
	}
	q, _ := watchQueryCache.LoadOrStore(d, &watchQueries{read: backend.NewQuery(d.ReadChanges(watchPage))})
	return q.(*watchQueries)
}

// eachCached runs the cached statement q with args, calling row for each row.
func eachCached(conn backend.Conn, q *backend.Query, args []any, row func(backend.Stmt) error) error {
	st, err := conn.Prepare(q)
	if err != nil {
		return err
	}
	defer st.Reset()
	for i, a := range args {
		if err := backend.Bind(st, i+1, a); err != nil {
			return err
		}
	}
	for st.Step() {
		if err := row(st); err != nil {
			return err
		}
	}
	return st.Err()
}

// head reads the newest Seq logged; ErrInvalid when the collection keeps
// no log.
func (w *watcher[T]) head(conn backend.Conn) (newest int64, err error) {
	found := false
	err = query(conn, w.c.store.d.ChangeLogHead(), []any{w.c.name}, func(st backend.Stmt) error {
		found, newest = true, st.ColumnInt64(0)
		return nil
	})
	if err == nil && !found {
		err = w.noLog()
	}
	return newest, err
}

func (w *watcher[T]) noLog() error {
	return fmt.Errorf("%w: collection %q keeps no change log: declare it with airnest.ChangeLog", ErrInvalid, w.c.name)
}

// begin finds where the watch starts.
func (w *watcher[T]) begin(ctx context.Context, o WatchOptions) error {
	return w.snapshot(ctx, func(conn backend.Conn) error {
		logged := false
		err := query(conn, w.c.store.d.TableExists, []any{"_airnest_changelog"}, func(backend.Stmt) error {
			logged = true
			return nil
		})
		if err != nil {
			return err
		}
		if !logged {
			return w.noLog()
		}
		newest, err := w.head(conn)
		if err != nil {
			return err
		}
		if !o.Resume {
			w.last = newest
			if w.f != nil {
				return w.f.start(conn)
			}
			return nil
		}
		w.last = o.After // read checks that the log still holds what follows
		return nil
	})
}

// read reads the next page of changes and yields them. It returns how
// many it read, or -1 when the loop broke. One statement, on no snapshot
// of its own: a poll that finds nothing costs one cached query.
func (w *watcher[T]) read(ctx context.Context, yield func(Change[T], error) bool) (int, error) {
	type row struct {
		seq int64
		op  int64
		id  [16]byte
		v   []byte
	}
	var page []row
	s := w.c.store
	found := false
	trimmed := int64(0)
	err := w.c.readOn(ctx, func(conn backend.Conn) error {
		return eachCached(conn, watchQueriesOf(s.d).read, []any{w.c.name, w.last, w.c.name}, func(st backend.Stmt) error {
			found, trimmed = true, st.ColumnInt64(4)
			if st.ColumnType(0) == backend.Null {
				return nil
			}
			r := row{seq: st.ColumnInt64(0), op: st.ColumnInt64(1)}
			copy(r.id[:], st.ColumnRawBlob(2))
			if st.ColumnType(3) != backend.Null {
				r.v = st.ColumnBlob(3, nil)
			}
			page = append(page, r)
			return nil
		})
	})
	switch {
	case err != nil:
		return 0, err
	case !found:
		return 0, w.noLog()
	case w.last < trimmed:
		return 0, fmt.Errorf("%w: the change log of collection %q no longer holds every change after Seq %d (retention removed them up to Seq %d): read the collection afresh and watch from now", ErrGap, w.c.name, w.last, trimmed)
	}
	dec := w.c.codec.Load()
	for _, r := range page {
		w.last = r.seq
		ch := Change[T]{Op: Deleted, Seq: r.seq}
		ch.ID.u = r.id
		if r.op == sqlgen.OpSaved {
			ch.Op = Saved
			if err := dec.Decode(r.v, &ch.Value); err != nil {
				return 0, fmt.Errorf("change %d: id %s: %w", r.seq, ch.ID, err)
			}
		}
		if w.f != nil {
			ok, err := w.f.pass(&ch)
			if err != nil {
				return 0, err
			}
			if !ok {
				continue
			}
		}
		if !yield(ch, nil) {
			return -1, nil
		}
	}
	return len(page), nil
}
