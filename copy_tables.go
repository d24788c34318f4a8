package airnest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

// tableKind is one kind of table airnest keeps beside the collection
// tables. Copy knows exactly these: a table whose name starts with
// _airnest_ and matches none of them makes Copy fail rather than leave it
// behind, so a release that adds a kind of table adds it here.
type tableKind struct {
	name string
	// create is the table's DDL in a dialect; nil when another kind's DDL
	// makes it too, or when Copy does not copy the table.
	create func(d *sqlgen.Dialect) string
	// cols are the columns copied, in order; key orders the rows. No cols:
	// the destination writes its own (the format version).
	cols, key []string
	// required tables make a database an airnest store.
	required bool
}

var tableKinds = []tableKind{
	{name: "_airnest_collections", create: (*sqlgen.Dialect).Meta, required: true,
		cols: []string{"name", "go_type", "columns", "created"}, key: []string{"name"}},
	{name: "_airnest_keys", required: true, // made by Meta with _airnest_collections
		cols: []string{"collection", "space", "name", "key", "type"}, key: []string{"collection", "space", "name"}},
	{name: "_airnest_migrations", create: (*sqlgen.Dialect).Migrations,
		cols: []string{"collection", "name", "upto", "cursor", "done", "total", "started", "finished"}, key: []string{"collection", "name"}},
	{name: "_airnest_format"}, // PostgreSQL's format row: written by the destination itself
	// The change log of Watch is not copied: its sequence numbers mean
	// something only in the database that made them. A program that opens
	// the copy with ChangeLog starts a new log there.
	{name: "_airnest_changes"},
	{name: "_airnest_changelog"},
	{name: "_airnest_seq"},
}

// tableKindOf returns the kind of table name, nil for a table of no kind.
func tableKindOf(name string) *tableKind {
	for i := range tableKinds {
		if strings.EqualFold(tableKinds[i].name, name) {
			return &tableKinds[i]
		}
	}
	return nil
}

// copySource is what Copy read from the source's snapshot before copying.
type copySource struct {
	kinds   []*tableKind // the bookkeeping tables present, in tableKinds order
	colls   []copyColl   // in name order
	skipped []string     // tables that are not airnest's
	rows    int64        // of every collection
}

// copyColl is one collection of the source: its table as it stands, with
// the index columns its bookkeeping records, in the recorded order.
type copyColl struct {
	table sqlgen.Table
	rows  int64
}

// listTables returns the name of every table of the database on conn.
func listTables(conn backend.Conn, d *sqlgen.Dialect) ([]string, error) {
	var names []string
	err := query(conn, d.Tables, nil, func(st backend.Stmt) error {
		names = append(names, st.ColumnText(0))
		return nil
	})
	slices.Sort(names)
	return names, err
}

// readSource reads the layout of the store on conn, inside its snapshot.
// It refuses a database that is not an airnest store, a table named like
// airnest's that Copy does not know, and a collection whose table does
// not match its bookkeeping.
func readSource(conn backend.Conn, d *sqlgen.Dialect) (*copySource, error) {
	if _, err := readFormat(conn, d); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	tables, err := listTables(conn, d)
	if err != nil {
		return nil, err
	}
	present := map[string]bool{}
	for _, t := range tables {
		if k := tableKindOf(t); k != nil {
			present[k.name] = true
		}
	}
	src := &copySource{}
	for i := range tableKinds {
		k := &tableKinds[i]
		if k.required && !present[k.name] {
			return nil, fmt.Errorf("%w: the source is not an airnest store: it has no %s table", ErrInvalid, k.name)
		}
		if present[k.name] && k.cols != nil {
			src.kinds = append(src.kinds, k)
		}
	}
	err = query(conn, "SELECT name, columns FROM _airnest_collections", nil, func(st backend.Stmt) error {
		name := st.ColumnText(0)
		if err := sqlgen.ValidName(name); err != nil {
			return fmt.Errorf("%w: source: _airnest_collections: %v (edited by hand or damaged)", ErrSchema, err)
		}
		var sc storedCollection
		if err := json.Unmarshal([]byte(st.ColumnText(1)), &sc); err != nil {
			return fmt.Errorf("%w: source: collection %q: _airnest_collections.columns: %v", ErrSchema, name, err)
		}
		src.colls = append(src.colls, copyColl{table: sqlgen.Table{D: d, Name: name, Columns: sc.Columns, Composites: sc.Composites}})
		return nil
	})
	if err != nil {
		return nil, err
	}
	// In byte order, as Verify lists them (a server may sort by locale).
	slices.SortFunc(src.colls, func(a, b copyColl) int { return strings.Compare(a.table.Name, b.table.Name) })
	byName := map[string]int{}
	// The side tables of slice columns, and those the source has.
	side, found := map[string]bool{}, map[string]bool{}
	for i, cc := range src.colls {
		byName[strings.ToLower(cc.table.Name)] = i
		for _, e := range sideTables(cc.table.Columns) {
			side[strings.ToLower(e.Table)] = true
		}
	}
	seen := map[int]bool{}
	for _, t := range tables {
		i, isColl := byName[strings.ToLower(t)]
		switch {
		case tableKindOf(t) != nil:
		case isColl:
			seen[i] = true
		case side[strings.ToLower(t)]:
			found[strings.ToLower(t)] = true
		case strings.HasPrefix(strings.ToLower(t), "_airnest_"):
			return nil, fmt.Errorf("%w: the source holds the table %q, which this release of airnest does not know how to copy (made by a newer release?): copy it with the release that made it", ErrSchema, t)
		default:
			src.skipped = append(src.skipped, t)
		}
	}
	for i := range src.colls {
		cc := &src.colls[i]
		if !seen[i] {
			return nil, fmt.Errorf("%w: source: collection %q is in _airnest_collections but its table is missing", ErrSchema, cc.table.Name)
		}
		for _, e := range sideTables(cc.table.Columns) {
			if !found[strings.ToLower(e.Table)] {
				return nil, fmt.Errorf("%w: source: collection %q: the side table %q of its slice index is missing", ErrSchema, cc.table.Name, e.Table)
			}
		}
		if err := checkCopyColumns(conn, d, cc.table); err != nil {
			return nil, err
		}
		err := query(conn, cc.table.Count(), nil, func(st backend.Stmt) error {
			cc.rows = st.ColumnInt64(0)
			return nil
		})
		if err != nil {
			return nil, err
		}
		src.rows += cc.rows
	}
	return src, nil
}

// checkCopyColumns fails unless the table has exactly the columns its
// bookkeeping records, besides id, v and the shape column: Copy makes the
// destination's table from the bookkeeping.
func checkCopyColumns(conn backend.Conn, d *sqlgen.Dialect, t sqlgen.Table) error {
	have, err := tableColumns(conn, d, t.Name)
	if err != nil {
		return err
	}
	if !have[sqlgen.ShapeColumn] {
		return fmt.Errorf("%w: source: collection %q has no %s column (a store of format version 0): open it once with airnest.Open, which upgrades it, then copy it", ErrSchema, t.Name, sqlgen.ShapeColumn)
	}
	want := map[string]bool{sqlgen.IDColumn: true, sqlgen.BlobColumn: true, sqlgen.ShapeColumn: true}
	for _, c := range t.Columns {
		if err := sqlgen.ValidName(c.Name); err != nil {
			return fmt.Errorf("%w: source: collection %q: index column: %v (edited by hand or damaged)", ErrSchema, t.Name, err)
		}
		want[strings.ToLower(c.Name)] = true
		if !have[strings.ToLower(c.Name)] {
			return fmt.Errorf("%w: source: collection %q: index column %q is recorded but missing from its table", ErrSchema, t.Name, c.Name)
		}
	}
	for c := range have {
		if !want[c] {
			return fmt.Errorf("%w: source: collection %q: its table has a column %q that its bookkeeping does not record", ErrSchema, t.Name, c)
		}
	}
	return nil
}

// sideTables lists the side tables of a collection's slice columns.
func sideTables(cols []sqlgen.Column) []*sqlgen.Elems {
	var out []*sqlgen.Elems
	for _, c := range cols {
		if c.Elems != nil {
			out = append(out, c.Elems)
		}
	}
	return out
}

// copyValue binds column j of src's current row to parameter i of dst,
// with the type it has.
func copyValue(dst backend.Stmt, i int, src backend.Stmt, j int) error {
	switch src.ColumnType(j) {
	case backend.Null:
		return dst.BindNull(i)
	case backend.Integer:
		return dst.BindInt64(i, src.ColumnInt64(j))
	case backend.Float:
		return dst.BindFloat(i, src.ColumnFloat(j))
	case backend.Text:
		return dst.BindText(i, src.ColumnText(j))
	}
	b := src.ColumnRawBlob(j)
	if b == nil {
		b = []byte{} // an empty blob, not NULL
	}
	return dst.BindBlob(i, b)
}

// copyRows runs sel (with args) on from and inserts each row it returns
// with ins on to, column by column, calling row after each. It returns the
// rows copied.
func copyRows(from, to backend.Conn, sel string, args []any, ins backend.Stmt, row func(backend.Stmt)) (int64, error) {
	var n int64
	err := query(from, sel, args, func(st backend.Stmt) error {
		for j := range st.ColumnCount() {
			if err := copyValue(ins, j+1, st, j); err != nil {
				return err
			}
		}
		if err := ins.Exec(); err != nil {
			return err
		}
		n++
		if row != nil {
			row(st)
		}
		return nil
	})
	return n, err
}

// holdings lists what the database on conn already holds: the tables of
// an airnest store (with its collections' names) and any other tables.
// The format table, which a destination gets before it is looked at, is
// left out.
func holdings(conn backend.Conn, d *sqlgen.Dialect) (ours, colls, other []string, err error) {
	tables, err := listTables(conn, d)
	if err != nil {
		return nil, nil, nil, err
	}
	collTable, side := map[string]bool{}, map[string]bool{}
	if slices.ContainsFunc(tables, func(t string) bool { return strings.EqualFold(t, "_airnest_collections") }) {
		err := query(conn, "SELECT name, columns FROM _airnest_collections ORDER BY name", nil, func(st backend.Stmt) error {
			colls = append(colls, st.ColumnText(0))
			collTable[strings.ToLower(st.ColumnText(0))] = true
			var sc storedCollection
			if json.Unmarshal([]byte(st.ColumnText(1)), &sc) == nil {
				for _, e := range sideTables(sc.Columns) {
					side[strings.ToLower(e.Table)] = true
				}
			}
			return nil
		})
		if err != nil {
			return nil, nil, nil, err
		}
	}
	for _, t := range tables {
		l := strings.ToLower(t)
		switch {
		case l == "_airnest_format":
		case side[l]: // dropped before the table it references
			ours = append([]string{t}, ours...)
		case strings.HasPrefix(l, "_airnest_") || collTable[l]:
			ours = append(ours, t)
		default:
			other = append(other, t)
		}
	}
	return ours, colls, other, nil
}

// refuseHoldings says why Copy may not write into a destination that
// holds these tables, nil when it may.
func refuseHoldings(ours, colls, other []string, overwrite bool) error {
	if len(other) > 0 {
		return fmt.Errorf("%w: the destination holds tables that are not an airnest store's (%s): copy into a new file or an empty database", ErrInvalid, strings.Join(other, ", "))
	}
	if len(ours) > 0 && !overwrite {
		what := "no collections"
		if len(colls) > 0 {
			what = "collections " + strings.Join(colls, ", ")
		}
		return fmt.Errorf("%w: the destination already holds an airnest store (%s): pass Overwrite (airnest copy --overwrite) to replace it", ErrInvalid, what)
	}
	return nil
}
