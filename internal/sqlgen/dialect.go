package sqlgen

import (
	"fmt"
	"strconv"
	"strings"
)

// Dialect is what differs in the SQL text airnest writes for one database.
// Every statement airnest runs comes from this package with a Dialect; the
// root package never writes dialect-specific text itself.
type Dialect struct {
	Name string
	pg   bool

	// Begin starts a write transaction; Commit ends it.
	Begin, Commit string
	// SchemaLock, run first inside the transaction that syncs the schema at
	// Open, serializes schema syncs of several processes ("" where the
	// write transaction itself does).
	SchemaLock string
	// SchemaShared, run at the start of every write transaction where the
	// database lets writers run together, waits for a schema sync in
	// progress (SchemaLock's key, held exclusively) and keeps the next one
	// from starting until the transaction ends, so the schema version it
	// reads stays true until commit.
	SchemaShared string
	// SchemaVersion reads a number that changes whenever the schema does;
	// BumpSchema, run at the end of every schema sync, changes it where the
	// database does not do so by itself ("").
	SchemaVersion, BumpSchema string
	// FormatTable creates where the format is recorded, with a row of
	// zeros ("" for a file header); ReadFormat reads (application id,
	// format version), zeros meaning none recorded; WriteFormat records
	// this release's.
	FormatTable, ReadFormat, WriteFormat string
	// TableColumns lists the column names of table ?; TableExists returns
	// a row when table ? exists; NameClash returns (kind, name) of every
	// table, index or view named ? ignoring case, except indexes of table ?.
	TableColumns, TableExists, NameClash string
	// Tables lists the name of every table, in name order, except the
	// database's own (SQLite's sqlite_ tables).
	Tables string
	// StoredCollection reads (name, columns) of the collection named ?,
	// ignoring case.
	StoredCollection string
	// KeyTypes is the expression that lists the stored types of a key
	// registry row: "text,text,integer,text" when it is sound.
	KeyTypes string
	// ForUpdate, appended to a SELECT in a write transaction, locks the rows
	// it returns until the transaction ends ("" where a write transaction
	// excludes every other writer anyway).
	ForUpdate string
	// MaxName is the longest identifier the database keeps whole, in bytes.
	MaxName int
	// Seal, run on a new database file once it is complete, leaves it
	// standing alone, ready to be renamed: SQLite folds the WAL in and goes
	// back to a rollback journal (airnest.Open turns WAL mode on again).
	// "" for a server.
	Seal string
	// CheapStop: a statement reset before its last row costs nothing more
	// (SQLite steps rows on demand). Where the server sends every row
	// anyway (PostgreSQL), a scan that may stop early reads in pages with
	// a LIMIT instead.
	CheapStop bool
}

// SQLite is the dialect of SQLite 3.45 and later.
var SQLite = &Dialect{
	Name:             "sqlite",
	Begin:            "BEGIN IMMEDIATE",
	Commit:           "COMMIT",
	SchemaVersion:    "PRAGMA schema_version",
	ReadFormat:       "SELECT (SELECT application_id FROM pragma_application_id), (SELECT user_version FROM pragma_user_version)",
	WriteFormat:      fmt.Sprintf("PRAGMA application_id = %d; PRAGMA user_version = %d", ApplicationID, FormatVersion),
	TableColumns:     "SELECT name FROM pragma_table_info(?)",
	TableExists:      "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?",
	NameClash:        "SELECT type, name FROM sqlite_schema WHERE name = ? COLLATE NOCASE AND NOT (type = 'index' AND tbl_name = ? COLLATE NOCASE)",
	Tables:           "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
	StoredCollection: "SELECT name, columns FROM _airnest_collections WHERE name = ? COLLATE NOCASE",
	KeyTypes:         "typeof(space)||','||typeof(name)||','||typeof(key)||','||typeof(type)",
	MaxName:          128,
	Seal:             "PRAGMA journal_mode=DELETE",
	CheapStop:        true,
}

// Postgres is the dialect of PostgreSQL 15 and later. Tables live in the
// connection's current schema (the first of its search_path).
var Postgres = &Dialect{
	Name:          "postgres",
	pg:            true,
	Begin:         "BEGIN",
	Commit:        "COMMIT",
	SchemaLock:    fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", ApplicationID),
	SchemaShared:  fmt.Sprintf("SELECT pg_advisory_xact_lock_shared(%d)", ApplicationID),
	SchemaVersion: "SELECT schema_version FROM _airnest_format",
	BumpSchema:    "UPDATE _airnest_format SET schema_version = schema_version + 1",
	FormatTable: `CREATE TABLE IF NOT EXISTS _airnest_format (
	application_id BIGINT NOT NULL,
	version BIGINT NOT NULL,
	schema_version BIGINT NOT NULL DEFAULT 0
);
INSERT INTO _airnest_format (application_id, version) SELECT 0, 0 WHERE NOT EXISTS (SELECT 1 FROM _airnest_format)`,
	ReadFormat:   "SELECT application_id, version FROM _airnest_format",
	WriteFormat:  fmt.Sprintf(`UPDATE _airnest_format SET application_id = %d, version = %d`, ApplicationID, FormatVersion),
	TableColumns: "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?",
	TableExists:  "SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = ?",
	NameClash: `SELECT CASE c.relkind WHEN 'i' THEN 'index' WHEN 'I' THEN 'index' WHEN 'v' THEN 'view' WHEN 'm' THEN 'view' WHEN 'S' THEN 'sequence' ELSE 'table' END, c.relname
	FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname = current_schema() AND lower(c.relname) = lower(?)
	AND NOT (c.relkind = 'i' AND EXISTS (SELECT 1 FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
		WHERE i.indexrelid = c.oid AND lower(t.relname) = lower(?)))`,
	Tables:           "SELECT tablename::text FROM pg_catalog.pg_tables WHERE schemaname = current_schema() ORDER BY 1",
	StoredCollection: "SELECT name, columns FROM _airnest_collections WHERE lower(name) = lower(?)",
	KeyTypes:         "'text,text,integer,text'", // the columns' types are fixed
	ForUpdate:        " FOR UPDATE",
	MaxName:          63,
}

// or returns d, or SQLite for a nil Dialect (a Table made without one).
func (d *Dialect) or() *Dialect {
	if d == nil {
		return SQLite
	}
	return d
}

// TypeName is the column type of an index column of type t (INTEGER,
// REAL, TEXT or BLOB, as airnest records them).
func (d *Dialect) TypeName(t string) string {
	if !d.or().pg {
		return t
	}
	switch t {
	case "INTEGER":
		return "BIGINT"
	case "REAL":
		return "DOUBLE PRECISION"
	case "TEXT":
		return `TEXT COLLATE "C"` // compared byte-wise, as SQLite does
	case "BLOB":
		return "BYTEA"
	}
	return t
}

// Rebind turns the ? placeholders of airnest's own bookkeeping SQL into the
// dialect's. ? never appears inside airnest's literals.
func (d *Dialect) Rebind(sql string) string {
	if !d.or().pg || !strings.Contains(sql, "?") {
		return sql
	}
	var b strings.Builder
	n := 0
	for _, r := range sql {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Explain prefixes a statement so that it returns its query plan.
func (d *Dialect) Explain(sql string) string {
	if d.or().pg {
		return "EXPLAIN (COSTS OFF) " + sql
	}
	return "EXPLAIN QUERY PLAN " + sql
}

func (d *Dialect) boolLit(b bool) string {
	switch {
	case d.or().pg && b:
		return "TRUE"
	case d.or().pg:
		return "FALSE"
	case b:
		return "1"
	}
	return "0"
}

func (d *Dialect) tableSuffix() string {
	if d.or().pg {
		return ""
	}
	return " WITHOUT ROWID"
}

// Meta is the DDL of the bookkeeping tables, created once per database.
func (d *Dialect) Meta() string {
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS _airnest_collections (
	name TEXT PRIMARY KEY NOT NULL,
	go_type TEXT NOT NULL,
	columns TEXT NOT NULL,
	created %[1]s NOT NULL
)%[2]s;
CREATE TABLE IF NOT EXISTS _airnest_keys (
	collection TEXT NOT NULL,
	space TEXT NOT NULL,
	name TEXT NOT NULL,
	key %[1]s NOT NULL,
	type TEXT NOT NULL,
	PRIMARY KEY (collection, space, name)
)%[2]s`, d.TypeName("INTEGER"), d.tableSuffix())
}

// Migrations is the bookkeeping table of airnest.Migrate, one row per
// migration: the highest id it converts (fixed when it starts), the last id
// converted so far, and when it started and finished (unix nanoseconds).
// The airnest command exports and imports it with the collections.
func (d *Dialect) Migrations() string {
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS _airnest_migrations (
	collection TEXT NOT NULL,
	name TEXT NOT NULL,
	upto %[1]s,
	cursor %[1]s,
	done %[2]s NOT NULL,
	total %[2]s NOT NULL,
	started %[2]s NOT NULL,
	finished %[2]s,
	PRIMARY KEY (collection, name)
)%[3]s`, d.TypeName("BLOB"), d.TypeName("INTEGER"), d.tableSuffix())
}
