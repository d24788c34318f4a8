package airnest

import (
	"context"
	"errors"
	"fmt"
	"reflect"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

// QueryRaw runs one SQL statement of your own and decodes the stored value in
// each row. The statement must select the blob column v of the collection's
// table (SELECT v FROM "Job" WHERE ...), under that name; other columns are
// ignored. It runs on a read-only reader connection (inside a Tx, on the
// Tx's connection) and must not write. args are bound to its ? parameters in
// order: strings, []byte, integers, floats, bools and nil as themselves,
// time.Time as unix nanoseconds (zero as NULL), an ID as its 16 bytes, a
// Stringer or TextMarshaler as its text: the way index columns are stored.
// Errors: ErrInvalid (not exactly one read-only statement, no column v, an
// argument that cannot be bound, a wrong number of arguments), ErrSchema,
// ErrClosed, the context's error, the database's error for a bad statement.
func (c *Coll[T]) QueryRaw(ctx context.Context, sql string, args ...any) ([]T, error) {
	name := c.c.name
	vals := make([]sqlValue, len(args))
	for i, a := range args {
		v, err := rawArg(a)
		if err != nil {
			return nil, errorf("airnest: %s.QueryRaw: %w: argument %d: %v", name, ErrInvalid, i+1, err)
		}
		vals[i] = v
	}
	var out []T
	err := c.read(ctx, "QueryRaw", func(conn backend.Conn) error {
		st, err := conn.PrepareOnce(sql)
		if err != nil {
			if errors.Is(err, backend.ErrMultiple) {
				return fmt.Errorf("%w: it takes exactly one statement: %w", ErrInvalid, err)
			}
			return err
		}
		defer st.Close()
		if !st.ReadOnly() {
			return fmt.Errorf("%w: it runs only statements that do not write", ErrInvalid)
		}
		if n := st.BindCount(); n != len(vals) {
			return fmt.Errorf("%w: the statement has %d parameters, got %d arguments", ErrInvalid, n, len(vals))
		}
		blob := -1
		for i := range st.ColumnCount() {
			if st.ColumnName(i) == sqlgen.BlobColumn {
				blob = i
				break
			}
		}
		if blob < 0 {
			return fmt.Errorf("%w: the statement must select the stored value, column %s", ErrInvalid, sqlgen.BlobColumn)
		}
		for i, v := range vals {
			if err := v.bind(st, i+1); err != nil {
				return err
			}
		}
		dec := c.c.codec.Load()
		for st.Step() {
			if t := st.ColumnType(blob); t != backend.Blob {
				return fmt.Errorf("%w: row %d: column %s is %s, not a stored value", ErrInvalid, len(out)+1, sqlgen.BlobColumn, t)
			}
			var v T
			if err := dec.Decode(st.ColumnRawBlob(blob), &v); err != nil {
				return fmt.Errorf("row %d: %w", len(out)+1, err)
			}
			out = append(out, v)
		}
		return st.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// rawArg converts a QueryRaw argument the way an index column of its type is
// stored.
func rawArg(a any) (sqlValue, error) {
	if a == nil {
		return sqlValue{}, nil
	}
	v := reflect.ValueOf(a)
	_, conv, err := converter(v.Type())
	if err != nil {
		return sqlValue{}, err
	}
	return conv(v)
}
