package sqlgen

import "fmt"

// The reads of the bookkeeping tables that Stats and the airnest command
// share. Text columns are ordered byte-wise on every database, so that a
// listing comes out the same from SQLite and from PostgreSQL whatever the
// server's collation.

// bytewise orders by the text column col as SQLite does, byte by byte.
func (d *Dialect) bytewise(col string) string {
	if d.or().pg {
		return col + ` COLLATE "C"`
	}
	return col
}

// Collections selects (name, go_type, columns, created) of every
// collection, in name order.
func (d *Dialect) Collections() string {
	return "SELECT name, go_type, columns, created FROM _airnest_collections ORDER BY " + d.bytewise("name")
}

// CollectionKeys selects (space, name, key, type) of the key registry of
// the collection named ?, by space and key.
func (d *Dialect) CollectionKeys() string {
	return "SELECT space, name, key, type FROM _airnest_keys WHERE collection = ? ORDER BY " + d.bytewise("space") + ", key"
}

// MigrationRows selects every row of the Migrations table, by collection
// and name.
func (d *Dialect) MigrationRows() string {
	return "SELECT collection, name, upto, cursor, done, total, started, finished FROM _airnest_migrations ORDER BY " +
		d.bytewise("collection") + ", " + d.bytewise("name")
}

// Size selects the table's row count and the total bytes of its values.
func (t Table) Size() string {
	return fmt.Sprintf("SELECT count(*), coalesce(sum(length(v)), 0) FROM %s", Quote(t.Name))
}

// CountRows selects how many rows the SELECT sql returns.
func CountRows(sql string) string {
	return "SELECT count(*) FROM (" + sql + ") AS counted"
}
