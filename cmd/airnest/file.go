package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/airnest/airnest"
	"github.com/airnest/airnest/codec"
	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
	"github.com/airnest/airnest/internal/sqlite"
)

// The settings airnest.Open uses, so the tool and the program agree on
// locking and durability while both use the file.
const busyTimeout = 5 * time.Second

func fileConfig(path string) sqlite.Config {
	return sqlite.Config{URI: sqlite.FileURI(path), Synchronous: "FULL", BusyTimeout: busyTimeout, HeapLimit: 256 << 20}
}

// mustExist fails unless path is an existing file.
func mustExist(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: no such file", path)
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%s is a directory, not an airnest file", path)
	}
	return nil
}

// openReader opens a read-only connection on an existing airnest file. It
// refuses a file that is not one, so that no command ever writes
// bookkeeping tables into someone else's database.
func openReader(ctx context.Context, path string) (*sqlite.Conn, error) {
	if err := mustExist(path); err != nil {
		return nil, err
	}
	c, err := sqlite.Open(ctx, fileConfig(path), true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if ctx.Done() != nil {
		c.SetInterrupt(ctx)
	}
	n := 0
	err = each(c, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('_airnest_collections', '_airnest_keys')", nil, func(st backend.Stmt) error {
		n = int(st.ColumnInt64(0))
		return nil
	})
	if err == nil && n != 2 {
		err = errors.New("not an airnest file (it has no _airnest_collections and _airnest_keys tables)")
	}
	if err == nil {
		err = each(c, sqlgen.SQLite.ReadFormat, nil, func(st backend.Stmt) error {
			return sqlgen.CheckFormat(st.ColumnInt64(0), st.ColumnInt64(1))
		})
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// openSnapshot opens path for reading, starts one read snapshot and reads
// the collections it describes; closeSnapshot ends both.
func openSnapshot(ctx context.Context, path string) (*sqlite.Conn, []*collection, error) {
	conn, err := openReader(ctx, path)
	if err != nil {
		return nil, nil, err
	}
	if err := conn.BeginSnapshot(); err != nil {
		conn.Close()
		return nil, nil, err
	}
	cs, err := readCollections(conn)
	var ms []exportMigration
	if err == nil {
		ms, err = readMigrations(conn)
	}
	if err == nil {
		if err = checkNames(cs, ms); err != nil {
			err = badNames(path, err)
		}
	}
	if err != nil {
		closeSnapshot(conn)
		return nil, nil, err
	}
	return conn, cs, nil
}

// badNames reports a name in the file that no program could have declared.
func badNames(path string, err error) error {
	return fmt.Errorf("%w: %s: %w (edited by hand or damaged: no program can declare that name)", airnest.ErrSchema, path, err)
}

// checkFile fails unless path is an airnest file whose bookkeeping holds
// only valid names: the commands that hand the file to the library check
// it first, so that no name read from it reaches a message unchecked.
func checkFile(ctx context.Context, path string) error {
	conn, _, err := openSnapshot(ctx, path)
	if err != nil {
		return err
	}
	closeSnapshot(conn)
	return nil
}

func closeSnapshot(conn *sqlite.Conn) {
	conn.Rollback()
	conn.Close()
}

// openStore opens an existing airnest file as a Store with no collections
// declared, for the operations the library offers (stats, backup, vacuum).
func openStore(ctx context.Context, path string) (*airnest.Store, error) {
	if err := checkFile(ctx, path); err != nil {
		return nil, err
	}
	return airnest.Open(ctx, path, &airnest.Options{Readers: 2})
}

// each runs one statement with bound arguments, calling row for each row.
func each(c *sqlite.Conn, sql string, args []any, row func(backend.Stmt) error) error {
	return c.Each(sql, args, row)
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
func readCollections(c *sqlite.Conn) ([]*collection, error) {
	var out []*collection
	err := each(c, "SELECT name, go_type, columns, created FROM _airnest_collections ORDER BY name", nil, func(st backend.Stmt) error {
		out = append(out, &collection{Name: st.ColumnText(0), GoType: st.ColumnText(1), Schema: json.RawMessage(st.ColumnText(2)), Created: st.ColumnInt64(3)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, col := range out {
		err := each(c, "SELECT space, name, key, type FROM _airnest_keys WHERE collection = ? ORDER BY space, key", []any{col.Name}, func(st backend.Stmt) error {
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
