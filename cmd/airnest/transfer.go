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
	"github.com/airnest/airnest/internal/sqlgen"
	"github.com/airnest/airnest/internal/sqlite"
)

// exportFormat names the layout of an export directory; import refuses others.
const exportFormat = "airnest-export 1"

const metaFile = "_meta.json"

// exportMeta is _meta.json: everything about the collections except their
// rows, so that import recreates tables, indexes and key registries exactly.
type exportMeta struct {
	Format      string             `json:"format"`
	Collections []exportCollection `json:"collections"`
	// Migrations is the state of airnest.Migrate runs, so that a migration
	// finished (or half done) before the export is not run again from the
	// start on the imported file.
	Migrations []exportMigration `json:"migrations,omitempty"`
}

type exportMigration struct {
	Collection string  `json:"collection"`
	Name       string  `json:"name"`
	Upto       *string `json:"upto"`   // the highest id it converts; null for an empty collection
	Cursor     *string `json:"cursor"` // the last id converted; null before the first batch
	Done       int64   `json:"done"`
	Total      int64   `json:"total"`
	Started    string  `json:"started"`
	Finished   *string `json:"finished"` // null while not finished
}

type exportCollection struct {
	Name    string          `json:"name"`
	File    string          `json:"file"`
	GoType  string          `json:"go_type"`
	Created string          `json:"created"` // RFC 3339, UTC, nanoseconds
	Rows    int64           `json:"rows"`
	Schema  json.RawMessage `json:"schema"` // index columns, as the library stores them
	Keys    []exportKey     `json:"keys"`   // the key registry
}

type exportKey struct {
	Space string `json:"space"`
	Name  string `json:"name"`
	Key   uint64 `json:"key"`
	Type  string `json:"type"`
}

func (a *app) exportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "export FILE DIR",
		Short: "Write every collection to NDJSON files in DIR, with a _meta.json",
		Long: `Write every collection of FILE to DIR/<collection>.ndjson, one value per
line in ID order: {"id", "v", "columns", "cbor"}, where v is the value for
people to read and cbor the exact stored bytes (base64). DIR/_meta.json,
written last, holds each collection's Go type, creation time, index
columns, key registry and row count. Everything is read from one snapshot,
so the files agree with each other while the program goes on writing.

DIR is created if needed and must be empty. 'airnest import' reads it
back; export, import into a new file, export again gives identical files.`,
		Example: "  airnest export app.db ./app-export",
		Args:    exactArgs("FILE", "DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.export(cmd.Context(), args[0], args[1])
		},
	}
}

func (a *app) export(ctx context.Context, path, dir string) error {
	conn, cs, err := openSnapshot(ctx, path)
	if err != nil {
		return err
	}
	defer closeSnapshot(conn)
	if err := emptyDir(dir); err != nil {
		return err
	}
	var total int64 = -1
	if a.showProgress() {
		total = 0
		for _, c := range cs {
			total += countRows(conn, &rowQuery{c: c})
		}
	}
	bar := a.newProgress(total, "export", false)
	meta := exportMeta{Format: exportFormat, Collections: []exportCollection{}}
	var summary []string
	for _, c := range cs {
		ec := exportCollection{
			Name: c.Name, File: c.Name + ".ndjson", GoType: c.GoType,
			Created: nanoTime(c.Created),
			Schema:  c.Schema, Keys: []exportKey{},
		}
		for _, e := range c.Keys {
			ec.Keys = append(ec.Keys, exportKey(e))
		}
		f, err := os.OpenFile(filepath.Join(dir, ec.File), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 64<<10)
		err = (&rowQuery{c: c, raw: true}).run(conn, func(l *line) error {
			b, err := marshalJSON(l, false)
			if err != nil {
				return err
			}
			ec.Rows++
			bar.add(1)
			_, err = w.Write(b)
			return err
		})
		if err == nil {
			err = w.Flush()
		}
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("export %s: %w", c.Name, err)
		}
		meta.Collections = append(meta.Collections, ec)
		summary = append(summary, fmt.Sprintf("exported %s: %d values to %s", c.Name, ec.Rows, filepath.Join(dir, ec.File)))
	}
	bar.done()
	if meta.Migrations, err = readMigrations(conn); err != nil {
		return err
	}
	b, err := marshalJSON(meta, true)
	if err != nil {
		return err
	}
	if err := writeFileSync(filepath.Join(dir, metaFile), b); err != nil {
		return err
	}
	for _, s := range summary {
		fmt.Fprintln(a.stdout, s)
	}
	fmt.Fprintf(a.stdout, "wrote %s\n", filepath.Join(dir, metaFile))
	return nil
}

// readMigrations reads the bookkeeping of airnest.Migrate, if any.
func readMigrations(conn *sqlite.Conn) ([]exportMigration, error) {
	exists := false
	err := each(conn, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '_airnest_migrations'", nil, func(*sqlite.Stmt) error {
		exists = true
		return nil
	})
	if err != nil || !exists {
		return nil, err
	}
	var out []exportMigration
	err = each(conn, "SELECT collection, name, upto, cursor, done, total, started, finished FROM _airnest_migrations ORDER BY collection, name", nil, func(st *sqlite.Stmt) error {
		m := exportMigration{Collection: st.ColumnText(0), Name: st.ColumnText(1), Done: st.ColumnInt64(4), Total: st.ColumnInt64(5), Started: nanoTime(st.ColumnInt64(6))}
		for i, to := range []**string{&m.Upto, &m.Cursor} {
			if st.ColumnType(2+i).String() == "NULL" {
				continue
			}
			id, err := idString(st.ColumnRawBlob(2 + i))
			if err != nil {
				return fmt.Errorf("_airnest_migrations %q: %w", m.Name, err)
			}
			*to = &id
		}
		if st.ColumnType(7).String() != "NULL" {
			f := nanoTime(st.ColumnInt64(7))
			m.Finished = &f
		}
		out = append(out, m)
		return nil
	})
	return out, err
}

// importMigrations restores the bookkeeping of airnest.Migrate.
func importMigrations(conn *sqlite.Conn, ms []exportMigration, imported map[string]bool) (err error) {
	if len(ms) == 0 {
		return nil
	}
	if err := conn.Exec("BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			conn.Rollback()
		}
	}()
	if err := conn.Exec(sqlgen.Migrations); err != nil {
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
		err := each(conn, "INSERT INTO _airnest_migrations (collection, name, upto, cursor, done, total, started, finished) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", args, nil)
		if err != nil {
			return fmt.Errorf("migration %q: %w", m.Name, err)
		}
	}
	return conn.Exec("COMMIT")
}

func nanoTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

// emptyDir makes dir, or checks that it exists and is empty.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s is not empty: export into a new or empty directory", dir)
	}
	return nil
}

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

func (a *app) importCmd() *cobra.Command {
	var noVerify bool
	cmd := &cobra.Command{
		Use:   "import FILE DIR",
		Short: "Create a new airnest file from a directory written by export",
		Long: `Create FILE, which must not exist, from DIR as written by 'airnest export':
tables, index columns, indexes, key registries and values. Each collection
is imported in one transaction, after checking every line: the id is a
UUID, cbor is a well-formed CBOR map, v (when present) is what cbor
describes, the index columns are the declared ones with values of their
SQL type, and the number of lines is the row count in _meta.json. A
collection that fails a check is not imported at all; the command stops
there with status 1, naming the file and line.

Then the new file is checked as 'airnest verify' does (skip with
--no-verify).`,
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
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return fmt.Errorf("%w (is %s a directory written by airnest export?)", err, dir)
	}
	var meta exportMeta
	if err := json.Unmarshal(b, &meta); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, metaFile), err)
	}
	if meta.Format != exportFormat {
		return fmt.Errorf("%s: format %q, want %q", filepath.Join(dir, metaFile), meta.Format, exportFormat)
	}
	for _, p := range []string{path, path + "-wal", path + "-journal"} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists: import creates a new file", p)
		}
	}
	conn, err := sqlite.Open(ctx, fileConfig(path), false)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer conn.Close()
	if ctx.Done() != nil {
		conn.SetInterrupt(ctx)
	}
	if err := conn.Exec(sqlgen.Meta); err != nil {
		return err
	}
	var total int64
	for _, ec := range meta.Collections {
		total += ec.Rows
	}
	bar := a.newProgress(total, "import", false)
	var summary []string
	imported := map[string]bool{}
	for _, ec := range meta.Collections {
		n, err := importCollection(conn, dir, ec, bar)
		if err != nil {
			bar.done()
			return fmt.Errorf("import %s: %w (nothing of it was imported)", ec.Name, err)
		}
		imported[ec.Name] = true
		summary = append(summary, fmt.Sprintf("imported %s: %d values", ec.Name, n))
	}
	bar.done()
	if err := importMigrations(conn, meta.Migrations, imported); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if len(meta.Migrations) > 0 {
		summary = append(summary, fmt.Sprintf("imported the state of %d migrations", len(meta.Migrations)))
	}
	if err := conn.Close(); err != nil {
		return err
	}
	for _, s := range summary {
		fmt.Fprintln(a.stdout, s)
	}
	if !verify {
		return nil
	}
	rep, err := airnest.VerifyFile(ctx, path)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "verify %s: %s", path, rep)
	if !rep.OK() {
		return errors.New("the imported file failed verify")
	}
	return nil
}

// importCollection creates one collection and loads its rows in one
// transaction; any error rolls all of it back.
func importCollection(conn *sqlite.Conn, dir string, ec exportCollection, bar *progress) (n int64, err error) {
	c := &collection{Name: ec.Name, GoType: ec.GoType, Schema: ec.Schema}
	for _, k := range ec.Keys {
		c.Keys = append(c.Keys, codec.Entry(k))
	}
	if err := sqlgen.ValidName(c.Name); err != nil {
		return 0, err
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
	for _, col := range c.schema.Columns {
		if err := sqlgen.ValidName(col.Name); err != nil {
			return 0, fmt.Errorf("index column: %w", err)
		}
		if l := strings.ToLower(col.Name); l == sqlgen.IDColumn || l == sqlgen.BlobColumn {
			return 0, fmt.Errorf("index column %q: the names id and v are airnest's own", col.Name)
		}
		switch col.Type {
		case "INTEGER", "REAL", "TEXT", "BLOB":
		default:
			return 0, fmt.Errorf("index column %q: type %q, want INTEGER, REAL, TEXT or BLOB", col.Name, col.Type)
		}
	}
	for _, comp := range c.schema.Composites {
		for _, name := range comp.Columns {
			if _, ok := c.column(name); !ok {
				return 0, fmt.Errorf("composite index over %v: no column %q", comp.Columns, name)
			}
		}
	}

	f, err := os.Open(filepath.Join(dir, ec.File))
	if err != nil {
		return 0, err
	}
	defer f.Close()

	if err := conn.Exec("BEGIN IMMEDIATE"); err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			conn.Rollback()
		}
	}()
	t := sqlgen.Table{Name: c.Name, Columns: c.schema.Columns, Composites: c.schema.Composites}
	ddl := []string{t.CreateTable()}
	for _, col := range t.Columns {
		if col.Indexed {
			ddl = append(ddl, t.CreateIndex(col))
		}
	}
	for _, comp := range t.Composites {
		ddl = append(ddl, t.CreateComposite(comp))
	}
	for _, s := range ddl {
		if err := conn.Exec(s); err != nil {
			return 0, err
		}
	}
	err = each(conn, "INSERT INTO _airnest_collections (name, go_type, columns, created) VALUES (?, ?, ?, ?)",
		[]any{c.Name, c.GoType, string(c.Schema), created.UnixNano()}, nil)
	if err != nil {
		return 0, err
	}
	for _, e := range c.Keys {
		err := each(conn, "INSERT INTO _airnest_keys (collection, space, name, key, type) VALUES (?, ?, ?, ?, ?)",
			[]any{c.Name, e.Space, e.Name, int64(e.Key), e.Type}, nil)
		if err != nil {
			return 0, fmt.Errorf("key %q.%q: %w", e.Space, e.Name, err)
		}
	}

	ins, err := conn.PrepareOnce(insertSQL(t))
	if err != nil {
		return 0, err
	}
	defer ins.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	for lineNo := 1; ; lineNo++ {
		text, rerr := r.ReadBytes('\n')
		if len(bytes.TrimSpace(text)) > 0 {
			if err := importLine(ins, c, text); err != nil {
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
	if err := conn.Exec("COMMIT"); err != nil {
		return 0, err
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
	ID      string                     `json:"id"`
	V       json.RawMessage            `json:"v"`
	Columns map[string]json.RawMessage `json:"columns"`
	CBOR    *string                    `json:"cbor"`
}

// importLine checks one line and inserts it with ins (parameters: id, v,
// then the index columns in order).
func importLine(ins *sqlite.Stmt, c *collection, text []byte) error {
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
		if err := sqlite.Bind(ins, i+3, val); err != nil {
			return err
		}
	}
	if err := ins.Exec(); err != nil {
		return fmt.Errorf("id %s: %w", u, err)
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
