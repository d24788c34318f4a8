package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/airnest/airnest"
	"github.com/airnest/airnest/codec"
	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

// The settings airnest.Open uses, so the tool and the program agree on
// locking while both use the file.
const busyTimeout = 5 * time.Second

// readConfig opens a database only to read it: one connection, nothing
// written, a missing file an error rather than a new one.
func readConfig() backend.Config {
	return backend.Config{Sync: "FULL", Readers: 1, Writers: 1, BusyTimeout: busyTimeout, HeapLimit: 256 << 20, ReadOnly: true}
}

// openDB opens the database at dsn, an airnest file or a postgres:// URL,
// with cfg. Errors name it (a URL without its password).
func openDB(ctx context.Context, dsn string, cfg backend.Config) (backend.DB, error) {
	opener, ok := backend.For(dsn)
	if !ok {
		return nil, fmt.Errorf("%s: no database understands it", backend.Redact(dsn))
	}
	db, err := opener.Open(ctx, dsn, cfg)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, openError{fmt.Errorf("%s: no such file", dsn)}
	case err != nil:
		return nil, openError{fmt.Errorf("%s: %w", backend.Redact(dsn), err)}
	}
	return db, nil
}

// openError is a database that could not be opened or reached at all, as
// opposed to one whose content is wrong. Its message is one line: the
// driver puts each address it tried on a line of its own.
type openError struct{ error }

func (e openError) Error() string {
	lines := strings.Split(e.error.Error(), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, " ")
}

func (e openError) Unwrap() error { return e.error }

// source is a database a command reads, in one read-only snapshot.
type source struct {
	name string // the path, or the URL without its password
	db   backend.DB
	c    backend.Conn
	d    *sqlgen.Dialect
}

// openSource opens dsn read-only and starts one snapshot. It refuses a
// database that is not an airnest store, so that no command ever writes
// bookkeeping tables into someone else's database.
func openSource(ctx context.Context, dsn string) (*source, error) {
	db, err := openDB(ctx, dsn, readConfig())
	if err != nil {
		return nil, err
	}
	src := &source{name: backend.Redact(dsn), db: db, d: db.Dialect()}
	if src.c, err = db.Read(ctx); err != nil {
		db.Close()
		return nil, openError{fmt.Errorf("%s: %w", src.name, err)}
	}
	err = src.c.BeginSnapshot()
	if err == nil {
		err = src.checkStore()
	}
	if err != nil {
		src.close()
		return nil, fmt.Errorf("%s: %w", src.name, err)
	}
	return src, nil
}

// checkStore fails unless the bookkeeping tables are there and the format
// recorded is one this release reads.
func (src *source) checkStore() error {
	for _, t := range []string{"_airnest_collections", "_airnest_keys"} {
		if ok, err := src.hasTable(t); err != nil || !ok {
			if err == nil {
				err = errors.New("not an airnest store (it has no _airnest_collections and _airnest_keys tables)")
			}
			return err
		}
	}
	if src.d.FormatTable != "" {
		if ok, err := src.hasTable("_airnest_format"); err != nil || !ok {
			return err
		}
	}
	return src.c.Each(src.d.ReadFormat, nil, func(st backend.Stmt) error {
		return sqlgen.CheckFormat(st.ColumnInt64(0), st.ColumnInt64(1))
	})
}

// hasTable reports whether the database has the table name.
func (src *source) hasTable(name string) (bool, error) { return tableExists(src.c, src.d, name) }

// close ends the snapshot and closes the database.
func (src *source) close() {
	src.c.Rollback()
	src.db.Release(src.c)
	src.db.Close()
}

// openSnapshot opens dsn for reading, starts one read snapshot and reads
// the collections it describes; close the source to end both.
func openSnapshot(ctx context.Context, dsn string) (*source, []*collection, error) {
	src, err := openSource(ctx, dsn)
	if err != nil {
		return nil, nil, err
	}
	cs, err := readCollections(src.c, src.d)
	var ms []exportMigration
	if err == nil {
		ms, err = src.readMigrations()
	}
	if err == nil {
		if err = checkNames(cs, ms); err != nil {
			err = badNames(src.name, err)
		}
	}
	if err != nil {
		src.close()
		return nil, nil, err
	}
	return src, cs, nil
}

// badNames reports a name in the file that no program could have declared.
func badNames(path string, err error) error {
	return fmt.Errorf("%w: %s: %w (edited by hand or damaged: no program can declare that name)", airnest.ErrSchema, path, err)
}

// checkFile fails unless dsn is an airnest store whose bookkeeping holds
// only valid names: the commands that hand it to the library check it
// first, so that no name read from it reaches a message unchecked.
func checkFile(ctx context.Context, dsn string) error {
	src, _, err := openSnapshot(ctx, dsn)
	if err != nil {
		return err
	}
	src.close()
	return nil
}

// openStore opens an existing airnest file as a Store with no collections
// declared, for the operations the library offers (vacuum).
func openStore(ctx context.Context, path string) (*airnest.Store, error) {
	if err := checkFile(ctx, path); err != nil {
		return nil, err
	}
	return airnest.Open(ctx, path, &airnest.Options{Readers: 2})
}

// schema is the bookkeeping row's columns document, as the library writes
// it into _airnest_collections.columns.
type schema struct {
	Columns    []sqlgen.Column    `json:"columns"`
	Composites []sqlgen.Composite `json:"composites,omitempty"`
}

// collection is one collection as the file describes it.
type collection struct {
	Name    string
	GoType  string
	Created int64           // unix nanoseconds
	Schema  json.RawMessage // _airnest_collections.columns, verbatim
	Keys    []codec.Entry
	schema  schema
	reg     *codec.Registry
	idField map[string]bool // registry spaces+names of fields holding airnest IDs
}

// column finds a declared index column by name, exactly or else ignoring case.
func (c *collection) column(name string) (sqlgen.Column, bool) {
	for _, col := range c.schema.Columns {
		if col.Name == name {
			return col, true
		}
	}
	for _, col := range c.schema.Columns {
		if strings.EqualFold(col.Name, name) {
			return col, true
		}
	}
	return sqlgen.Column{}, false
}

func (c *collection) columnNames() []string {
	var names []string
	for _, col := range c.schema.Columns {
		names = append(names, col.Name)
	}
	return names
}

// readCollections reads every collection's bookkeeping, in name order.
func readCollections(c backend.Conn, d *sqlgen.Dialect) ([]*collection, error) {
	var out []*collection
	err := c.Each(d.Collections(), nil, func(st backend.Stmt) error {
		out = append(out, &collection{Name: st.ColumnText(0), GoType: st.ColumnText(1), Schema: json.RawMessage(st.ColumnText(2)), Created: st.ColumnInt64(3)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, col := range out {
		err := c.Each(d.CollectionKeys(), []any{col.Name}, func(st backend.Stmt) error {
			col.Keys = append(col.Keys, codec.Entry{Space: st.ColumnText(0), Name: st.ColumnText(1), Key: uint64(st.ColumnInt64(2)), Type: st.ColumnText(3)})
			return nil
		})
		if err != nil {
			return nil, err
		}
		if err := col.prepare(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// prepare parses the schema and builds the registry.
func (c *collection) prepare() error {
	if err := json.Unmarshal(c.Schema, &c.schema); err != nil {
		return fmt.Errorf("collection %q: bookkeeping columns: %w", c.Name, err)
	}
	c.reg = codec.NewRegistry(c.Keys)
	c.idField = map[string]bool{}
	for _, e := range c.Keys {
		if holdsIDs(e.Type) {
			c.idField[e.Space+"\x00"+e.Name] = true
		}
	}
	return nil
}

// holdsIDs reports whether a field of the Go type named typ holds airnest
// IDs: an ID, or pointers, slices, arrays and map values of them.
func holdsIDs(typ string) bool {
	for {
		switch {
		case strings.HasPrefix(typ, "*"):
			typ = typ[1:]
		case strings.HasPrefix(typ, "["):
			_, typ, _ = strings.Cut(typ, "]")
		case strings.HasPrefix(typ, "map["):
			// Skip the key type, which may hold brackets of its own.
			depth, i := 0, len("map")
			for ; i < len(typ); i++ {
				if typ[i] == '[' {
					depth++
				} else if typ[i] == ']' {
					if depth--; depth == 0 {
						break
					}
				}
			}
			if i >= len(typ) {
				return false
			}
			typ = typ[i+1:]
		default:
			return strings.HasPrefix(typ, "airnest.ID[")
		}
	}
}

func findCollection(cs []*collection, name string) (*collection, error) {
	for _, c := range cs {
		if c.Name == name {
			return c, nil
		}
	}
	for _, c := range cs {
		if strings.EqualFold(c.Name, name) {
			return c, nil
		}
	}
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return nil, fmt.Errorf("no collection %q in the file (collections: %s)", name, strings.Join(names, ", "))
}
