package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/gofrs/uuid/v5"
	"github.com/spf13/cobra"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

// errNotFound is a value or collection that does not exist: exit status 1.
var errNotFound = errors.New("not found")

func (a *app) lsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls FILE",
		Short: "List the collections with their row counts, index columns and blob bytes",
		Long: `List every collection stored in FILE: its row count, its index columns
(name and SQL type; "unique" for a unique index, a+b for a composite
index), the total size of its stored values, and the Go type that last
opened it. Reads one snapshot; never writes.`,
		Example: "  airnest ls app.db\n  airnest ls --json app.db",
		Args:    exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, cs, err := openSnapshot(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer src.close()
			type entry struct {
				Name       string   `json:"name"`
				Rows       int64    `json:"rows"`
				BlobBytes  int64    `json:"blob_bytes"`
				Indexes    []string `json:"indexes"`
				GoType     string   `json:"go_type"`
				Composites []string `json:"-"`
			}
			var list []entry
			for _, c := range cs {
				e := entry{Name: c.Name, GoType: c.GoType, Indexes: []string{}}
				err := src.c.Each(sqlgen.Table{Name: c.Name}.Size(), nil, func(st backend.Stmt) error {
					e.Rows, e.BlobBytes = st.ColumnInt64(0), st.ColumnInt64(1)
					return nil
				})
				if err != nil {
					return fmt.Errorf("collection %s: %w", c.Name, err)
				}
				for _, col := range c.schema.Columns {
					d := col.Name + " " + col.Type
					if col.Unique {
						d += " unique"
					}
					e.Indexes = append(e.Indexes, d)
				}
				for _, comp := range c.schema.Composites {
					d := strings.Join(comp.Columns, "+")
					if comp.Unique {
						d += " unique"
					}
					e.Indexes = append(e.Indexes, d)
				}
				list = append(list, e)
			}
			if asJSON {
				if list == nil {
					list = []entry{}
				}
				b, err := marshalJSON(list, true)
				if err != nil {
					return err
				}
				_, err = a.stdout.Write(b)
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "COLLECTION\tROWS\tBLOB BYTES\tINDEXES\tGO TYPE")
			for _, e := range list {
				idx := strings.Join(e.Indexes, ", ")
				if idx == "" {
					idx = "-"
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", e.Name, e.Rows, size(e.BlobBytes), idx, e.GoType)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}

func (a *app) getCmd() *cobra.Command {
	var raw bool
	cmd := &cobra.Command{
		Use:   "get FILE COLLECTION ID",
		Short: "Print one value as pretty JSON, field names restored",
		Long: `Print the value with ID in COLLECTION as indented JSON. Field names come
from the key registry stored in the file; IDs show as UUIDs, byte slices
as base64, times as RFC 3339. With --raw, print the whole export line:
id, value, index columns and the exact stored CBOR (base64).

Exits with status 1 when the collection or the value does not exist.`,
		Example: "  airnest get app.db Job 0193a8f2-7c1e-7b52-9e3a-1f2d3c4b5a69",
		Args:    exactArgs("FILE", "COLLECTION", "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := uuid.FromString(args[2])
			if err != nil {
				return usagef("ID %q is not a UUID", args[2])
			}
			src, cs, err := openSnapshot(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer src.close()
			c, err := findCollection(cs, args[1])
			if err != nil {
				return err
			}
			q := &rowQuery{c: c, where: []condition{{column: "id", value: id.Bytes()}}, raw: raw}
			var found *line
			if err := q.run(src.c, func(l *line) error { found = l; return nil }); err != nil {
				return err
			}
			if found == nil {
				return fmt.Errorf("%s: no value with id %s: %w", c.Name, id, errNotFound)
			}
			var out any = found.V
			if raw {
				out = found
			}
			b, err := marshalJSON(out, true)
			if err != nil {
				return err
			}
			_, err = a.stdout.Write(b)
			return err
		},
	}
	cmd.Flags().BoolVar(&raw, "raw", false, "print id, value, index columns and the stored CBOR")
	return cmd
}

func (a *app) dumpCmd() *cobra.Command {
	var (
		where  []string
		limit  int
		raw    bool
		output string
	)
	cmd := &cobra.Command{
		Use:   "dump FILE COLLECTION",
		Short: "Stream a collection's values as NDJSON, one per line, in ID order",
		Long: `Write the values of COLLECTION as NDJSON: one JSON object per line,
{"id": "<uuid>", "v": {...}}, in ID (creation) order. Rows are streamed
from one snapshot: memory stays constant however large the collection.

--where column=value keeps the values whose index column equals value
(repeat it to require several; "id" is accepted too). The value is read
by the column's SQL type: INTEGER takes an integer, true/false, or an
RFC 3339 time (time.Time columns hold unix nanoseconds); REAL a number;
BLOB a UUID or base64; TEXT the text as given. Only index columns can be
filtered: list them with 'airnest ls FILE'.

--raw adds the index columns and the exact stored CBOR to each line (the
format of 'airnest export').`,
		Example: `  airnest dump app.db Job
  airnest dump app.db Job --where status=pending --where priority=3 --limit 10
  airnest dump app.db Job -o jobs.ndjson`,
		Args: exactArgs("FILE", "COLLECTION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 0 {
				return usagef("--limit %d: want 0 (no limit) or more", limit)
			}
			src, cs, err := openSnapshot(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer src.close()
			c, err := findCollection(cs, args[1])
			if err != nil {
				return err
			}
			q := &rowQuery{c: c, limit: limit, raw: raw}
			for _, w := range where {
				cond, err := c.parseWhere(w)
				if err != nil {
					return err
				}
				q.where = append(q.where, cond)
			}
			var out io.Writer = a.stdout
			var file *os.File
			bar := &progress{}
			if output != "" {
				file, err = os.OpenFile(output, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
				if err != nil {
					return err
				}
				defer file.Close()
				out = file
				if a.showProgress() {
					bar = a.newProgress(countRows(src.c, q), "dump "+c.Name, false)
				}
			}
			w := bufio.NewWriterSize(out, 64<<10)
			err = q.run(src.c, func(l *line) error {
				b, err := marshalJSON(l, false)
				if err != nil {
					return err
				}
				bar.add(1)
				_, err = w.Write(b)
				return err
			})
			bar.done()
			if err != nil {
				return err
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if file != nil {
				return file.Close()
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&where, "where", nil, "keep values whose index column equals a value: `column=value` (repeatable)")
	f.IntVar(&limit, "limit", 0, "write at most `N` values (0: all)")
	f.BoolVar(&raw, "raw", false, "add the index columns and the stored CBOR to each line")
	f.StringVarP(&output, "output", "o", "", "write to `FILE`, a new file, instead of standard output (draws a progress bar)")
	return cmd
}

// countRows counts what q will return, for a progress bar; -1 if unknown.
func countRows(conn backend.Conn, q *rowQuery) int64 {
	sql, args := q.sql()
	n := int64(-1)
	conn.Each(sqlgen.CountRows(sql), args, func(st backend.Stmt) error {
		n = st.ColumnInt64(0)
		return nil
	})
	return n
}

// size renders a byte count for people.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
