package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/airnest/airnest/internal/atomicfile"
	"github.com/airnest/airnest/internal/backend"
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
	src, cs, err := openSnapshot(ctx, path)
	if err != nil {
		return err
	}
	defer src.close()
	migrations, err := src.readMigrations()
	if err != nil {
		return err
	}
	if err := emptyDir(dir); err != nil {
		return err
	}
	// Every file is created through root, which refuses a name that would
	// lead outside dir (.., an absolute path, a symbolic link), on top of
	// the checks the names passed in openSnapshot.
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	var total int64 = -1
	if a.showProgress() {
		total = 0
		for _, c := range cs {
			total += countRows(src.c, &rowQuery{c: c})
		}
	}
	bar := a.newProgress(total, "export", false)
	meta := exportMeta{Format: exportFormat, Collections: []exportCollection{}, Migrations: migrations}
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
		f, err := root.OpenFile(ec.File, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("export %s: %w", c.Name, err)
		}
		w := bufio.NewWriterSize(f, 64<<10)
		err = (&rowQuery{c: c, raw: true}).run(src.c, func(l *line) error {
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
	b, err := marshalJSON(meta, true)
	if err != nil {
		return err
	}
	if err := writeFileSync(root, metaFile, b); err != nil {
		return err
	}
	if err := atomicfile.Sync(dir); err != nil {
		return err
	}
	for _, s := range summary {
		fmt.Fprintln(a.stdout, s)
	}
	fmt.Fprintf(a.stdout, "wrote %s\n", filepath.Join(dir, metaFile))
	return nil
}

// readMigrations reads the bookkeeping of airnest.Migrate, if any.
func (src *source) readMigrations() ([]exportMigration, error) {
	exists, err := src.hasTable("_airnest_migrations")
	if err != nil || !exists {
		return nil, err
	}
	var out []exportMigration
	err = src.c.Each(src.d.MigrationRows(), nil, func(st backend.Stmt) error {
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

// writeFileSync creates name in root with b in it, synced.
func writeFileSync(root *os.Root, name string, b []byte) error {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}
