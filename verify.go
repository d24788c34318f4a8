package airnest

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/gofrs/uuid/v5"

	"github.com/airnest/airnest/codec"
	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

// VerifyReport is what Store.Verify or VerifyFile found. A report with no
// Problems means the file passed every check.
type VerifyReport struct {
	// Collections lists every collection checked, in name order.
	Collections []VerifiedCollection
	// Problems lists each disagreement found, in the order found, at most
	// 1000 of them; Omitted counts the ones left out beyond that.
	Problems []Problem
	Omitted  int
}

// VerifiedCollection is one collection Verify read through.
type VerifiedCollection struct {
	Name string
	Rows int
	// Typed is true when the collection was checked against its declared Go
	// type (every blob decoded, every index column recomputed); false when
	// only the stored form was checked (VerifyFile, or a collection stored in
	// the file but not declared on the store).
	Typed bool
}

// Problem is one disagreement found by Verify.
type Problem struct {
	// Check names what failed:
	//   "integrity"   PRAGMA integrity_check (the SQLite file itself)
	//   "foreign_key" PRAGMA foreign_key_check
	//   "schema"      the file format (application_id, user_version), the
	//                 bookkeeping tables and key registry, a missing table
	//                 or column
	//   "read"        a row could not be read (the SQLite error is in Detail)
	//   "id"          a row id that is not 16 bytes, or a blob whose ID differs
	//   "blob"        a blob that is not well-formed or does not decode
	//   "keys"        a blob holding field keys the key registry lacks (it
	//                 decodes, but those fields are never loaded)
	//   "index"       an index column that disagrees with the blob
	Check      string
	Collection string // "" for file-level problems
	ID         string // the row's id (UUID form when it is 16 bytes), "" if not row-level
	Column     string // the index column, for Check "index"
	Detail     string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Check)
	if p.Collection != "" {
		fmt.Fprintf(&b, " %s", p.Collection)
	}
	if p.ID != "" {
		fmt.Fprintf(&b, " id %s", p.ID)
	}
	if p.Column != "" {
		fmt.Fprintf(&b, " column %q", p.Column)
	}
	fmt.Fprintf(&b, ": %s", p.Detail)
	return b.String()
}

// OK reports whether every check passed.
func (r VerifyReport) OK() bool { return len(r.Problems) == 0 && r.Omitted == 0 }

// String renders the report for people: a summary line, one line per
// collection, one line per problem.
func (r VerifyReport) String() string {
	var b strings.Builder
	rows := 0
	for _, c := range r.Collections {
		rows += c.Rows
	}
	if r.OK() {
		fmt.Fprintf(&b, "ok: %d collections, %d values, no problems\n", len(r.Collections), rows)
	} else {
		fmt.Fprintf(&b, "FAILED: %d problems in %d collections, %d values\n", len(r.Problems)+r.Omitted, len(r.Collections), rows)
	}
	for _, c := range r.Collections {
		how := "decoded and index columns recomputed"
		if !c.Typed {
			how = "stored form checked (no Go type)"
		}
		fmt.Fprintf(&b, "  collection %s: %d values, %s\n", c.Name, c.Rows, how)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  %s\n", p)
	}
	if r.Omitted > 0 {
		fmt.Fprintf(&b, "  ... and %d more problems\n", r.Omitted)
	}
	return b.String()
}

const maxProblems = 1000

func (r *VerifyReport) add(p Problem) {
	if len(r.Problems) >= maxProblems {
		r.Omitted++
		return
	}
	r.Problems = append(r.Problems, p)
}

// Verify checks the whole store on one read snapshot, while other
// operations go on: on SQLite the file's integrity_check and
// foreign_key_check (PostgreSQL keeps its pages to itself), then every
// collection row by row. For each collection declared on the store it
// decodes every blob, checks that the blob's ID is the row's id, and
// recomputes every index column from the decoded value, reporting each
// column that disagrees. Collections stored in the file but not declared on
// this store get the checks of VerifyFile.
//
// Corruption is reported in the VerifyReport, not as an error. The error is
// for a check that could not run: ErrClosed, the context's error.
// Verify reads the whole file: expect it to take about as long as copying it.
func (s *Store) Verify(ctx context.Context) (VerifyReport, error) {
	if err := s.enter(); err != nil {
		return VerifyReport{}, errorf("airnest: Verify: %w", err)
	}
	defer s.leave()
	s.mu.Lock()
	typed := make(map[string]collInit, len(s.colls))
	for _, ci := range s.colls {
		typed[ci.tableName()] = ci
	}
	s.mu.Unlock()
	conn, err := s.readConn(ctx)
	if err != nil {
		return VerifyReport{}, errorf("airnest: Verify: %w", err)
	}
	defer s.db.Release(conn)
	return verifyOn(ctx, conn, s.d, s.db.Check, typed)
}

// VerifyFile checks the airnest file at dsn, or the PostgreSQL database at
// a postgres:// URL, without the program's Go types, for tools such as the
// airnest command. It opens the database read-only and runs the database's
// own checks (SQLite's integrity_check and foreign_key_check; PostgreSQL
// keeps its pages to itself), then for every collection checks that its
// table and index columns exist, that every id is 16 bytes, that every blob
// is well-formed CBOR holding a map whose ID (when stored) is the row's id,
// that every index column holds its declared SQL type or NULL, and, for
// index columns over a field of a built-in type (string, bool, numbers,
// time.Time, or a pointer to one), that the column equals the blob's field.
// Store.Verify, which knows the Go types, also checks the columns of other
// types and that every blob decodes into its type.
//
// Corruption is reported in the VerifyReport; the error is for a check that
// could not run (no such file, not a SQLite file, a server that cannot be
// reached, the context's error).
func VerifyFile(ctx context.Context, dsn string) (VerifyReport, error) {
	db, err := openReadOnly(ctx, dsn)
	if err != nil {
		return VerifyReport{}, errorf("airnest: verify %s: %w", backend.Redact(dsn), err)
	}
	defer db.Close()
	conn, err := db.Read(ctx)
	if err != nil {
		return VerifyReport{}, errorf("airnest: verify %s: %w", backend.Redact(dsn), err)
	}
	defer db.Release(conn)
	rep, err := verifyOn(ctx, conn, db.Dialect(), db.Check, nil)
	if err != nil {
		return rep, errorf("airnest: verify %s: %w", backend.Redact(dsn), err)
	}
	return rep, nil
}

// verifyOn runs every check on conn inside one read transaction. typed maps
// table names to the collections declared with Go types.
func verifyOn(ctx context.Context, conn backend.Conn, d *sqlgen.Dialect, check func(backend.Conn) ([]backend.Problem, error), typed map[string]collInit) (VerifyReport, error) {
	if err := conn.BeginSnapshot(); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return VerifyReport{}, cerr
		}
		var rep VerifyReport
		rep.add(Problem{Check: "read", Detail: err.Error()})
		return rep, nil
	}
	defer conn.Rollback()
	return verifyIn(ctx, conn, d, check, typed)
}

// verifyIn runs every check on conn inside the transaction it has open: a
// read snapshot, or Copy's write transaction before it commits.
func verifyIn(ctx context.Context, conn backend.Conn, d *sqlgen.Dialect, check func(backend.Conn) ([]backend.Problem, error), typed map[string]collInit) (VerifyReport, error) {
	var rep VerifyReport
	// stop turns a failed read into an error when the context ended it, and
	// into a problem otherwise (a corrupt page, an I/O error).
	stop := func(p Problem, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		p.Detail = err.Error()
		rep.add(p)
		return nil
	}

	// The database's own checks (SQLite's integrity_check).
	found, err := check(conn)
	for _, p := range found {
		rep.add(Problem{Check: p.Check, Collection: p.Table, Detail: p.Detail})
	}
	if err != nil {
		if err := stop(Problem{Check: "integrity"}, err); err != nil {
			return rep, err
		}
	}

	if _, err := readFormat(conn, d); errors.Is(err, ErrSchema) {
		rep.add(Problem{Check: "schema", Detail: err.Error()})
		return rep, nil
	} else if err != nil {
		return rep, stop(Problem{Check: "schema"}, err)
	}
	meta := 0
	for _, t := range []string{"_airnest_collections", "_airnest_keys"} {
		ok, err := tableExists(conn, d, t)
		if err != nil {
			return rep, stop(Problem{Check: "schema"}, err)
		}
		if ok {
			meta++
		}
	}
	if meta != 2 {
		rep.add(Problem{Check: "schema", Detail: "the bookkeeping tables _airnest_collections and _airnest_keys are missing: not an airnest store"})
		return rep, nil
	}

	stored := map[string]*storedCollection{}
	var names []string
	err = query(conn, "SELECT name, columns FROM _airnest_collections", nil, func(st backend.Stmt) error {
		name := st.ColumnText(0)
		sc := &storedCollection{}
		if err := json.Unmarshal([]byte(st.ColumnText(1)), sc); err != nil {
			rep.add(Problem{Check: "schema", Collection: name, Detail: fmt.Sprintf("_airnest_collections: columns: %v", err)})
			sc = nil
		}
		stored[name] = sc
		names = append(names, name)
		return nil
	})
	if err != nil {
		return rep, stop(Problem{Check: "schema"}, err)
	}
	keys, err := readKeys(conn, d, "")
	if err != nil {
		return rep, stop(Problem{Check: "schema"}, err)
	}
	bad := keyProblems(keys)
	regs := map[string][]codec.Entry{}
	for i, r := range keys {
		if why, ok := bad[i]; ok {
			rep.add(Problem{Check: "schema", Collection: r.coll, Detail: fmt.Sprintf("%s: %s", r, why)})
			continue
		}
		regs[r.coll] = append(regs[r.coll], codec.Entry{Space: r.space, Name: r.name, Key: uint64(r.key), Type: r.typ})
	}
	for name := range typed {
		if _, ok := stored[name]; !ok {
			rep.add(Problem{Check: "schema", Collection: name, Detail: "declared on the store but missing from _airnest_collections"})
		}
	}
	sort.Strings(names)

	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		vc := VerifiedCollection{Name: name}
		var err error
		if ci, ok := typed[name]; ok {
			vc.Typed = true
			vc.Rows, err = ci.verify(conn, d, codec.NewRegistry(regs[name]), &rep)
		} else if sc := stored[name]; sc != nil {
			vc.Rows, err = verifyStored(conn, d, name, sc, codec.NewRegistry(regs[name]), &rep)
		}
		if err != nil {
			if err := stop(Problem{Check: "read", Collection: name}, err); err != nil {
				return rep, err
			}
		}
		rep.Collections = append(rep.Collections, vc)
	}
	return rep, nil
}

// rowID renders a stored id for a report.
func rowID(b []byte) string {
	if u, err := uuid.FromBytes(b); err == nil {
		return u.String()
	}
	return fmt.Sprintf("x'%s'", hex.EncodeToString(b))
}

// verify checks every row of the collection against T: the blob decodes,
// its ID is the row id, and each index column equals the value recomputed
// from the decoded value. It returns the rows read; an error means reading
// stopped.
func (c *collection[T]) verify(conn backend.Conn, d *sqlgen.Dialect, reg *codec.Registry, rep *VerifyReport) (int, error) {
	cd := c.codec.Load()
	sides, err := c.readElems(conn, d)
	if err != nil {
		return 0, err
	}
	st, err := conn.PrepareOnce(c.table.SelectColumns(c.table.Columns))
	if err != nil {
		return 0, err
	}
	defer st.Close()
	rows := 0
	for st.Step() {
		rows++
		idb := st.ColumnRawBlob(0)
		id := rowID(idb)
		if len(idb) != 16 {
			rep.add(Problem{Check: "id", Collection: c.name, ID: id, Detail: fmt.Sprintf("row id is %d bytes, want 16", len(idb))})
		}
		var v T
		if err := cd.Decode(st.ColumnRawBlob(1), &v); err != nil {
			rep.add(Problem{Check: "blob", Collection: c.name, ID: id, Detail: err.Error()})
			continue
		}
		checkKeys(rep, c.name, id, st.ColumnRawBlob(1), reg)
		if got := c.idOf(&v); string(got.u[:]) != string(idb) {
			rep.add(Problem{Check: "id", Collection: c.name, ID: id, Detail: fmt.Sprintf("the blob holds ID %s", got)})
		}
		rv := reflect.ValueOf(&v).Elem()
		for i, col := range c.cols {
			stored := column(st, i+2)
			want, err := col.value(rv)
			if err != nil {
				rep.add(Problem{Check: "index", Collection: c.name, ID: id, Column: col.name,
					Detail: fmt.Sprintf("stored %s, but field %s cannot be indexed: %v", stored, col.field, err)})
				continue
			}
			if want.kind == sqlFloat && want.f != want.f {
				// SQLite stores a bound NaN as NULL.
				want = sqlValue{}
			}
			if !stored.equal(want) {
				rep.add(Problem{Check: "index", Collection: c.name, ID: id, Column: col.name,
					Detail: fmt.Sprintf("stored %s, the value's field %s gives %s", stored, col.field, want)})
			}
			if col.elem != nil {
				c.verifyElems(rep, col, sides[i], rv, idb)
			}
		}
	}
	for i, side := range sides {
		for idb := range side {
			rep.add(Problem{Check: "index", Collection: c.name, ID: rowID([]byte(idb)), Column: c.cols[i].name,
				Detail: fmt.Sprintf("side table %s holds elements of an id the collection does not have", c.cols[i].elems.Table)})
		}
	}
	if err := st.Err(); err != nil {
		return rows, err
	}
	return rows, nil
}

// storedTypes maps the Go types whose stored CBOR form VerifyFile can
// compare with an index column, to that column's SQL type.
var storedTypes = map[string]string{
	"string": "TEXT", "bool": "INTEGER", "time.Time": "INTEGER",
	"int": "INTEGER", "int8": "INTEGER", "int16": "INTEGER", "int32": "INTEGER", "int64": "INTEGER",
	"uint": "INTEGER", "uint8": "INTEGER", "uint16": "INTEGER", "uint32": "INTEGER", "uint64": "INTEGER",
	"float32": "REAL", "float64": "REAL",
}

var rawDecMode = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		MaxNestedLevels:  65535,
		MaxArrayElements: 2147483647,
		MaxMapPairs:      2147483647,
		DupMapKey:        cbor.DupMapKeyQuiet,
		IndefLength:      cbor.IndefLengthAllowed,
		TagsMd:           cbor.TagsAllowed,
		TimeTag:          cbor.DecTagOptional,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

// storedCheck is how one index column is compared with the blob when the
// Go type is not known.
type storedCheck struct {
	col     sqlgen.Column
	key     uint64
	goType  string // "" when the column is not compared with the blob
	pointer bool
}

// verifyStored checks a collection from its stored form only.
func verifyStored(conn backend.Conn, d *sqlgen.Dialect, name string, sc *storedCollection, reg *codec.Registry, rep *VerifyReport) (int, error) {
	exists, err := tableExists(conn, d, name)
	if err != nil {
		return 0, err
	}
	if !exists {
		rep.add(Problem{Check: "schema", Collection: name, Detail: "registered in _airnest_collections but its table is missing"})
		return 0, nil
	}
	have, err := tableColumns(conn, d, name)
	if err != nil {
		return 0, err
	}
	var cols []sqlgen.Column
	for _, col := range sc.Columns {
		if !have[strings.ToLower(col.Name)] {
			rep.add(Problem{Check: "schema", Collection: name, Column: col.Name, Detail: "index column missing from the table"})
			continue
		}
		if err := verifyStoredElems(conn, d, name, col, rep); err != nil {
			return 0, err
		}
		cols = append(cols, col)
	}

	// Match each column to its field: the names agree ignoring case and
	// underscores, as Index matches them. A column matching no single
	// stored name of a built-in type is only checked for its SQL type.
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }
	var root []codec.Entry
	idKey, hasID := uint64(0), false
	for _, e := range reg.Entries() {
		if e.Space == "" {
			root = append(root, e)
			if e.Name == "ID" {
				idKey, hasID = e.Key, true
			}
		}
	}
	checks := make([]storedCheck, len(cols))
	for i, col := range cols {
		checks[i].col = col
		if col.Path != "" || col.Func || col.Elems != nil {
			// Not a top-level field's own value: only its SQL type is
			// checked here (Store.Verify recomputes it).
			continue
		}
		var match []codec.Entry
		for _, e := range root {
			if norm(e.Name) == norm(col.Name) {
				match = append(match, e)
			}
		}
		if len(match) != 1 {
			continue
		}
		t, ptr := strings.CutPrefix(match[0].Type, "*")
		if storedTypes[t] == col.Type {
			checks[i] = storedCheck{col: col, key: match[0].Key, goType: t, pointer: ptr}
		}
	}

	st, err := conn.PrepareOnce(sqlgen.Table{D: d, Name: name}.SelectColumns(cols))
	if err != nil {
		return 0, err
	}
	defer st.Close()
	rows := 0
	for st.Step() {
		rows++
		idb := st.ColumnRawBlob(0)
		id := rowID(idb)
		if len(idb) != 16 {
			rep.add(Problem{Check: "id", Collection: name, ID: id, Detail: fmt.Sprintf("row id is %d bytes, want 16", len(idb))})
		}
		blob := st.ColumnRawBlob(1)
		var fields map[uint64]cbor.RawMessage
		if len(blob) == 0 || blob[0]>>5 != 5 {
			rep.add(Problem{Check: "blob", Collection: name, ID: id, Detail: "not a CBOR map"})
		} else if _, err := codec.Describe(blob, reg); err != nil {
			rep.add(Problem{Check: "blob", Collection: name, ID: id, Detail: err.Error()})
		} else if err := rawDecMode.Unmarshal(blob, &fields); err != nil {
			fields = nil // string keys: a type stored with fxamacker's default rules
		} else {
			checkKeys(rep, name, id, blob, reg)
		}
		if fields != nil && hasID {
			if raw, ok := fields[idKey]; !ok || len(raw) != 17 || string(raw[1:]) != string(idb) {
				rep.add(Problem{Check: "id", Collection: name, ID: id, Detail: blobIDDetail(raw)})
			}
		}
		for i, chk := range checks {
			stored := column(st, i+2)
			if !kindFits(stored.kind, chk.col.Type) {
				rep.add(Problem{Check: "index", Collection: name, ID: id, Column: chk.col.Name,
					Detail: fmt.Sprintf("stored %s in a %s column", stored, chk.col.Type)})
				continue
			}
			if chk.goType == "" || fields == nil {
				continue
			}
			want, err := storedValue(fields, chk)
			if err != nil {
				rep.add(Problem{Check: "blob", Collection: name, ID: id, Column: chk.col.Name, Detail: err.Error()})
				continue
			}
			if !stored.equal(want) {
				rep.add(Problem{Check: "index", Collection: name, ID: id, Column: chk.col.Name,
					Detail: fmt.Sprintf("stored %s, the blob's field gives %s", stored, want)})
			}
		}
	}
	return rows, st.Err()
}

// kindFits reports whether a value of SQLite storage class kind may sit in a
// column declared sqlType by airnest.
func kindFits(kind byte, sqlType string) bool {
	switch kind {
	case sqlNull:
		return true
	case sqlInt:
		return sqlType == "INTEGER"
	case sqlFloat:
		return sqlType == "REAL"
	case sqlText:
		return sqlType == "TEXT"
	case sqlBlob:
		return sqlType == "BLOB"
	}
	return false
}

// storedValue computes an index column from the field's CBOR form, as the
// column's converter would from the decoded Go value.
func storedValue(fields map[uint64]cbor.RawMessage, chk storedCheck) (sqlValue, error) {
	raw, ok := fields[chk.key]
	if !ok || len(raw) == 1 && (raw[0] == 0xf6 || raw[0] == 0xf7) {
		if chk.pointer {
			return sqlValue{}, nil
		}
		// Zero fields are left out of the blob.
		switch chk.goType {
		case "time.Time":
			return sqlValue{}, nil
		case "string":
			return sqlValue{kind: sqlText}, nil
		case "float32", "float64":
			return sqlValue{kind: sqlFloat}, nil
		}
		return sqlValue{kind: sqlInt}, nil
	}
	var err error
	var v sqlValue
	switch chk.goType {
	case "string":
		v.kind = sqlText
		err = rawDecMode.Unmarshal(raw, &v.s)
	case "bool":
		var b bool
		err = rawDecMode.Unmarshal(raw, &b)
		v.kind = sqlInt
		if b {
			v.i = 1
		}
	case "float32", "float64":
		v.kind = sqlFloat
		err = rawDecMode.Unmarshal(raw, &v.f)
		if v.f != v.f {
			v = sqlValue{} // SQLite stores a bound NaN as NULL
		}
	case "time.Time":
		var t time.Time
		if err = rawDecMode.Unmarshal(raw, &t); err == nil && !t.IsZero() {
			v = sqlValue{kind: sqlInt, i: t.UnixNano()}
		}
	default:
		v.kind = sqlInt
		err = rawDecMode.Unmarshal(raw, &v.i)
	}
	if err != nil {
		return sqlValue{}, fmt.Errorf("field of column %q: %w", chk.col.Name, errors.Join(ErrSchema, err))
	}
	return v, nil
}

func blobIDDetail(raw cbor.RawMessage) string {
	if raw == nil {
		return "the blob holds no ID"
	}
	if len(raw) == 17 && raw[0] == 0x50 {
		return "the blob holds ID " + rowID(raw[1:])
	}
	return fmt.Sprintf("the blob's ID field is not a 16-byte string: % x", []byte(raw))
}
