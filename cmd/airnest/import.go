package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gofrs/uuid/v5"
	"github.com/spf13/cobra"

	"github.com/airnest/airnest"
	"github.com/airnest/airnest/codec"
	"github.com/airnest/airnest/internal/atomicfile"
	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

// importMigrations restores the bookkeeping of airnest.Migrate, inside
// the import's transaction.
func importMigrations(conn backend.Conn, d *sqlgen.Dialect, ms []exportMigration, imported map[string]bool) error {
	if len(ms) == 0 {
		return nil
	}
	if err := conn.Exec(d.Migrations()); err != nil {
		return err
	}
	for _, m := range ms {
		if !imported[m.Collection] {
			return fmt.Errorf("migration %q: no collection %q", m.Name, m.Collection)
		}
		args := []any{m.Collection, m.Name, nil, nil, m.Done, m.Total, nil, nil}
		for i, id := range []*string{m.Upto, m.Cursor} {
			if id == nil {
				continue
			}
			u, err := uuid.FromString(*id)
			if err != nil {
				return fmt.Errorf("migration %q: %q is not a UUID", m.Name, *id)
			}
			args[2+i] = u.Bytes()
		}
		for i, ts := range []*string{&m.Started, m.Finished} {
			if ts == nil {
				continue
			}
			t, err := time.Parse(time.RFC3339Nano, *ts)
			if err != nil {
				return fmt.Errorf("migration %q: %w", m.Name, err)
			}
			args[6+i] = t.UnixNano()
		}
		err := conn.Each("INSERT INTO _airnest_migrations (collection, name, upto, cursor, done, total, started, finished) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", args, nil)
		if err != nil {
			return fmt.Errorf("migration %q: %w", m.Name, err)
		}
	}
	return nil
}

func (a *app) importCmd() *cobra.Command {
	var noVerify bool
	cmd := &cobra.Command{
		Use:   "import FILE DIR",
		Short: "Create a new airnest file from a directory written by export",
		Long: `Create FILE, which must not exist, from DIR as written by 'airnest export':
tables, index columns, indexes, key registries and values. Every name in
_meta.json is checked as a declared one would be, and every line: the id
is a UUID, cbor is a well-formed CBOR map, v (when present) is what cbor
describes, the index columns are the declared ones with values of their
SQL type, and the number of lines is the row count in _meta.json. The
command stops at the first check that fails, with status 1, naming the
file and line.

Then the new file is checked as 'airnest verify' does (skip with
--no-verify). It is written to a temporary file beside FILE and renamed
to FILE only when all of it was imported and verified: after a failure,
an interrupt or a crash there is nothing at FILE.

FILE may be a postgres:// URL instead: the database must hold no airnest
tables. Everything is written in one transaction holding the store's
schema lock, so a failure or an interrupt leaves nothing; if the check
after it fails, what was imported is dropped again.`,
		Example: "  airnest import restored.db ./app-export",
		Args:    exactArgs("FILE", "DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.importDir(cmd.Context(), args[0], args[1], !noVerify)
		},
	}
	cmd.Flags().BoolVar(&noVerify, "no-verify", false, "do not check the new file after importing")
	return cmd
}

func (a *app) importDir(ctx context.Context, path, dir string, verify bool) error {
	// The export's files are read through root: a _meta.json naming a
	// file outside dir is refused even before its names are checked.
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("%w (is %s a directory written by airnest export?)", err, dir)
	}
	defer root.Close()
	metaPath := filepath.Join(dir, metaFile)
	b, err := root.ReadFile(metaFile)
	if err != nil {
		return fmt.Errorf("%w (is %s a directory written by airnest export?)", err, dir)
	}
	var meta exportMeta
	if err := json.Unmarshal(b, &meta); err != nil {
		return fmt.Errorf("%s: %w", metaPath, err)
	}
	if meta.Format != exportFormat {
		return fmt.Errorf("%s: format %q, want %q", metaPath, meta.Format, exportFormat)
	}
	if err := checkMeta(meta); err != nil {
		return badNames(metaPath, err)
	}
	if !backend.IsFile(path) {
		return a.importServer(ctx, path, root, meta, verify)
	}
	for _, p := range []string{path, path + "-wal", path + "-journal"} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists: import creates a new file", p)
		}
	}
	// Everything is written to a temporary file beside path and renamed
	// into place once imported and verified: a failure or a crash never
	// leaves a partial file at path.
	tmp, err := atomicfile.Temp(path)
	if err != nil {
		return err
	}
	published := false
	defer func() {
		if !published {
			atomicfile.RemoveDB(tmp)
		}
	}()
	if err := a.importFile(ctx, tmp, root, meta); err != nil {
		return err
	}
	if verify {
		if err := a.verifyImport(ctx, tmp, path); err != nil {
			return fmt.Errorf("%w: %s not written", err, path)
		}
	}
	// CreateTemp made the file private; a new SQLite file is not.
	if err := os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	if err := atomicfile.Publish(tmp, path); errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s was created while importing: left as it is, nothing imported", path)
	} else if err != nil {
		return err
	}
	published = true
	return nil
}

// importFile creates the file tmp from the export read through root and
// leaves it self-contained (no -wal beside it), ready to be renamed.
func (a *app) importFile(ctx context.Context, tmp string, root *os.Root, meta exportMeta) error {
	db, err := openDB(ctx, tmp, writeConfig())
	if err != nil {
		return err
	}
	err = a.load(ctx, db, root, meta)
	if d := db.Dialect(); err == nil && d.Seal != "" {
		err = db.Exclusive(ctx, func(c backend.Conn) error { return c.Exec(d.Seal) })
	}
	return errors.Join(err, db.Close())
}

// verifyImport checks the imported database at dsn as 'airnest verify'
// does and prints the report under name.
func (a *app) verifyImport(ctx context.Context, dsn, name string) error {
	rep, err := airnest.VerifyFile(ctx, dsn)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "verify %s: %s", name, rep)
	if !rep.OK() {
		return errors.New("the imported data failed verify")
	}
	return nil
}

// checkMeta checks every name in an export's _meta.json before any of
// them becomes a path, an identifier or part of a message.
func checkMeta(meta exportMeta) error {
	cs := make([]*collection, 0, len(meta.Collections))
	for _, ec := range meta.Collections {
		c := &collection{Name: ec.Name, GoType: ec.GoType, Schema: ec.Schema}
		for _, k := range ec.Keys {
			c.Keys = append(c.Keys, codec.Entry(k))
		}
		// A schema that does not parse is reported by importCollection,
		// with the collection's name checked first.
		json.Unmarshal(ec.Schema, &c.schema)
		cs = append(cs, c)
	}
	return checkNames(cs, meta.Migrations)
}

// importCollection creates one collection and loads its rows, inside the
// import's transaction.
func importCollection(conn backend.Conn, d *sqlgen.Dialect, root *os.Root, ec exportCollection, bar *progress) (n int64, err error) {
	c := &collection{Name: ec.Name, GoType: ec.GoType, Schema: ec.Schema}
	for _, k := range ec.Keys {
		c.Keys = append(c.Keys, codec.Entry(k))
	}
	if ec.File != c.Name+".ndjson" {
		return 0, fmt.Errorf("file %q: want %q", ec.File, c.Name+".ndjson")
	}
	created, err := time.Parse(time.RFC3339Nano, ec.Created)
	if err != nil {
		return 0, fmt.Errorf("created: %w", err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, ec.Schema); err != nil {
		return 0, fmt.Errorf("schema: %w", err)
	}
	c.Schema = compact.Bytes()
	if err := c.prepare(); err != nil {
		return 0, err
	}
	if err := c.checkNames(); err != nil {
		return 0, err
	}

	f, err := root.Open(ec.File)
	if err != nil {
		return 0, err
	}
	defer f.Close()

	t := sqlgen.Table{D: d, Name: c.Name, Columns: c.schema.Columns, Composites: c.schema.Composites}
	if err := refuseClash(conn, d, t); err != nil {
		return 0, err
	}
	ddl := []string{t.CreateTable()}
	for _, col := range t.Columns {
		if col.Indexed {
			ddl = append(ddl, t.CreateIndex(col))
		}
	}
	for _, comp := range t.Composites {
		ddl = append(ddl, t.CreateComposite(comp))
	}
	for _, col := range t.Columns {
		if col.Elems != nil {
			ddl = append(ddl, t.CreateElems(col.Elems)...)
		}
	}
	for _, s := range ddl {
		if err := conn.Exec(s); err != nil {
			return 0, err
		}
	}
	err = conn.Each("INSERT INTO _airnest_collections (name, go_type, columns, created) VALUES (?, ?, ?, ?)",
		[]any{c.Name, c.GoType, string(c.Schema), created.UnixNano()}, nil)
	if err != nil {
		return 0, err
	}
	for _, e := range c.Keys {
		err := conn.Each("INSERT INTO _airnest_keys (collection, space, name, key, type) VALUES (?, ?, ?, ?, ?)",
			[]any{c.Name, e.Space, e.Name, int64(e.Key), e.Type}, nil)
		if err != nil {
			return 0, fmt.Errorf("key %q.%q: %w", e.Space, e.Name, err)
		}
	}

	ins, err := conn.PrepareOnce(d.Rebind(insertSQL(t)))
	if err != nil {
		return 0, err
	}
	defer ins.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	for lineNo := 1; ; lineNo++ {
		text, rerr := r.ReadBytes('\n')
		if len(bytes.TrimSpace(text)) > 0 {
			if err := importLine(conn, ins, c, text); err != nil {
				return 0, fmt.Errorf("%s:%d: %w", ec.File, lineNo, err)
			}
			n++
			bar.add(1)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return 0, rerr
		}
	}
	if n != ec.Rows {
		return 0, fmt.Errorf("%s has %d values, %s says %d", ec.File, n, metaFile, ec.Rows)
	}
	return n, nil
}

// insertSQL inserts one row (parameters: id, v, the columns in order); a
// repeated id fails instead of replacing the first.
func insertSQL(t sqlgen.Table) string {
	cols := []string{"id", "v"}
	params := []string{"?", "?"}
	for _, c := range t.Columns {
		cols = append(cols, sqlgen.Quote(c.Name))
		params = append(params, "?")
	}
	return fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", sqlgen.Quote(t.Name), strings.Join(cols, ", "), strings.Join(params, ", "))
}

// inLine is one export line as import reads it.
type inLine struct {
	ID      string                       `json:"id"`
	V       json.RawMessage              `json:"v"`
	Columns map[string]json.RawMessage   `json:"columns"`
	Elems   map[string][]json.RawMessage `json:"elems"`
	CBOR    *string                      `json:"cbor"`
}

// importLine checks one line and inserts it with ins (parameters: id, v,
// then the index columns in order).
func importLine(conn backend.Conn, ins backend.Stmt, c *collection, text []byte) error {
	var l inLine
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return err
	}
	u, err := uuid.FromString(l.ID)
	if err != nil {
		return fmt.Errorf("id %q is not a UUID", l.ID)
	}
	if l.CBOR == nil {
		return fmt.Errorf("id %s: no cbor: import needs the exact stored value (export with 'airnest export')", u)
	}
	blob, err := base64.StdEncoding.DecodeString(*l.CBOR)
	if err != nil {
		return fmt.Errorf("id %s: cbor: %w", u, err)
	}
	if len(blob) == 0 || blob[0]>>5 != 5 {
		return fmt.Errorf("id %s: cbor is not a CBOR map", u)
	}
	v, err := c.describe(blob)
	if err != nil {
		return fmt.Errorf("id %s: cbor: %w", u, err)
	}
	if len(l.V) > 0 {
		want, err := marshalJSON(v, false)
		if err != nil {
			return err
		}
		var got bytes.Buffer
		if err := json.Compact(&got, l.V); err != nil {
			return err
		}
		if !bytes.Equal(bytes.TrimSpace(want), got.Bytes()) {
			return fmt.Errorf("id %s: v is not what cbor holds: edit cbor, not v (or drop v)", u)
		}
	}
	for name := range l.Columns {
		if col, ok := c.column(name); !ok || col.Name != name {
			return fmt.Errorf("id %s: columns: %q is not an index column of %s", u, name, c.Name)
		}
	}
	ins.ClearBindings()
	ins.BindBlob(1, u.Bytes())
	ins.BindBlob(2, blob)
	for i, col := range c.schema.Columns {
		val, err := columnValue(col, l.Columns[col.Name])
		if err != nil {
			return fmt.Errorf("id %s: column %s: %w", u, col.Name, err)
		}
		if err := backend.Bind(ins, i+3, val); err != nil {
			return err
		}
	}
	if err := ins.Exec(); err != nil {
		return fmt.Errorf("id %s: %w", u, err)
	}
	return importElems(conn, c, u.Bytes(), l.Elems)
}

// importElems inserts the side-table rows of one id, after its row.
func importElems(conn backend.Conn, c *collection, id []byte, elems map[string][]json.RawMessage) error {
	for name := range elems {
		if col, ok := c.column(name); !ok || col.Name != name || col.Elems == nil {
			return fmt.Errorf("id %s: elems: %q is not a slice index column of %s", uuid.UUID(id), name, c.Name)
		}
	}
	for _, col := range c.schema.Columns {
		if col.Elems == nil {
			continue
		}
		sql := fmt.Sprintf("INSERT INTO %s (elem, id) VALUES (?, ?)", sqlgen.Quote(col.Elems.Table))
		for i, raw := range elems[col.Name] {
			v, err := columnValue(sqlgen.Column{Name: col.Name, Type: col.Elems.Type}, raw)
			if err == nil && v == nil {
				err = errors.New("null is not an element")
			}
			if err == nil {
				err = conn.Each(sql, []any{v, id}, nil)
			}
			if err != nil {
				return fmt.Errorf("id %s: elems %s, element %d: %w", uuid.UUID(id), col.Name, i, err)
			}
		}
	}
	return nil
}

// columnValue reads an index column's JSON value for a column of col's type.
func columnValue(col sqlgen.Column, raw json.RawMessage) (any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	isString := json.Unmarshal(raw, &s) == nil
	switch col.Type {
	case "INTEGER":
		i, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s is not an integer", raw)
		}
		return i, nil
	case "REAL":
		if isString {
			switch s {
			case "+Inf":
				return math.Inf(1), nil
			case "-Inf":
				return math.Inf(-1), nil
			}
			return nil, fmt.Errorf("%s is not a number", raw)
		}
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			return nil, fmt.Errorf("%s is not a number", raw)
		}
		return f, nil
	case "BLOB":
		if !isString {
			return nil, fmt.Errorf("%s is not a base64 string", raw)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, err
		}
		if b == nil {
			b = []byte{}
		}
		return b, nil
	}
	if !isString {
		return nil, fmt.Errorf("%s is not a string", raw)
	}
	return s, nil
}
