package postgres

import (
	"bytes"
	"context"
	"encoding/hex"
	"math"
	"slices"
	"testing"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

// queryRows is a small table whose every column has NULLs, equal values
// and text that byte-wise and linguistic orders disagree on.
var queryRows = []row{
	{id: 1, blob: "one", status: sp("b"), n: ip(3), score: fp(1.5), tag: []byte{1}, email: sp("x@1")},
	{id: 2, blob: "two", status: nil, n: ip(1), score: nil, tag: nil},
	{id: 3, blob: "three", status: sp("B"), n: nil, score: fp(-2), tag: []byte{0, 1}},
	{id: 4, blob: "four", status: sp("a%c"), n: ip(3), score: fp(0)},
	{id: 5, blob: "five", status: sp("abc"), n: ip(-7), score: fp(9)},
	{id: 6, blob: "six", status: sp("a_c"), n: nil, score: fp(0.25)},
	{id: 7, blob: "seven", status: sp("é"), n: ip(1 << 40), score: fp(math.Inf(1))},
}

// run binds a query's parameters from their sources and returns the ids
// of its rows (or its single integer for Count and Exists).
func run(t *testing.T, c backend.Conn, sql string, args []sqlgen.Arg, vals, cursor []any, limit int64) ([]byte, int64) {
	t.Helper()
	st, err := c.PrepareOnce(sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer st.Close()
	for i, a := range args {
		var v any
		switch a.Src {
		case sqlgen.ArgValue:
			v = vals[a.I]
		case sqlgen.ArgCursor:
			v = cursor[a.I]
		case sqlgen.ArgLimit:
			v = limit
		case sqlgen.ArgOffset:
			v = int64(0)
		}
		if err := backend.Bind(st, i+1, v); err != nil {
			t.Fatalf("%s: parameter %d: %v", sql, i+1, err)
		}
	}
	var out []byte
	var n int64
	for st.Step() {
		if st.ColumnType(0) == backend.Blob {
			out = append(out, st.ColumnRawBlob(0)[0])
		} else {
			n = st.ColumnInt64(0)
		}
	}
	if err := st.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out, n
}

func leaf(op sqlgen.Op, col, typ string, args ...int) sqlgen.Expr {
	return sqlgen.Expr{Op: op, Col: col, Type: typ, Nullable: col != sqlgen.IDColumn, Args: args}
}

func hexList(ss ...string) string {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, s := range ss {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + hex.EncodeToString([]byte(s)) + `"`)
	}
	b.WriteByte(']')
	return b.String()
}

// The query builder's SQL finds, orders and counts on PostgreSQL what it
// does on SQLite: NULLs first ascending and last descending, text compared
// byte-wise, Prefix with literal % and _, In lists of hex text and numbers.
func TestQueryBuilder(t *testing.T) {
	db, _ := openDB(t, backend.Config{})
	setup(t, db)
	save(t, db, queryRows...)
	byN := []sqlgen.Key{{Col: "n", Nullable: true}, {Col: sqlgen.IDColumn}}
	byStatusDesc := []sqlgen.Key{{Col: "status", Desc: true, Nullable: true}, {Col: sqlgen.IDColumn, Desc: true}}
	byID := []sqlgen.Key{{Col: sqlgen.IDColumn}}
	cases := []struct {
		name  string
		where sqlgen.Expr
		order []sqlgen.Key
		vals  []any
		want  []byte
	}{
		{"all by n, NULLs first", sqlgen.Expr{}, byN, nil, []byte{3, 6, 5, 2, 1, 4, 7}},
		{"status desc, NULLs last, byte-wise", sqlgen.Expr{}, byStatusDesc, nil, []byte{7, 1, 5, 6, 4, 3, 2}},
		{"Eq NULL finds NULLs", leaf(sqlgen.OpEq, "status", "TEXT", 0), byID, []any{nil}, []byte{2}},
		{"Ne NULL", leaf(sqlgen.OpNe, "n", "INTEGER", 0), byID, []any{nil}, []byte{1, 2, 4, 5, 7}},
		{"Eq is case-sensitive", leaf(sqlgen.OpEq, "status", "TEXT", 0), byID, []any{"b"}, []byte{1}},
		{"Prefix a% is literal", leaf(sqlgen.OpPrefix, "status", "TEXT", 0, 1), byID, []any{"a%", "a&"}, []byte{4}},
		{"Prefix a_ is literal", leaf(sqlgen.OpPrefix, "status", "TEXT", 0, 1), byID, []any{"a_", "a`"}, []byte{6}},
		{"Not Lt matches NULL", sqlgen.Expr{Op: sqlgen.OpNot, Kids: []sqlgen.Expr{leaf(sqlgen.OpLt, "n", "INTEGER", 0)}}, byID, []any{int64(2)}, []byte{1, 3, 4, 6, 7}},
		{"Between", leaf(sqlgen.OpBetween, "score", "REAL", 0, 1), byID, []any{0.0, 1.5}, []byte{1, 4, 6}},
		{"In integers", leaf(sqlgen.OpIn, "n", "INTEGER", 0), byID, []any{"[3,1099511627776]"}, []byte{1, 4, 7}},
		{"In reals", leaf(sqlgen.OpIn, "score", "REAL", 0), byID, []any{"[0.25,-2,9e999]"}, []byte{3, 6, 7}},
		{"In text (hex)", leaf(sqlgen.OpIn, "status", "TEXT", 0), byID, []any{hexList("é", "a%c", "zz")}, []byte{4, 7}},
		{"Not In keeps NULLs", sqlgen.Expr{Op: sqlgen.OpNot, Kids: []sqlgen.Expr{leaf(sqlgen.OpIn, "status", "TEXT", 0)}}, byID, []any{hexList("b", "B")}, []byte{2, 4, 5, 6, 7}},
		{"In blobs", leaf(sqlgen.OpIn, "tag", "BLOB", 0), byID, []any{hexList("\x00\x01")}, []byte{3}},
		{"id range", leaf(sqlgen.OpGt, sqlgen.IDColumn, "BLOB", 0), byID, []any{[]byte{5}}, []byte{6, 7}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			where := tc.where
			if where.Op == 0 && where.Kids == nil && where.Col == "" {
				where = sqlgen.Expr{Op: sqlgen.OpAnd}
			}
			sel := sqlgen.Select{Where: where, Order: tc.order, Limit: true}
			read(t, db, func(c backend.Conn) error {
				sql, args := jobTable.Query(sel, sqlgen.Rows)
				got, _ := run(t, c, sql, args, tc.vals, nil, -1)
				if !bytes.Equal(got, tc.want) {
					t.Errorf("Rows: got %v, want %v\n%s", got, tc.want, sql)
				}
				sql, args = jobTable.Query(sel, sqlgen.IDs)
				got, _ = run(t, c, sql, args, tc.vals, nil, -1)
				if !bytes.Equal(got, tc.want) {
					t.Errorf("IDs: got %v, want %v\n%s", got, tc.want, sql)
				}
				sql, args = jobTable.Query(sel, sqlgen.Count)
				if _, n := run(t, c, sql, args, tc.vals, nil, -1); n != int64(len(tc.want)) {
					t.Errorf("Count: got %d, want %d\n%s", n, len(tc.want), sql)
				}
				sql, args = jobTable.Query(sel, sqlgen.Exists)
				if _, n := run(t, c, sql, args, tc.vals, nil, 1); n != int64(min(1, len(tc.want))) {
					t.Errorf("Exists: got %d for %d matches\n%s", n, len(tc.want), sql)
				}
				return nil
			})
		})
	}
}

// Keyset pages (After) walk a nullable ordering in both directions without
// losing or repeating a row, the cursor's NULLs included.
func TestQueryPages(t *testing.T) {
	db, _ := openDB(t, backend.Config{})
	setup(t, db)
	save(t, db, queryRows...)
	for _, order := range [][]sqlgen.Key{
		{{Col: "n", Nullable: true}, {Col: sqlgen.IDColumn}},
		{{Col: "n", Desc: true, Nullable: true}, {Col: sqlgen.IDColumn, Desc: true}},
		{{Col: "status", Nullable: true}, {Col: "n", Desc: true, Nullable: true}, {Col: sqlgen.IDColumn}},
	} {
		sel := sqlgen.Select{Where: sqlgen.Expr{Op: sqlgen.OpAnd}, Order: order, Limit: true}
		var all []byte
		read(t, db, func(c backend.Conn) error {
			sql, args := jobTable.Query(sel, sqlgen.Rows)
			all, _ = run(t, c, sql, args, nil, nil, -1)
			return nil
		})
		var paged []byte
		var cursor []any
		for page := 0; page < 10; page++ {
			s := sel
			if cursor != nil {
				s.After = make([]bool, len(order))
				for i, v := range cursor {
					s.After[i] = v == nil
				}
			}
			var got []byte
			read(t, db, func(c backend.Conn) error {
				sql, args := jobTable.Query(s, sqlgen.Rows)
				got, _ = run(t, c, sql, args, nil, cursor, 2)
				if len(got) == 0 {
					return nil
				}
				// The cursor is the last row's order-key values.
				last := got[len(got)-1]
				cursor = nil
				r := queryRows[slices.IndexFunc(queryRows, func(r row) bool { return r.id == last })]
				for _, k := range order {
					switch k.Col {
					case "n":
						if r.n == nil {
							cursor = append(cursor, nil)
						} else {
							cursor = append(cursor, *r.n)
						}
					case "status":
						if r.status == nil {
							cursor = append(cursor, nil)
						} else {
							cursor = append(cursor, *r.status)
						}
					default:
						cursor = append(cursor, []byte{r.id})
					}
				}
				return nil
			})
			if len(got) == 0 {
				break
			}
			paged = append(paged, got...)
		}
		if len(all) != len(queryRows) || !bytes.Equal(paged, all) {
			t.Errorf("order %v: pages %v, whole %v", order, paged, all)
		}
	}
}

// Delete through the builder removes the matches and reports how many.
func TestQueryDelete(t *testing.T) {
	db, _ := openDB(t, backend.Config{})
	setup(t, db)
	save(t, db, queryRows...)
	sel := sqlgen.Select{Where: leaf(sqlgen.OpIsNull, "n", "INTEGER"), Order: []sqlgen.Key{{Col: sqlgen.IDColumn}}}
	sql, args := jobTable.Query(sel, sqlgen.Delete)
	var changed int64
	err := db.Write(&backend.Job{Ctx: context.Background(), Run: func(c backend.Conn) error {
		run(t, c, sql, args, nil, nil, -1)
		changed = c.Changes()
		return nil
	}})
	if err != nil || changed != 2 {
		t.Fatalf("Delete: changed %d, err %v", changed, err)
	}
	read(t, db, func(c backend.Conn) error {
		sql, args := jobTable.Query(sqlgen.Select{Where: sqlgen.Expr{Op: sqlgen.OpAnd}, Order: []sqlgen.Key{{Col: sqlgen.IDColumn}}}, sqlgen.IDs)
		if got, _ := run(t, c, sql, args, nil, nil, -1); !bytes.Equal(got, []byte{1, 2, 4, 5, 7}) {
			t.Errorf("left after Delete: %v", got)
		}
		return nil
	})
}
