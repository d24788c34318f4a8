package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gofrs/uuid/v5"

	"github.com/airnest/airnest/codec"
	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

// line is one value as dump and export write it: one JSON object per line.
// V is for people (field names restored, IDs as UUIDs, bytes as base64);
// Columns and CBOR (export, dump --raw) restore the row exactly.
type line struct {
	ID      string         `json:"id"`
	V       any            `json:"v"`
	Columns map[string]any `json:"columns,omitempty"`
	// Elems holds, per slice column, the rows of its side table: the
	// distinct elements, in the database's order.
	Elems map[string][]any `json:"elems,omitempty"`
	CBOR  string           `json:"cbor,omitempty"`
}

// marshalJSON encodes without HTML escaping, so text reads as stored.
func marshalJSON(v any, indent bool) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if indent {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func idString(b []byte) (string, error) {
	u, err := uuid.FromBytes(b)
	if err != nil {
		return "", fmt.Errorf("a stored id is %d bytes, not 16 (x'%x')", len(b), b)
	}
	return u.String(), nil
}

// describe turns a blob into the JSON-friendly value people read.
func (c *collection) describe(blob []byte) (any, error) {
	v, err := codec.Describe(blob, c.reg)
	if err != nil {
		return nil, err
	}
	return c.prettyIDs(v, ""), nil
}

// prettyIDs shows the fields that hold airnest IDs (by the Go type the
// registry recorded for them) as UUID strings instead of base64.
func (c *collection) prettyIDs(v any, space string) any {
	switch x := v.(type) {
	case map[string]any:
		for name, fv := range x {
			if c.idField[space+"\x00"+name] {
				x[name] = uuidValue(fv)
				continue
			}
			child := name
			if space != "" {
				child = space + "." + name
			}
			x[name] = c.prettyIDs(fv, child)
		}
	case []any:
		for i, e := range x {
			x[i] = c.prettyIDs(e, space)
		}
	}
	return v
}

func uuidValue(v any) any {
	switch x := v.(type) {
	case string:
		if b, err := base64.StdEncoding.DecodeString(x); err == nil && len(b) == 16 {
			return uuid.UUID(b).String()
		}
	case []any:
		for i, e := range x {
			x[i] = uuidValue(e)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = uuidValue(e)
		}
	}
	return v
}

// sqlValue renders the current row's column i for JSON by its storage class.
func sqlValue(st backend.Stmt, i int) any {
	switch st.ColumnType(i).String() {
	case "INTEGER":
		return st.ColumnInt64(i)
	case "REAL":
		f := st.ColumnFloat(i)
		switch {
		case math.IsInf(f, 1):
			return "+Inf"
		case math.IsInf(f, -1):
			return "-Inf"
		}
		return f
	case "TEXT":
		return st.ColumnText(i)
	case "BLOB":
		return base64.StdEncoding.EncodeToString(st.ColumnRawBlob(i))
	}
	return nil
}

// rowQuery is a streaming SELECT of one collection's rows in ID order.
type rowQuery struct {
	c     *collection
	where []condition
	limit int
	raw   bool // include columns and the blob
}

type condition struct {
	column string // "id" or an index column
	value  any    // bound as is
}

func (q *rowQuery) sql() (string, []any) {
	var b strings.Builder
	b.WriteString("SELECT id, v")
	for _, col := range q.c.schema.Columns {
		b.WriteString(", " + sqlgen.Quote(col.Name))
	}
	fmt.Fprintf(&b, " FROM %s", sqlgen.Quote(q.c.Name))
	var args []any
	for i, w := range q.where {
		if i == 0 {
			b.WriteString(" WHERE ")
		} else {
			b.WriteString(" AND ")
		}
		fmt.Fprintf(&b, "%s = ?", sqlgen.Quote(w.column))
		args = append(args, w.value)
	}
	b.WriteString(" ORDER BY id")
	if q.limit > 0 {
		fmt.Fprintf(&b, " LIMIT %d", q.limit)
	}
	return b.String(), args
}

// run calls fn with each row, one at a time: memory stays constant
// however many rows there are.
func (q *rowQuery) run(conn backend.Conn, fn func(*line) error) error {
	sql, args := q.sql()
	var elems map[string]map[string][]any
	if q.raw {
		var err error
		if elems, err = q.c.readElems(conn); err != nil {
			return err
		}
	}
	return conn.Each(sql, args, func(st backend.Stmt) error {
		id, err := idString(st.ColumnRawBlob(0))
		if err != nil {
			return fmt.Errorf("collection %s: %w", q.c.Name, err)
		}
		blob := st.ColumnRawBlob(1)
		v, err := q.c.describe(blob)
		if err != nil {
			return fmt.Errorf("collection %s: id %s: %w", q.c.Name, id, err)
		}
		l := &line{ID: id, V: v}
		if q.raw {
			l.CBOR = base64.StdEncoding.EncodeToString(blob)
			l.Columns = make(map[string]any, len(q.c.schema.Columns))
			for i, col := range q.c.schema.Columns {
				l.Columns[col.Name] = sqlValue(st, i+2)
			}
			for name, side := range elems {
				if l.Elems == nil {
					l.Elems = map[string][]any{}
				}
				l.Elems[name] = side[string(st.ColumnRawBlob(0))]
				if l.Elems[name] == nil {
					l.Elems[name] = []any{}
				}
			}
		}
		return fn(l)
	})
}

// readElems reads the side tables of the collection's slice columns, per
// column name and id, before the rows are read: reading them row by row
// inside the rows' statement is not something every database allows on
// one connection.
func (c *collection) readElems(conn backend.Conn) (map[string]map[string][]any, error) {
	out := map[string]map[string][]any{}
	for _, col := range c.schema.Columns {
		if col.Elems == nil {
			continue
		}
		side := map[string][]any{}
		err := conn.Each(fmt.Sprintf("SELECT id, elem FROM %s ORDER BY id, elem", sqlgen.Quote(col.Elems.Table)), nil, func(st backend.Stmt) error {
			id := string(st.ColumnRawBlob(0))
			side[id] = append(side[id], sqlValue(st, 1))
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("collection %s: side table %s: %w", c.Name, col.Elems.Table, err)
		}
		out[col.Name] = side
	}
	return out, nil
}

// parseWhere turns col=value into a condition, the value typed by the
// column's SQL type so that the index is used and 10 is not "10".
func (c *collection) parseWhere(s string) (condition, error) {
	name, val, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return condition{}, usagef("--where %q: want column=value", s)
	}
	if strings.EqualFold(name, "id") {
		u, err := uuid.FromString(val)
		if err != nil {
			return condition{}, usagef("--where %q: the id must be a UUID", s)
		}
		return condition{column: "id", value: u.Bytes()}, nil
	}
	col, ok := c.column(name)
	if !ok {
		cols := strings.Join(c.columnNames(), ", ")
		if cols == "" {
			cols = "none"
		}
		return condition{}, usagef("--where %q: %s has no index column %q (index columns: %s; and id)", s, c.Name, name, cols)
	}
	v, err := parseColumnValue(col, val)
	if err != nil {
		return condition{}, usagef("--where %q: %v", s, err)
	}
	return condition{column: col.Name, value: v}, nil
}

// parseColumnValue reads a command-line value for a column of col's type.
func parseColumnValue(col sqlgen.Column, s string) (any, error) {
	switch col.Type {
	case "INTEGER":
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		switch s {
		case "true":
			return int64(1), nil
		case "false":
			return int64(0), nil
		}
		// time.Time columns hold unix nanoseconds.
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UnixNano(), nil
		}
		return nil, fmt.Errorf("column %s is INTEGER: want an integer, true/false, or an RFC 3339 time", col.Name)
	case "REAL":
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("column %s is REAL: want a number", col.Name)
		}
		return f, nil
	case "BLOB":
		if u, err := uuid.FromString(s); err == nil {
			return u.Bytes(), nil
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("column %s is BLOB: want a UUID or base64", col.Name)
		}
		return b, nil
	}
	return s, nil
}
