// Package sqlgen writes the SQL text airnest runs. All identifiers pass
// through ValidName and Quote; values are never part of the text, only
// bound parameters. Keeping the text here leaves one seam for another SQL
// dialect without touching the public API.
package sqlgen

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Column is a declared index column.
type Column struct {
	Name    string // SQL column name, as declared (e.g. "status", "meta__owner")
	Type    string // INTEGER, REAL, TEXT, BLOB
	Indexed bool   // has its own single-column index
	Unique  bool   // that index is UNIQUE
	// Path is the declared dotted path of a nested field ("meta.owner"),
	// "" for a field of the top-level struct.
	Path string `json:",omitempty"`
	// Func marks a column computed by a Go function (airnest.IndexFunc):
	// no stored field holds its value.
	Func bool `json:",omitempty"`
	// Elems, for a slice, names the side table holding one row per
	// element; the column itself holds the slice's length.
	Elems *Elems `json:",omitempty"`
}

// Elems is the side table of a slice column: (elem, id), primary key
// (elem, id), with an index on id; id references the collection's table
// with ON DELETE CASCADE, so deleting a value deletes its elements.
type Elems struct {
	Table string // e.g. "Job__tags__elems"
	Type  string // SQL type of one element: INTEGER, REAL, TEXT, BLOB
}

// Composite is an index over several columns, in order.
type Composite struct {
	Columns []string
	Unique  bool
}

// Table describes one collection's table: id BLOB primary key, v the CBOR
// blob, then the index columns.
type Table struct {
	D          *Dialect // nil: SQLite
	Name       string
	Columns    []Column
	Composites []Composite
}

var nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// ValidName checks a table or column name: letters, digits and underscores,
// not starting with a digit, at most 128 bytes, and not in SQLite's or
// airnest's reserved prefixes.
func ValidName(s string) error {
	if !nameRE.MatchString(s) {
		return fmt.Errorf("name %q: want letters, digits and _ (not first), at most 128 bytes", s)
	}
	l := strings.ToLower(s)
	if strings.HasPrefix(l, "sqlite_") || strings.HasPrefix(l, "_airnest") {
		return fmt.Errorf("name %q: the prefixes sqlite_ and _airnest are reserved", s)
	}
	return nil
}

// Quote returns s as a quoted SQL identifier.
func Quote(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// Reserved column names of every collection table. ShapeColumn records
// which Go type shape wrote the row (see airnest.Migrate); NULL for rows
// written before format version 1.
const (
	IDColumn    = "id"
	BlobColumn  = "v"
	ShapeColumn = "_airnest_shape"
)

// CreateTable is the DDL for a new collection table (without its indexes).
func (t Table) CreateTable() string {
	var b strings.Builder
	blob, integer := t.D.TypeName("BLOB"), t.D.TypeName("INTEGER")
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (id %s PRIMARY KEY NOT NULL, v %s NOT NULL, %s %s", Quote(t.Name), blob, blob, ShapeColumn, integer)
	for _, c := range t.Columns {
		fmt.Fprintf(&b, ", %s %s", Quote(c.Name), t.D.TypeName(c.Type))
	}
	b.WriteString(")" + t.D.tableSuffix())
	return b.String()
}

// AddColumn adds one index column to an existing table.
func (t Table) AddColumn(c Column) string {
	return fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", Quote(t.Name), Quote(c.Name), t.D.TypeName(c.Type))
}

// DropColumn removes a column (its index must be dropped first).
func (t Table) DropColumn(name string) string {
	return fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s", Quote(t.Name), Quote(name))
}

// IndexName is the name of the single-column index on col.
func (t Table) IndexName(col string) string { return t.Name + "__" + col }

// CompositeName names a composite index.
func (t Table) CompositeName(c Composite) string {
	return t.Name + "__" + strings.Join(c.Columns, "__")
}

// CreateIndex is the DDL for a single-column index.
func (t Table) CreateIndex(c Column) string {
	u := ""
	if c.Unique {
		u = "UNIQUE "
	}
	return fmt.Sprintf("CREATE %sINDEX IF NOT EXISTS %s ON %s (%s)", u, Quote(t.IndexName(c.Name)), Quote(t.Name), t.D.indexKeys([]string{c.Name}, c.Unique))
}

// CreateComposite is the DDL for a composite index.
func (t Table) CreateComposite(c Composite) string {
	u := ""
	if c.Unique {
		u = "UNIQUE "
	}
	return fmt.Sprintf("CREATE %sINDEX IF NOT EXISTS %s ON %s (%s)", u, Quote(t.CompositeName(c)), Quote(t.Name), t.D.indexKeys(c.Columns, c.Unique))
}

// ObjectNames names what the table's DDL creates: the table, then its
// indexes and the side tables of its slice columns (with their indexes).
func (t Table) ObjectNames() []string {
	out := []string{t.Name}
	for _, col := range t.Columns {
		if col.Indexed {
			out = append(out, t.IndexName(col.Name))
		}
		if col.Elems != nil {
			out = append(out, col.Elems.Table, ElemsIndex(col.Elems))
		}
	}
	for _, comp := range t.Composites {
		out = append(out, t.CompositeName(comp))
	}
	return out
}

// DropTable is the DDL to remove a table, and its indexes, by name.
func DropTable(name string) string { return "DROP TABLE IF EXISTS " + Quote(name) }

// DropIndex is the DDL to remove an index by name.
func DropIndex(name string) string { return "DROP INDEX IF EXISTS " + Quote(name) }

// AddShapeColumn adds ShapeColumn to a table made before format version 1.
func (t Table) AddShapeColumn() string {
	return fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", Quote(t.Name), ShapeColumn, t.D.TypeName("INTEGER"))
}

// Upsert inserts or replaces the row for id (parameters: id, v, shape,
// columns in order). The caller checks the schema_version its column list
// was planned for once per transaction. It never deletes other rows, so a
// Unique clash is an error rather than a silent replacement.
func (t Table) Upsert() string {
	var b strings.Builder
	fmt.Fprintf(&b, "INSERT INTO %s (id, v, %s", Quote(t.Name), ShapeColumn)
	for _, c := range t.Columns {
		b.WriteString(", ")
		b.WriteString(Quote(c.Name))
	}
	b.WriteString(") VALUES (" + t.D.param(1) + ", " + t.D.param(2) + ", " + t.D.param(3))
	for i := range t.Columns {
		b.WriteString(", " + t.D.param(4+i))
	}
	fmt.Fprintf(&b, ") ON CONFLICT (id) DO UPDATE SET v = excluded.v, %s = excluded.%s", ShapeColumn, ShapeColumn)
	for _, c := range t.Columns {
		fmt.Fprintf(&b, ", %s = excluded.%s", Quote(c.Name), Quote(c.Name))
	}
	return b.String()
}

// UpdateColumns rewrites the index columns of one row (parameters: columns in order, then id); used by back-fill.
func (t Table) UpdateColumns(cols []Column) string {
	var b strings.Builder
	fmt.Fprintf(&b, "UPDATE %s SET ", Quote(t.Name))
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s = %s", Quote(c.Name), t.D.param(i+1))
	}
	b.WriteString(" WHERE id = " + t.D.param(len(cols)+1))
	return b.String()
}

// Load selects the blob of one id.
func (t Table) Load() string {
	return fmt.Sprintf("SELECT v FROM %s WHERE id = %s", Quote(t.Name), t.D.param(1))
}

// LoadForUpdate is Load that also locks the row until the transaction ends
// where the database locks rows (read-modify-write in Update).
func (t Table) LoadForUpdate() string {
	return t.Load() + t.D.or().ForUpdate
}

// Exists selects 1 when the id is present.
func (t Table) Exists() string {
	return fmt.Sprintf("SELECT 1 FROM %s WHERE id = %s", Quote(t.Name), t.D.param(1))
}

// Delete deletes one id.
func (t Table) Delete() string {
	return fmt.Sprintf("DELETE FROM %s WHERE id = %s", Quote(t.Name), t.D.param(1))
}

// Scan selects id and blob of every row in id order.
func (t Table) Scan() string { return fmt.Sprintf("SELECT id, v FROM %s ORDER BY id", Quote(t.Name)) }

// ScanPage selects id and blob of at most limit rows in id order, after an
// id when after is set (its one parameter).
func (t Table) ScanPage(after bool, limit int) string {
	where := ""
	if after {
		where = " WHERE id > " + t.D.param(1)
	}
	return fmt.Sprintf("SELECT id, v FROM %s%s ORDER BY id LIMIT %d", Quote(t.Name), where, limit)
}

// Count counts the rows.
func (t Table) Count() string { return fmt.Sprintf("SELECT count(*) FROM %s", Quote(t.Name)) }

// SelectColumns selects id, v and the given columns of every row (for verify and back-fill).
func (t Table) SelectColumns(cols []Column) string {
	var b strings.Builder
	b.WriteString("SELECT id, v")
	for _, c := range cols {
		b.WriteString(", ")
		b.WriteString(Quote(c.Name))
	}
	fmt.Fprintf(&b, " FROM %s ORDER BY id", Quote(t.Name))
	return b.String()
}

// param is the text of parameter n (from 1).
func (d *Dialect) param(n int) string {
	if d.or().pg {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

// indexKeys are the key columns of an index. On PostgreSQL each has NULLs
// first, the order SQLite gives them, and a non-unique index ends with id,
// which SQLite's indexes carry implicitly: so ORDER BY col, id (every
// query's tie-break, and keyset paging's row comparison) reads the index
// without a sort.
func (d *Dialect) indexKeys(cols []string, unique bool) string {
	keys := make([]string, len(cols))
	for i, c := range cols {
		keys[i] = Quote(c)
		if d.or().pg {
			keys[i] += " NULLS FIRST"
		}
	}
	if d.or().pg && !unique {
		keys = append(keys, IDColumn)
	}
	return strings.Join(keys, ", ")
}
