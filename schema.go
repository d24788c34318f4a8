package airnest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/airnest/airnest/codec"
	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

// DropIndex removes index columns (or a composite "a,b" index) that an
// earlier declaration had, when the store opens. Open never drops an index
// column by itself, because another version of the program may still run
// on the file and query it: a column no longer declared is kept and kept
// current. Declare DropIndex once no running version declares the column.
// A column that is both dropped and declared is rebuilt, which is how an
// index column changes its SQL type.
func DropIndex(names ...string) Option {
	return Option{func(o *collOptions) { o.drops = append(o.drops, names...) }}
}

// storedCollection is the bookkeeping row of one collection.
type storedCollection struct {
	Columns    []sqlgen.Column    `json:"columns"`
	Composites []sqlgen.Composite `json:"composites,omitempty"`
}

// writePlan is how a Save fills the table's columns: the declared index
// columns, then the kept ones (declared by another version of the
// program), at the schema_version it was made for.
type writePlan struct {
	kept   []indexCol
	upsert *backend.Query
	schema int64
}

// init creates or updates the table, its index columns and its key
// registry; it runs inside the transaction that opens the store.
func (c *collection[T]) init(conn backend.Conn, d *sqlgen.Dialect) error {
	if err := c.fitsDialect(d); err != nil {
		return err
	}
	c.table.D = d
	c.q.Store(newCollQueries(c.table))
	entries, err := loadKeys(conn, d, c.name)
	if err != nil {
		return err
	}
	reg := codec.NewRegistry(entries)
	cd, added, err := codec.New[T](c.name, reg)
	if err != nil {
		return err
	}
	for _, e := range added {
		if e.Key > maxKey {
			return fmt.Errorf("%w: collection %q: field %q: key %d is above the largest key airnest stores, %d", ErrInvalid, c.name, e.Name, e.Key, uint64(maxKey))
		}
		if err := exec(conn, "INSERT INTO _airnest_keys (collection, space, name, key, type) VALUES (?, ?, ?, ?, ?)", c.name, e.Space, e.Name, int64(e.Key), e.Type); err != nil {
			return err
		}
	}
	stored, err := c.readStored(conn, d)
	if err != nil {
		return err
	}
	t := c.table
	if stored == nil {
		if err := c.nameFree(conn, d, c.name, ""); err != nil {
			return err
		}
		if err := conn.Exec(t.CreateTable()); err != nil {
			return err
		}
		for _, col := range t.Columns {
			if err := c.createElems(conn, d, col); err != nil {
				return err
			}
		}
		stored = &storedCollection{Columns: t.Columns, Composites: t.Composites}
	} else if stored, err = c.migrate(conn, d, stored, cd); err != nil {
		return err
	}
	c.useStoredElems(stored)
	all := sqlgen.Table{D: d, Name: c.name, Columns: stored.Columns, Composites: stored.Composites}
	for _, col := range all.Columns {
		if col.Indexed {
			if err := c.createIndex(conn, d, all.IndexName(col.Name), all.CreateIndex(col)); err != nil {
				return err
			}
		}
	}
	for _, comp := range all.Composites {
		if err := c.createIndex(conn, d, all.CompositeName(comp), all.CreateComposite(comp)); err != nil {
			return err
		}
	}
	if err := c.initLog(conn, d); err != nil {
		return err
	}
	js, err := json.Marshal(stored)
	if err != nil {
		return err
	}
	err = exec(conn, `INSERT INTO _airnest_collections (name, go_type, columns, created) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET go_type = excluded.go_type, columns = excluded.columns`,
		c.name, c.goType, string(js), time.Now().UnixNano())
	if err != nil {
		return err
	}
	p, err := c.makePlan(conn, d, stored)
	if err != nil {
		return err
	}
	c.codec.Store(cd)
	c.plan.Store(p)
	return nil
}

// readStored reads the bookkeeping row of the collection, nil if there is
// none. A row whose name differs only in case is an error: SQLite would
// give both names one table.
func (c *collection[T]) readStored(conn backend.Conn, d *sqlgen.Dialect) (*storedCollection, error) {
	var stored *storedCollection
	err := query(conn, d.StoredCollection, []any{c.name}, func(st backend.Stmt) error {
		if name := st.ColumnText(0); name != c.name {
			return fmt.Errorf("%w: collection %q: the database holds collection %q, and airnest ignores case in table names (as SQLite does): pin another name with airnest.Name", ErrSchema, c.name, name)
		}
		stored = &storedCollection{}
		if err := json.Unmarshal([]byte(st.ColumnText(1)), stored); err != nil {
			return fmt.Errorf("%w: collection %q: _airnest_collections.columns: %v", ErrSchema, c.name, err)
		}
		return nil
	})
	return stored, err
}

// nameFree fails unless no table, index or view is named name (ignoring
// case, as SQLite does), other than an index of table owner.
func (c *collection[T]) nameFree(conn backend.Conn, d *sqlgen.Dialect, name, owner string) error {
	return query(conn, d.NameClash, []any{name, owner}, func(st backend.Stmt) error {
		return fmt.Errorf("%w: collection %q: the database already has a %s named %q that is not this collection's (airnest ignores case in names, as SQLite does): pin another name with airnest.Name", ErrSchema, c.name, st.ColumnText(0), st.ColumnText(1))
	})
}

// fitsDialect checks the collection's names against the database's limits.
func (c *collection[T]) fitsDialect(d *sqlgen.Dialect) error {
	for _, n := range c.objectNames() {
		if len(n) > d.MaxName {
			return fmt.Errorf("%w: collection %q: the name %q is longer than %s keeps (%d bytes): pin a shorter table name with airnest.Name", ErrInvalid, c.name, n, d.Name, d.MaxName)
		}
	}
	for _, col := range c.cols {
		if len(col.name) > d.MaxName {
			return fmt.Errorf("%w: collection %q: index %q: the column name %q is longer than %s keeps (%d bytes): declare a shorter name", ErrInvalid, c.name, col.decl, col.name, d.Name, d.MaxName)
		}
	}
	return nil
}

func (c *collection[T]) createIndex(conn backend.Conn, d *sqlgen.Dialect, name, ddl string) error {
	if err := c.nameFree(conn, d, name, c.name); err != nil {
		return err
	}
	if err := conn.Exec(ddl); err != nil {
		if isUnique(err) {
			return fmt.Errorf("%w: collection %q: stored values break a Unique index: %w", ErrConflict, c.name, err)
		}
		return err
	}
	return nil
}

// tableColumns returns the lower-cased column names of a table, nil when
// there is no such table.
func tableColumns(conn backend.Conn, d *sqlgen.Dialect, table string) (map[string]bool, error) {
	var have map[string]bool
	err := query(conn, d.TableColumns, []any{table}, func(st backend.Stmt) error {
		if have == nil {
			have = map[string]bool{}
		}
		have[strings.ToLower(st.ColumnText(0))] = true
		return nil
	})
	return have, err
}

// migrate brings an existing table in line with the declaration and
// returns the columns and composites it now has. Declared columns that are
// missing are added and filled from the stored blobs. Nothing is dropped
// or loosened unless the declaration says DropIndex: another version of
// the program may still use it. It runs inside the opening transaction.
func (c *collection[T]) migrate(conn backend.Conn, d *sqlgen.Dialect, stored *storedCollection, cd *codec.Codec[T]) (*storedCollection, error) {
	t := c.table
	have, err := tableColumns(conn, d, c.name)
	if err != nil {
		return nil, err
	}
	if have == nil {
		return nil, fmt.Errorf("%w: collection %q is in _airnest_collections but its table is missing", ErrSchema, c.name)
	}
	if !have[sqlgen.ShapeColumn] {
		if err := conn.Exec(t.AddShapeColumn()); err != nil {
			return nil, err
		}
	}
	drop := map[string]bool{}
	for _, d := range c.drops {
		drop[strings.ToLower(strings.ReplaceAll(d, " ", ""))] = true
	}
	want := map[string]sqlgen.Column{}
	for _, col := range t.Columns {
		want[strings.ToLower(col.Name)] = col
	}
	out := &storedCollection{Composites: t.Composites}
	declaredComp := map[string]bool{}
	for _, comp := range t.Composites {
		declaredComp[strings.ToLower(t.CompositeName(comp))] = true
	}
	for _, comp := range stored.Composites {
		name := t.CompositeName(comp)
		dropped := drop[strings.ToLower(strings.Join(comp.Columns, ","))]
		for _, col := range comp.Columns {
			dropped = dropped || drop[strings.ToLower(col)]
		}
		switch {
		case dropped:
			if err := conn.Exec(sqlgen.DropIndex(name)); err != nil {
				return nil, err
			}
		case !declaredComp[strings.ToLower(name)]:
			out.Composites = append(out.Composites, comp)
		}
	}
	present := map[string]bool{}
	for _, col := range stored.Columns {
		key := strings.ToLower(col.Name)
		w, declared := want[key]
		if drop[key] {
			if err := conn.Exec(sqlgen.DropIndex(t.IndexName(col.Name))); err != nil {
				return nil, err
			}
			if col.Elems != nil {
				if err := conn.Exec(sqlgen.DropElems(col.Elems)); err != nil {
					return nil, err
				}
			}
			if err := conn.Exec(t.DropColumn(col.Name)); err != nil {
				return nil, err
			}
			continue
		}
		if !have[key] {
			continue // recorded but not in the table: added again if declared
		}
		present[key] = true
		if !declared {
			out.Columns = append(out.Columns, col) // kept for another version
			continue
		}
		if columnKind(w) != columnKind(col) {
			return nil, fmt.Errorf("%w: collection %q: index column %q is stored as %s and now declared as %s; another version of the program may still use it: add airnest.DropIndex(%q) to rebuild it", ErrSchema, c.name, w.Name, columnKind(col), columnKind(w), w.Name)
		}
		if w.Unique && !col.Unique && col.Indexed {
			// Rebuilt as UNIQUE below; a UNIQUE index is kept when no
			// longer declared, as another version may rely on it.
			if err := conn.Exec(sqlgen.DropIndex(t.IndexName(col.Name))); err != nil {
				return nil, err
			}
		}
		w.Name, w.Indexed, w.Unique = col.Name, w.Indexed || col.Indexed, w.Unique || col.Unique && col.Indexed
		if col.Elems != nil {
			w.Elems = col.Elems // its side table as named when it was made
		}
		out.Columns = append(out.Columns, w)
	}
	var fill []sqlgen.Column
	var fillCols []indexCol
	for i, col := range t.Columns {
		if present[strings.ToLower(col.Name)] {
			continue
		}
		if err := c.createElems(conn, d, col); err != nil {
			return nil, err
		}
		if err := conn.Exec(t.AddColumn(col)); err != nil {
			return nil, err
		}
		out.Columns = append(out.Columns, col)
		fill = append(fill, col)
		fillCols = append(fillCols, c.cols[i])
	}
	if len(fill) == 0 {
		return out, nil
	}
	return out, c.backfill(conn, cd, fill, fillCols)
}

// backfillPage is how many rows back-fill reads before it writes them:
// reading and writing are not interleaved on one connection, which not
// every database allows.
const backfillPage = 512

// backfill computes new index columns from every stored blob.
func (c *collection[T]) backfill(conn backend.Conn, cd *codec.Codec[T], fill []sqlgen.Column, cols []indexCol) error {
	upd, err := conn.PrepareOnce(c.table.UpdateColumns(fill))
	if err != nil {
		return err
	}
	defer upd.Close()
	type row struct {
		id   []byte
		vals []sqlValue
	}
	var after []byte
	for {
		var page []row
		var args []any
		n := 0 // rows read, including those skipped
		if after != nil {
			args = []any{after}
		}
		err := query(conn, c.table.ScanPage(after != nil, backfillPage), args, func(sel backend.Stmt) error {
			var v T
			id := sel.ColumnBlob(0, nil)
			after = id
			n++
			if err := cd.Decode(sel.ColumnRawBlob(1), &v); err != nil {
				if errors.Is(err, ErrSchema) {
					// A value in an older shape (a field changed type): its
					// new columns stay NULL until Migrate or a Save rewrites
					// it, so the store still opens and Migrate can run.
					return nil
				}
				return fmt.Errorf("collection %q: back-filling index columns: id %s: %w", c.name, rowID(id), err)
			}
			rv := reflect.ValueOf(&v).Elem()
			r := row{id: id}
			for _, col := range cols {
				sv, err := col.value(rv)
				if err != nil {
					return fmt.Errorf("%w: collection %q: back-filling index %q: id %s: %v", ErrInvalid, c.name, col.decl, rowID(id), err)
				}
				r.vals = append(r.vals, sv)
			}
			var err error
			if r.vals, err = appendElems(cols, rv, r.vals); err != nil {
				return fmt.Errorf("collection %q: back-filling: id %s: %w", c.name, rowID(id), err)
			}
			page = append(page, r)
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range page {
			for i, sv := range r.vals[:len(cols)] {
				sv.bind(upd, i+1)
			}
			upd.BindBlob(len(cols)+1, r.id)
			if err := upd.Exec(); err != nil {
				return err
			}
			if err := c.backfillElems(conn, cols, r.id, r.vals[len(cols):]); err != nil {
				return err
			}
		}
		if n < backfillPage {
			return nil
		}
	}
}

// makePlan plans the writes of this program against the table's columns
// as recorded in stored: every column another version declared must be
// computable from T, or this program would leave it stale.
func (c *collection[T]) makePlan(conn backend.Conn, d *sqlgen.Dialect, stored *storedCollection) (*writePlan, error) {
	have, err := tableColumns(conn, d, c.name)
	if err != nil {
		return nil, err
	}
	if have == nil {
		return nil, fmt.Errorf("%w: collection %q: its table was dropped by another program", ErrSchema, c.name)
	}
	t := sqlgen.Table{D: d, Name: c.name, Columns: append([]sqlgen.Column(nil), c.table.Columns...)}
	declared := map[string]bool{}
	for _, col := range c.table.Columns {
		declared[strings.ToLower(col.Name)] = true
		if !have[strings.ToLower(col.Name)] {
			return nil, fmt.Errorf("%w: collection %q: index column %q was dropped by another program (airnest.DropIndex); open the store again to rebuild it", ErrSchema, c.name, col.Name)
		}
	}
	p := &writePlan{}
	rt := reflect.TypeFor[T]()
	for _, col := range stored.Columns {
		if declared[strings.ToLower(col.Name)] {
			continue
		}
		kc, ok := keptColumn(c.name, rt, col)
		if !ok {
			return nil, fmt.Errorf("%w: collection %q: index column %q (%s) is declared by another version of the program, and %s has no field to compute it from, so this program would leave it stale: declare it, or add airnest.DropIndex(%q) once no running version declares it", ErrSchema, c.name, col.Name, col.Type, rt, col.Name)
		}
		p.kept = append(p.kept, kc)
		t.Columns = append(t.Columns, col)
	}
	unique := slices.ContainsFunc(stored.Columns, func(c sqlgen.Column) bool { return c.Unique }) ||
		slices.ContainsFunc(stored.Composites, func(c sqlgen.Composite) bool { return c.Unique })
	if old := c.plan.Load(); old != nil && old.upsert.SQL == t.Upsert() && old.upsert.MayFail == unique {
		p.upsert = old.upsert
	} else {
		p.upsert = backend.NewQuery(t.Upsert())
		p.upsert.MayFail = unique // a Unique clash leaves the transaction usable
	}
	p.schema, err = conn.SchemaVersion()
	return p, err
}

// replan re-reads the collection's columns after another program changed
// the schema; it runs in the write transaction that noticed.
func (c *collection[T]) replan(conn backend.Conn) (*writePlan, error) {
	d := c.table.D
	stored, err := c.readStored(conn, d)
	if err != nil {
		return nil, err
	}
	if stored == nil {
		return nil, fmt.Errorf("%w: collection %q: its bookkeeping row was removed by another program", ErrSchema, c.name)
	}
	p, err := c.makePlan(conn, d, stored)
	if err != nil {
		return nil, err
	}
	c.plan.Store(p)
	return p, nil
}

// write upserts one row on conn: vals are the declared index columns
// (from encode); kept columns are computed here from the blob. When another
// program changed the table since the plan was made (it opened the file
// with other index columns), the plan is made again first, in this
// transaction, so every column the file has is filled.
func (c *collection[T]) write(conn backend.Conn, id ID[T], blob []byte, vals []sqlValue) error {
	p := c.plan.Load()
	v, err := conn.SchemaVersion()
	if err != nil {
		return err
	}
	if v != p.schema {
		if p, err = c.replan(conn); err != nil {
			return err
		}
	}
	return c.upsert(conn, p, id, blob, vals)
}

func (c *collection[T]) upsert(conn backend.Conn, p *writePlan, id ID[T], blob []byte, vals []sqlValue) error {
	if len(vals) < len(c.cols) {
		return fmt.Errorf("airnest: collection %q: %d index values for %d columns", c.name, len(vals), len(c.cols))
	}
	st, err := conn.Prepare(p.upsert)
	if err != nil {
		return err
	}
	if err := st.BindBlob(1, id.u[:]); err != nil {
		return err
	}
	if err := st.BindBlob(2, blob); err != nil {
		st.ClearBindings()
		return err
	}
	st.BindInt64(3, c.shape)
	n := 4
	for i, v := range vals[:len(c.cols)] {
		if err := v.bind(st, n); err != nil {
			st.Reset()
			col := c.cols[i]
			return fmt.Errorf("index %q (field %s) value %s: %w", col.name, col.field, v, err)
		}
		n++
	}
	var keptElems [][]sqlValue
	if len(p.kept) > 0 {
		var v T
		if err := c.codec.Load().Decode(blob, &v); err != nil {
			st.Reset()
			return err
		}
		rv := reflect.ValueOf(&v).Elem()
		keptElems = make([][]sqlValue, len(p.kept))
		for i, col := range p.kept {
			sv, err := col.value(rv)
			if err == nil {
				err = sv.bind(st, n)
			}
			if err == nil && col.elem != nil {
				keptElems[i], err = col.elements(rv, nil)
			}
			if err != nil {
				st.Reset()
				return fmt.Errorf("%w: index %q (kept for another version; field %s): %v", ErrInvalid, col.name, col.field, err)
			}
			n++
		}
	}
	if err := st.Exec(); err != nil {
		return err
	}
	if len(vals) == len(c.cols) && keptElems == nil {
		return nil
	}
	return c.writeElems(conn, p, id.u[:], vals[len(c.cols):], keptElems)
}
