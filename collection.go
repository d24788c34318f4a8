package airnest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/airnest/airnest/codec"
	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

// Option configures a collection: Index, Unique, Name, DropIndex, ChangeLog.
type Option struct {
	apply func(*collOptions)
}

type indexDecl struct {
	spec   string // "status" or "status,priority"
	unique bool
	fn     *indexFunc // IndexFunc
}

type collOptions struct {
	name    string
	indexes []indexDecl
	drops   []string
	log     *Retention // ChangeLog
}

// Index declares index columns. Each name is a field of T, matched ignoring
// case and underscores ("created_at" is CreatedAt), that becomes a typed SQL
// column with its own index. A name of the form "status,priority" declares
// one composite index over those columns, in that order, for queries that
// filter on the first and sort by the second.
func Index(names ...string) Option {
	return Option{func(o *collOptions) {
		for _, n := range names {
			o.indexes = append(o.indexes, indexDecl{spec: n})
		}
	}}
}

// Unique is Index with UNIQUE indexes: a Save that would give two values the
// same column value fails with ErrConflict. NULLs (nil pointers, zero times,
// zero IDs) never clash.
func Unique(names ...string) Option {
	return Option{func(o *collOptions) {
		for _, n := range names {
			o.indexes = append(o.indexes, indexDecl{spec: n, unique: true})
		}
	}}
}

// Name pins the table name; the default is the Go type's name.
func Name(table string) Option {
	return Option{func(o *collOptions) { o.name = table }}
}

// Coll is a typed collection of T values stored in one table. Methods that
// take no Tx run in their own transaction; Coll.In(tx) gives the same methods
// bound to a transaction.
//
// Coll is safe for concurrent use; a Coll bound to a Tx must stay inside the
// Tx's closure.
type Coll[T any] struct {
	c  *collection[T]
	tx *Tx
}

// collection holds what every handle of one collection shares.
type collection[T any] struct {
	store  *Store
	name   string
	goType string
	idOff  uintptr
	cols   []indexCol
	table  sqlgen.Table
	codec  atomic.Pointer[codec.Codec[T]]
	plan   atomic.Pointer[writePlan]
	shape  int64 // shapeOf(T), stored with every row written
	drops  []string
	log    *Retention // ChangeLog's retention; nil: keeps no log

	q atomic.Pointer[collQueries] // made for the open database's dialect
}

// collQueries are a collection's fixed statements, in one dialect.
type collQueries struct {
	load, loadForUpdate, exists, delete, scan, page, pageAfter, count *backend.Query
}

func newCollQueries(t sqlgen.Table) *collQueries {
	return &collQueries{
		load:          backend.NewQuery(t.Load()),
		loadForUpdate: backend.NewQuery(t.LoadForUpdate()),
		exists:        backend.NewQuery(t.Exists()),
		delete:        backend.NewQuery(t.Delete()),
		scan:          backend.NewQuery(t.Scan()),
		page:          backend.NewQuery(t.ScanPage(false, allPage)),
		pageAfter:     backend.NewQuery(t.ScanPage(true, allPage)),
		count:         backend.NewQuery(t.Count()),
	}
}

// Collection declares a collection of T on store. T must be a struct with a
// field `ID airnest.ID[T]`. It panics on a programmer error (no ID field, an
// unknown or unindexable field, a clash of names, a field type that cannot
// be stored such as chan or func), like regexp.MustCompile;
// NewCollection returns the error instead.
func Collection[T any](store *Store, opts ...Option) *Coll[T] {
	c, err := NewCollection[T](store, opts...)
	if err != nil {
		panic(err)
	}
	return c
}

// NewCollection is Collection returning the error instead of panicking.
// The error wraps ErrInvalid.
func NewCollection[T any](store *Store, opts ...Option) (*Coll[T], error) {
	var o collOptions
	for _, opt := range opts {
		if opt.apply != nil {
			opt.apply(&o)
		}
	}
	t := reflect.TypeFor[T]()
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%w: Collection[%s]: T must be a struct type", ErrInvalid, t)
	}
	name := o.name
	if name == "" {
		name = t.Name()
	}
	if err := sqlgen.ValidName(name); err != nil {
		return nil, fmt.Errorf("%w: Collection[%s]: table %v (pin one with airnest.Name)", ErrInvalid, t, err)
	}
	f, ok := t.FieldByName("ID")
	if !ok || f.Type != reflect.TypeFor[ID[T]]() || len(f.Index) != 1 {
		return nil, fmt.Errorf("%w: Collection[%s]: %s needs a field `ID airnest.ID[%s]`", ErrInvalid, t, t, t.Name())
	}
	if err := codec.Check[T](name); err != nil {
		return nil, err
	}
	cols, sqlCols, comps, err := planIndexes(name, t, &o)
	if err != nil {
		return nil, err
	}
	if o.log != nil {
		if _, _, err := logRetention(name, o.log); err != nil {
			return nil, err
		}
	}
	c := &collection[T]{store: store, name: name, goType: t.String(), idOff: f.Offset, cols: cols, shape: shapeOf(t), drops: o.drops, log: o.log}
	c.table = sqlgen.Table{Name: name, Columns: sqlCols, Composites: comps}
	if err := store.register(c, c.goType); err != nil {
		return nil, err
	}
	return &Coll[T]{c: c}, nil
}

// Name is the collection's table name.
func (c *Coll[T]) Name() string { return c.c.name }

// In returns the collection bound to tx: its methods run inside the
// transaction and see its uncommitted writes.
func (c *Coll[T]) In(tx *Tx) *Coll[T] { return &Coll[T]{c: c.c, tx: tx} }

func (c *collection[T]) tableName() string { return c.name }

func (c *collection[T]) objectNames() []string {
	return c.table.ObjectNames()
}

func (c *collection[T]) idOf(v *T) *ID[T] {
	return (*ID[T])(unsafe.Add(unsafe.Pointer(v), c.idOff))
}

func (c *collection[T]) errorf(op string, err error) error {
	return wrapOp(c.name, op, err)
}

// encode builds the blob and the index column values of *v.
func (c *collection[T]) encode(buf []byte, v *T, vals []sqlValue) ([]byte, []sqlValue, error) {
	blob, err := c.codec.Load().Append(buf, v)
	if err != nil {
		return nil, nil, err
	}
	rv := reflect.ValueOf(v).Elem()
	for i := range c.cols {
		col := &c.cols[i]
		sv, err := col.value(rv)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: index %q (field %s): %v", ErrInvalid, col.decl, col.field, err)
		}
		vals = append(vals, sv)
	}
	vals, err = appendElems(c.cols, rv, vals)
	if err != nil {
		return nil, nil, err
	}
	return blob, vals, nil
}

// saveBuf holds what one Save needs, reused through a pool.
type saveBuf struct {
	blob []byte
	vals []sqlValue
	job  backend.Job
}

var saveBufs = sync.Pool{New: func() any { return &saveBuf{blob: make([]byte, 0, 1024)} }}

// Save stores *v, replacing any value with the same ID (an upsert). A zero
// v.ID is first set to a fresh NewID; if Save fails it is zero again.
// Errors: ErrInvalid (v cannot be encoded or indexed), ErrConflict (a Unique
// index clash), ErrClosed, ErrTxDone, or the context's error.
func (c *Coll[T]) Save(ctx context.Context, v *T) error {
	cc := c.c
	idp := cc.idOf(v)
	assigned := idp.IsZero()
	if assigned {
		*idp = NewID[T]()
	}
	err := c.save(ctx, v, *idp)
	if err != nil && assigned {
		*idp = ID[T]{}
	}
	return err
}

func (c *Coll[T]) save(ctx context.Context, v *T, id ID[T]) error {
	cc := c.c
	if c.tx != nil {
		return c.tx.run(ctx, cc.name, "Save", true, func(conn backend.Conn) error {
			blob, vals, err := cc.encode(nil, v, nil)
			if err != nil {
				return err
			}
			return cc.write(conn, id, blob, vals)
		})
	}
	s := cc.store
	if err := s.enter(); err != nil {
		return cc.errorf("Save", err)
	}
	defer s.leave()
	b := saveBufs.Get().(*saveBuf)
	defer saveBufs.Put(b)
	blob, vals, err := cc.encode(b.blob[:0], v, b.vals[:0])
	if err != nil {
		return cc.errorf("Save", err)
	}
	b.blob, b.vals = blob, vals
	b.job = backend.Job{Ctx: ctx, Run: func(conn backend.Conn) error { return cc.write(conn, id, blob, vals) }, Tx: cc.hasElems()}
	err = s.db.Write(&b.job)
	b.job = backend.Job{}
	if err == nil {
		s.committed()
	}
	return cc.errorf("Save", ctxErr(ctx, s.writeErr(err)))
}

// writeErr explains a write refused because it would wait for itself.
func (s *Store) writeErr(err error) error {
	if errors.Is(err, backend.ErrReentrant) {
		return fmt.Errorf("%w: a write through the store from inside Store.Tx or an Update function would wait for itself; use Coll.In(tx)", ErrInvalid)
	}
	return err
}

// loadOn reads the value with id on conn; forUpdate also locks its row
// until the transaction ends, where the database locks rows.
func (c *collection[T]) loadOn(conn backend.Conn, id ID[T], forUpdate bool) (T, error) {
	var v T
	q := c.q.Load()
	lq := q.load
	if forUpdate {
		lq = q.loadForUpdate
	}
	st, err := conn.Prepare(lq)
	if err != nil {
		return v, err
	}
	if err := st.BindBlob(1, id.u[:]); err != nil {
		return v, err
	}
	if !st.Step() {
		err := st.Err()
		st.Reset()
		if err == nil {
			err = fmt.Errorf("%w: id %s", ErrNotFound, id)
		}
		return v, err
	}
	err = c.codec.Load().Decode(st.ColumnRawBlob(0), &v)
	st.Reset()
	if err != nil {
		return v, fmt.Errorf("id %s: %w", id, err)
	}
	return v, nil
}

// read runs fn on a reader connection, or on the Tx's connection when bound.
func (c *Coll[T]) read(ctx context.Context, op string, fn func(conn backend.Conn) error) error {
	if c.tx != nil {
		return c.tx.run(ctx, c.c.name, op, false, fn)
	}
	s := c.c.store
	if err := s.enter(); err != nil {
		return c.c.errorf(op, err)
	}
	defer s.leave()
	conn, err := s.readConn(ctx)
	if err != nil {
		return c.c.errorf(op, err)
	}
	defer s.db.Release(conn)
	return c.c.errorf(op, ctxErr(ctx, guarded(conn, fn)))
}

// guarded runs fn on conn, through the connection's Guarded where it has
// one (SQLite turns the driver's out-of-memory panic into an error there).
func guarded(conn backend.Conn, fn func(backend.Conn) error) error {
	if g, ok := conn.(interface {
		Guarded(func(backend.Conn) error) error
	}); ok {
		return g.Guarded(fn)
	}
	return fn(conn)
}

// ctxErr makes a statement interrupted by ctx report ctx's error, so
// errors.Is(err, context.Canceled) holds, keeping the database's underneath.
func ctxErr(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil || errors.Is(err, ctx.Err()) {
		return err
	}
	// SQLite reports a wait for a lock that ctx cut short as busy.
	if c := backend.Classify(err); c == backend.Interrupt || c == backend.Busy {
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return err
}

// Load returns the value with id. Inside a Tx it also locks the value's
// row until the Tx ends, where the database locks rows (PostgreSQL; SQLite's
// one writer needs none), so a Load then Save in a Tx loses no concurrent
// update. Errors: ErrNotFound, ErrSchema (the stored value does not decode
// into T), ErrClosed, ErrTxDone, the context's error.
func (c *Coll[T]) Load(ctx context.Context, id ID[T]) (T, error) {
	var v T
	err := c.read(ctx, "Load", func(conn backend.Conn) (err error) {
		v, err = c.c.loadOn(conn, id, c.tx != nil && !c.tx.readOnly)
		return err
	})
	return v, err
}

// Exists reports whether a value with id is stored.
func (c *Coll[T]) Exists(ctx context.Context, id ID[T]) (bool, error) {
	var ok bool
	err := c.read(ctx, "Exists", func(conn backend.Conn) error {
		st, err := conn.Prepare(c.c.q.Load().exists)
		if err != nil {
			return err
		}
		st.BindBlob(1, id.u[:])
		ok = st.Step()
		return st.Reset()
	})
	return ok, err
}

// Count returns the number of values in the collection.
func (c *Coll[T]) Count(ctx context.Context) (int, error) {
	var n int
	err := c.read(ctx, "Count", func(conn backend.Conn) error {
		st, err := conn.Prepare(c.c.q.Load().count)
		if err != nil {
			return err
		}
		if st.Step() {
			n = int(st.ColumnInt64(0))
		}
		return st.Reset()
	})
	return n, err
}

// Delete removes the value with id; an absent id is not an error.
func (c *Coll[T]) Delete(ctx context.Context, id ID[T]) error {
	return c.writeOp(ctx, "Delete", false, func(conn backend.Conn) error {
		return c.c.deleteOn(conn, id)
	})
}

func (c *collection[T]) deleteOn(conn backend.Conn, id ID[T]) error {
	st, err := conn.Prepare(c.q.Load().delete)
	if err != nil {
		return err
	}
	st.BindBlob(1, id.u[:])
	return st.Exec()
}

// writeOp runs fn as one write: in the bound Tx, or through the group-commit
// writer. user marks fn as calling user code.
func (c *Coll[T]) writeOp(ctx context.Context, op string, user bool, fn func(conn backend.Conn) error) error {
	cc := c.c
	if c.tx != nil {
		return c.tx.run(ctx, cc.name, op, true, fn)
	}
	s := cc.store
	if err := s.enter(); err != nil {
		return cc.errorf(op, err)
	}
	defer s.leave()
	err := s.db.Write(&backend.Job{Ctx: ctx, Run: fn, Tx: user, User: user})
	if err == nil {
		s.committed()
	}
	return cc.errorf(op, ctxErr(ctx, s.writeErr(err)))
}

// Update loads the value with id, calls fn on it and saves the result, all in
// one write transaction, so concurrent Updates of one value never lose each
// other's changes. An error from fn is returned and nothing is written. fn
// must not change the ID, and must not write through the store (it may run on
// another goroutine, inside a batch of other writers' work); it may run again
// only if you call Update again. If ctx is done by the time fn returns,
// nothing is written and Update returns ctx's error.
// Errors: ErrNotFound, ErrSchema, ErrInvalid, ErrConflict, fn's error, the
// context's error.
func (c *Coll[T]) Update(ctx context.Context, id ID[T], fn func(*T) error) (T, error) {
	cc := c.c
	var out T
	err := c.writeOp(ctx, "Update", true, func(conn backend.Conn) error {
		v, err := cc.loadOn(conn, id, true)
		if err != nil {
			return err
		}
		if err := fn(&v); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err // the caller gave up while fn ran: write nothing
		}
		if got := *cc.idOf(&v); got != id {
			return fmt.Errorf("%w: the update function changed the ID from %s to %s", ErrInvalid, id, got)
		}
		b := saveBufs.Get().(*saveBuf)
		defer saveBufs.Put(b)
		blob, vals, err := cc.encode(b.blob[:0], &v, b.vals[:0])
		if err != nil {
			return err
		}
		b.blob, b.vals = blob, vals
		if err := cc.write(conn, id, blob, vals); err != nil {
			return err
		}
		out = v
		return nil
	})
	return out, err
}

// Scan returns every value in ID (creation) order, read in one snapshot.
func (c *Coll[T]) Scan(ctx context.Context) ([]T, error) {
	var out []T
	err := c.read(ctx, "Scan", func(conn backend.Conn) error {
		st, err := conn.Prepare(c.c.q.Load().scan)
		if err != nil {
			return err
		}
		defer st.Reset()
		dec := c.c.codec.Load()
		for st.Step() {
			var v T
			if err := dec.Decode(st.ColumnRawBlob(1), &v); err != nil {
				return fmt.Errorf("id %s: %w", rowID(st.ColumnRawBlob(0)), err)
			}
			out = append(out, v)
		}
		return st.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// allPage is how many values All reads per round trip.
const allPage = 256

// All streams every value in ID order. It reads a page at a time and holds
// no connection while your loop body runs, so the body may use the store
// freely; a value saved meanwhile with a higher ID is included, each value is
// seen once. An error is yielded once, as the last pair. Breaking out of the
// loop early releases everything.
func (c *Coll[T]) All(ctx context.Context) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var after []byte
		page := make([]T, 0, allPage)
		ids := make([][16]byte, 0, allPage)
		for {
			page, ids = page[:0], ids[:0]
			err := c.read(ctx, "All", func(conn backend.Conn) error {
				// A LIMIT, not a statement reset midway: a database that
				// sends every row at once would otherwise send the rest of
				// the table for each page.
				q := c.c.q.Load().page
				if after != nil {
					q = c.c.q.Load().pageAfter
				}
				st, err := conn.Prepare(q)
				if err != nil {
					return err
				}
				defer st.Reset()
				if after != nil {
					st.BindBlob(1, after)
				}
				dec := c.c.codec.Load()
				for len(page) < allPage && st.Step() {
					var v T
					if err := dec.Decode(st.ColumnRawBlob(1), &v); err != nil {
						return fmt.Errorf("id %s: %w", rowID(st.ColumnRawBlob(0)), err)
					}
					page = append(page, v)
					ids = append(ids, [16]byte(st.ColumnRawBlob(0)))
				}
				return st.Err()
			})
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, v := range page {
				if !yield(v, nil) {
					return
				}
			}
			if len(page) < allPage {
				return
			}
			last := ids[len(ids)-1]
			after = last[:]
		}
	}
}

// exec runs one statement with bound arguments.
func exec(conn backend.Conn, sql string, args ...any) error {
	return query(conn, sql, args, nil)
}

// query runs one statement with bound arguments, calling row for each row.
func query(conn backend.Conn, sql string, args []any, row func(backend.Stmt) error) error {
	return conn.Each(sql, args, row)
}
