package postgres

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/airnest/airnest/codec"
	"github.com/airnest/airnest/internal/backend"
	"github.com/jackc/pgx/v5/pgconn"
)

// Type OIDs airnest's values travel as (see pg_type).
const (
	oidBool    = 16
	oidBytea   = 17
	oidName    = 19
	oidInt8    = 20
	oidInt2    = 21
	oidInt4    = 23
	oidText    = 25
	oidOID     = 26
	oidJSON    = 114
	oidFloat4  = 700
	oidFloat8  = 701
	oidUnknown = 705
	oidBpchar  = 1042
	oidVarchar = 1043
	oidNumeric = 1700
)

const (
	textFormat   int16 = 0
	binaryFormat int16 = 1
)

// stmt is a prepared statement on one conn, executed through pgconn with
// values encoded here: no reflection, no pgx type map on the hot path.
type stmt struct {
	c        *conn
	desc     *pgconn.StatementDescription
	once     bool // from PrepareOnce: deallocated by Close
	readOnly bool
	mayFail  bool // its Query's MayFail: guarded by a savepoint in a user transaction

	params  [][]byte // encoded parameter values, nil for NULL
	formats []int16
	bufs    [][]byte // backing storage of params, reused
	results []int16  // result format per column

	// Execution: rr while rows stream from the server, else rows buffered
	// (after a batch, or when another statement needed the connection).
	running bool
	rr      *pgconn.ResultReader
	rows    [][][]byte
	next    int
	row     [][]byte
	rowBuf  [][]byte // the current streamed row's slices, reused
	arena   []byte   // the current streamed row's bytes, reused
	err     error
}

func newStmt(c *conn, desc *pgconn.StatementDescription, once bool) *stmt {
	n := len(desc.ParamOIDs)
	s := &stmt{
		c: c, desc: desc, once: once, readOnly: readOnly(desc.SQL),
		params: make([][]byte, n), formats: make([]int16, n), bufs: make([][]byte, n),
		results: make([]int16, len(desc.Fields)),
	}
	for i, f := range desc.Fields {
		switch f.DataTypeOID {
		case oidBool, oidBytea, oidName, oidInt8, oidInt2, oidInt4, oidText, oidOID,
			oidFloat4, oidFloat8, oidBpchar, oidVarchar:
			s.results[i] = binaryFormat
		}
	}
	return s
}

func (s *stmt) param(i int) (int, error) {
	if i < 1 || i > len(s.params) {
		return 0, fmt.Errorf("postgres: parameter %d out of range (the statement has %d)", i, len(s.params))
	}
	return i - 1, nil
}

// set stores b as parameter i's value in format f, in the parameter's own
// buffer.
func (s *stmt) set(i int, f int16, b func(dst []byte) []byte) {
	s.bufs[i] = b(s.bufs[i][:0])
	if s.bufs[i] == nil {
		s.bufs[i] = []byte{}
	}
	s.params[i], s.formats[i] = s.bufs[i], f
}

func (s *stmt) BindNull(i int) error {
	k, err := s.param(i)
	if err != nil {
		return err
	}
	s.params[k], s.formats[k] = nil, textFormat
	return nil
}

func (s *stmt) BindInt64(i int, v int64) error {
	k, err := s.param(i)
	if err != nil {
		return err
	}
	switch oid := s.desc.ParamOIDs[k]; oid {
	case oidInt8:
		s.set(k, binaryFormat, func(d []byte) []byte { return binary.BigEndian.AppendUint64(d, uint64(v)) })
	case oidInt4:
		if v < math.MinInt32 || v > math.MaxInt32 {
			return fmt.Errorf("%w: postgres: parameter %d: %d is out of range for its integer column", codec.ErrInvalid, i, v)
		}
		s.set(k, binaryFormat, func(d []byte) []byte { return binary.BigEndian.AppendUint32(d, uint32(v)) })
	case oidInt2:
		if v < math.MinInt16 || v > math.MaxInt16 {
			return fmt.Errorf("%w: postgres: parameter %d: %d is out of range for its smallint column", codec.ErrInvalid, i, v)
		}
		s.set(k, binaryFormat, func(d []byte) []byte { return binary.BigEndian.AppendUint16(d, uint16(v)) })
	case oidFloat8:
		return s.BindFloat(i, float64(v))
	case oidBool:
		s.set(k, binaryFormat, func(d []byte) []byte { return append(d, b2i(v != 0)) })
	default:
		s.set(k, textFormat, func(d []byte) []byte { return strconv.AppendInt(d, v, 10) })
	}
	return nil
}

func b2i(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// BindFloat binds v; NaN binds NULL, as SQLite stores it.
func (s *stmt) BindFloat(i int, v float64) error {
	k, err := s.param(i)
	if err != nil {
		return err
	}
	if math.IsNaN(v) {
		return s.BindNull(i)
	}
	switch s.desc.ParamOIDs[k] {
	case oidFloat8:
		s.set(k, binaryFormat, func(d []byte) []byte { return binary.BigEndian.AppendUint64(d, math.Float64bits(v)) })
	case oidFloat4:
		s.set(k, binaryFormat, func(d []byte) []byte { return binary.BigEndian.AppendUint32(d, math.Float32bits(float32(v))) })
	case oidInt8, oidInt4, oidInt2:
		if v == math.Trunc(v) && v >= -(1<<63) && v < 1<<63 {
			return s.BindInt64(i, int64(v))
		}
		fallthrough
	default:
		s.set(k, textFormat, func(d []byte) []byte { return appendFloat(d, v) })
	}
	return nil
}

// appendFloat writes v as PostgreSQL's float input reads it back exactly.
func appendFloat(d []byte, v float64) []byte {
	switch {
	case math.IsInf(v, 1):
		return append(d, "Infinity"...)
	case math.IsInf(v, -1):
		return append(d, "-Infinity"...)
	}
	return strconv.AppendFloat(d, v, 'g', -1, 64)
}

// errText: PostgreSQL's text type cannot hold every Go string. Like the
// range errors of binding, it wraps codec.ErrInvalid (airnest.ErrInvalid):
// the value, not the database, is at fault.
var errText = fmt.Errorf("%w: PostgreSQL text cannot hold a NUL byte or invalid UTF-8", codec.ErrInvalid)

func (s *stmt) BindText(i int, v string) error {
	k, err := s.param(i)
	if err != nil {
		return err
	}
	if strings.IndexByte(v, 0) >= 0 || !utf8.ValidString(v) {
		return fmt.Errorf("postgres: parameter %d: %w (store such values as []byte)", i, errText)
	}
	f := textFormat
	switch s.desc.ParamOIDs[k] {
	case oidText, oidVarchar, oidBpchar, oidName, oidBytea:
		f = binaryFormat // the bytes themselves
	}
	s.set(k, f, func(d []byte) []byte { return append(d, v...) })
	return nil
}

func (s *stmt) BindBlob(i int, v []byte) error {
	k, err := s.param(i)
	if err != nil {
		return err
	}
	if v == nil {
		v = []byte{}
	}
	s.set(k, binaryFormat, func(d []byte) []byte { return append(d, v...) })
	return nil
}

func (s *stmt) ClearBindings() error {
	clear(s.params)
	return nil
}

func (s *stmt) BindCount() int { return len(s.params) }

// Step runs the statement on its first call and moves to the next row.
func (s *stmt) Step() bool {
	if s.err != nil {
		return false
	}
	if !s.running {
		s.running = true
		s.rows, s.next = s.rows[:0], 0
		s.c.start(s)
		if s.err != nil {
			return false
		}
	}
	if s.rr != nil {
		if s.rr.NextRow() {
			s.row = s.copyRow(s.rr.Values())
			return true
		}
		s.finish()
		return false
	}
	if s.next < len(s.rows) {
		s.row = s.rows[s.next]
		s.next++
		return true
	}
	s.row = nil
	return false
}

// copyRow copies the server's row into the statement's arena: pgconn's
// buffers are reused by the next message, the arena only by the next Step.
func (s *stmt) copyRow(vals [][]byte) [][]byte {
	n := 0
	for _, v := range vals {
		n += len(v)
	}
	if cap(s.arena) < n || s.arena == nil {
		// Never nil: an empty value must stay apart from NULL.
		s.arena = make([]byte, 0, max(n, 64))
	}
	a := s.arena[:0]
	row := s.rowBuf[:0]
	for _, v := range vals {
		if v == nil {
			row = append(row, nil)
			continue
		}
		start := len(a)
		a = append(a, v...)
		row = append(row, a[start:len(a):len(a)])
	}
	s.arena, s.rowBuf = a, row
	return row
}

// finish reads the end of a streamed result and frees the connection.
func (s *stmt) finish() {
	if s.rr == nil {
		return
	}
	tag, err := s.rr.Close()
	s.rr = nil
	if s.c.open == s {
		s.c.open = nil
	}
	s.c.done(s, tag, err)
}

// buffer reads every remaining row into memory (another statement needs
// the connection). The current row stays where it is.
func (s *stmt) buffer() {
	for s.rr.NextRow() {
		s.rows = append(s.rows, copyValues(s.rr.Values()))
	}
	s.finish()
}

func copyValues(vals [][]byte) [][]byte {
	n := 0
	for _, v := range vals {
		n += len(v)
	}
	a := make([]byte, 0, n)
	row := make([][]byte, len(vals))
	for i, v := range vals {
		if v != nil {
			start := len(a)
			a = append(a, v...)
			row[i] = a[start:len(a):len(a)]
		}
	}
	return row
}

func (s *stmt) Err() error { return s.err }

// Exec runs the statement to completion and leaves it ready to run again.
func (s *stmt) Exec() error {
	s.Reset()
	for s.Step() {
	}
	err := s.err
	s.Reset()
	return err
}

// Reset ends the current execution (reading what is left of its result)
// and keeps the bindings.
func (s *stmt) Reset() error {
	if s.rr != nil {
		s.finish()
	}
	err := s.err
	s.running, s.err, s.row = false, nil, nil
	s.rows, s.next = s.rows[:0], 0
	return err
}

// Close ends the statement; one from PrepareOnce is deallocated on the server.
func (s *stmt) Close() error {
	s.Reset()
	if !s.once || s.c == nil {
		return nil
	}
	c := s.c
	s.c = nil
	c.spill()
	if c.pg.IsClosed() {
		return nil
	}
	// Not under c.ctx: a statement stopped by its context is still freed.
	ctx, cancel := context.WithTimeout(context.Background(), rollbackTimeout)
	defer cancel()
	return c.pg.Deallocate(ctx, s.desc.Name)
}

func (s *stmt) ReadOnly() bool   { return s.readOnly }
func (s *stmt) ColumnCount() int { return len(s.desc.Fields) }

func (s *stmt) ColumnName(i int) string {
	if i < 0 || i >= len(s.desc.Fields) {
		return ""
	}
	return s.desc.Fields[i].Name
}

// value returns column i of the current row, its type OID and format.
func (s *stmt) value(i int) ([]byte, uint32, int16) {
	if i < 0 || i >= len(s.row) {
		return nil, 0, 0
	}
	return s.row[i], s.desc.Fields[i].DataTypeOID, s.results[i]
}

func (s *stmt) ColumnType(i int) backend.Type {
	v, oid, f := s.value(i)
	if v == nil {
		return backend.Null
	}
	switch oid {
	case oidInt2, oidInt4, oidInt8, oidBool, oidOID:
		return backend.Integer
	case oidFloat4, oidFloat8:
		return backend.Float
	case oidNumeric:
		if f == textFormat && strings.ContainsAny(string(v), ".eEN") {
			return backend.Float // NaN, a fraction or an exponent
		}
		return backend.Integer
	case oidBytea:
		return backend.Blob
	}
	return backend.Text
}

func (s *stmt) ColumnInt64(i int) int64 {
	v, oid, f := s.value(i)
	if v == nil {
		return 0
	}
	if f == binaryFormat {
		switch oid {
		case oidInt8:
			return int64(binary.BigEndian.Uint64(v))
		case oidInt4:
			return int64(int32(binary.BigEndian.Uint32(v)))
		case oidInt2:
			return int64(int16(binary.BigEndian.Uint16(v)))
		case oidOID:
			return int64(binary.BigEndian.Uint32(v))
		case oidBool:
			return int64(v[0])
		case oidFloat4, oidFloat8:
			return int64(s.ColumnFloat(i))
		}
	}
	// Text as SQLite reads a number from it: its leading integer, else 0.
	t := string(v)
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		return n
	}
	if f, err := strconv.ParseFloat(t, 64); err == nil {
		return int64(f)
	}
	return 0
}

func (s *stmt) ColumnInt(i int) int { return int(s.ColumnInt64(i)) }

func (s *stmt) ColumnFloat(i int) float64 {
	v, oid, f := s.value(i)
	if v == nil {
		return 0
	}
	if f == binaryFormat {
		switch oid {
		case oidFloat8:
			return math.Float64frombits(binary.BigEndian.Uint64(v))
		case oidFloat4:
			return float64(math.Float32frombits(binary.BigEndian.Uint32(v)))
		case oidInt2, oidInt4, oidInt8, oidOID, oidBool:
			return float64(s.ColumnInt64(i))
		}
	}
	x, _ := strconv.ParseFloat(string(v), 64)
	return x
}

func (s *stmt) ColumnText(i int) string {
	v, oid, f := s.value(i)
	if v == nil {
		return ""
	}
	if f == binaryFormat {
		switch oid {
		case oidInt2, oidInt4, oidInt8, oidOID, oidBool:
			return strconv.FormatInt(s.ColumnInt64(i), 10)
		case oidFloat4, oidFloat8:
			return strconv.FormatFloat(s.ColumnFloat(i), 'g', -1, 64)
		}
	}
	return string(v)
}

// ColumnRawBlob returns the column's bytes, valid until the next Step.
func (s *stmt) ColumnRawBlob(i int) []byte {
	v, oid, f := s.value(i)
	if v == nil {
		return nil
	}
	if f == binaryFormat && oid != oidBytea && oid != oidText && oid != oidVarchar && oid != oidBpchar && oid != oidName {
		return []byte(s.ColumnText(i))
	}
	return v
}

func (s *stmt) ColumnBlob(i int, buf []byte) []byte { return append(buf, s.ColumnRawBlob(i)...) }
