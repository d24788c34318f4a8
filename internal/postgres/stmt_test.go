package postgres

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/airnest/airnest/codec"
	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

func TestReadOnlyText(t *testing.T) {
	for sql, want := range map[string]bool{
		`SELECT v FROM "Job" WHERE status = $1`:                 true,
		"  -- note\n select 1":                                  true,
		`/* a /* nested */ comment */ VALUES (1)`:               true,
		`WITH x AS (SELECT 1) SELECT * FROM x`:                  true,
		`SELECT 'DELETE FROM t' AS v`:                           true,
		`SELECT "update" FROM t`:                                true,
		`SELECT $$ INSERT $$`:                                   true,
		`SELECT update_count FROM t`:                            true,
		`EXPLAIN SELECT 1`:                                      true,
		`TABLE "Job"`:                                           true,
		`SHOW search_path`:                                      true,
		`WITH d AS (DELETE FROM t RETURNING v) SELECT v FROM d`: false,
		`SELECT v INTO other FROM "Job"`:                        false,
		`SELECT v FROM "Job" FOR UPDATE`:                        false,
		`SELECT v FROM "Job" FOR SHARE`:                         false,
		`EXPLAIN ANALYZE DELETE FROM "Job"`:                     false,
		`DELETE FROM "Job"`:                                     false,
		`INSERT INTO t VALUES (1)`:                              false,
		`(SELECT 1)`:                                            true,
		`CREATE TABLE t (a int)`:                                false,
		``:                                                      false,
		`SELECT v FROM "Job"; DELETE FROM "Job"`:                false,
		`select v from "Job" where v = 'it''s; delete from x' -- ok`: true,
	} {
		if got := readOnly(sql); got != want {
			t.Errorf("readOnly(%q) = %v, want %v", sql, got, want)
		}
	}
}

func TestMultipleText(t *testing.T) {
	for sql, want := range map[string]bool{
		`SELECT 1`:                       false,
		`SELECT 1;`:                      false,
		`SELECT 1; ; -- end`:             false,
		`SELECT ';' AS x; /* c */`:       false,
		`SELECT $t$;$t$`:                 false,
		`SELECT "a;b" FROM t`:            false,
		`SELECT 1; SELECT 2`:             true,
		`SELECT 1; 'x'`:                  true,
		"SELECT 1 -- c\n; DELETE FROM t": true,
	} {
		if got := multiple(sql); got != want {
			t.Errorf("multiple(%q) = %v, want %v", sql, got, want)
		}
	}
}

// Values go in and come back as SQLite's backend gives them: NaN as NULL,
// text that PostgreSQL cannot hold refused with a clear error, booleans and
// sums as integers, and statements of several commands refused.
func TestBindAndColumns(t *testing.T) {
	db, _ := openDB(t, backend.Config{})
	read(t, db, func(c backend.Conn) error {
		st, err := c.PrepareOnce("SELECT $1::double precision, $2::bigint, $3::text, $4::bytea, $5::int, true, sum(x), 7::numeric / 2, NULL::text FROM (VALUES (1::bigint), (2)) AS t(x)")
		if err != nil {
			return err
		}
		defer st.Close()
		if st.BindCount() != 5 || st.ColumnCount() != 9 || st.ColumnName(6) != "sum" {
			t.Errorf("describe: %d params, %d columns, column 6 %q", st.BindCount(), st.ColumnCount(), st.ColumnName(6))
		}
		for _, s := range []string{"a\x00b", "\xff"} {
			if err := st.BindText(3, s); !errors.Is(err, errText) || !errors.Is(err, codec.ErrInvalid) || !strings.Contains(err.Error(), "PostgreSQL text") {
				t.Errorf("BindText(%q): %v", s, err)
			}
		}
		st.BindFloat(1, math.NaN())
		st.BindInt64(2, math.MinInt64)
		st.BindText(3, "héllo")
		st.BindBlob(4, []byte{0, 0xff})
		if err := st.BindInt64(5, 1<<40); err == nil {
			t.Error("an int64 beyond int4 bound to an int parameter")
		}
		st.BindInt64(5, -5)
		if !st.Step() {
			return st.Err()
		}
		types := []backend.Type{backend.Null, backend.Integer, backend.Text, backend.Blob, backend.Integer, backend.Integer, backend.Integer, backend.Float, backend.Null}
		for i, want := range types {
			if got := st.ColumnType(i); got != want {
				t.Errorf("column %d: type %v, want %v", i, got, want)
			}
		}
		if st.ColumnInt64(1) != math.MinInt64 || st.ColumnText(2) != "héllo" || string(st.ColumnRawBlob(3)) != "\x00\xff" ||
			st.ColumnInt(4) != -5 || st.ColumnInt64(5) != 1 || st.ColumnInt64(6) != 3 || st.ColumnFloat(7) != 3.5 {
			t.Errorf("values: %d %q %x %d %d %d %v", st.ColumnInt64(1), st.ColumnText(2), st.ColumnRawBlob(3),
				st.ColumnInt(4), st.ColumnInt64(5), st.ColumnInt64(6), st.ColumnFloat(7))
		}
		if st.Step() {
			t.Error("a second row")
		}
		if _, err := c.PrepareOnce("SELECT 1; SELECT 2"); !errors.Is(err, backend.ErrMultiple) {
			t.Errorf("two statements: %v", err)
		}
		// The server's own refusal maps to ErrMultiple as well.
		if _, err := c.(*conn).prepare("x", "SELECT 1; SELECT 2", true); !errors.Is(err, backend.ErrMultiple) {
			t.Errorf("two statements, server-side: %v", err)
		}
		return nil
	})
}

// Empty text and blobs are values, not NULL, streamed or buffered.
func TestEmptyValues(t *testing.T) {
	db, _ := openDB(t, backend.Config{})
	read(t, db, func(c backend.Conn) error {
		q := backend.NewQuery("SELECT ''::text, ''::bytea, NULL::text")
		for _, spill := range []bool{false, true} {
			st, err := c.Prepare(q)
			if err != nil {
				return err
			}
			if !st.Step() {
				return st.Err()
			}
			if spill { // another statement makes the rows of st buffered
				c.Each("SELECT 1", nil, nil)
			}
			got := []backend.Type{st.ColumnType(0), st.ColumnType(1), st.ColumnType(2)}
			if !slices.Equal(got, []backend.Type{backend.Text, backend.Blob, backend.Null}) {
				t.Errorf("spill %v: types %v", spill, got)
			}
			st.Reset()
		}
		return nil
	})
}

// Plan returns PostgreSQL's plan under SQLite's header, one node per line.
func TestPlan(t *testing.T) {
	db, _ := openDB(t, backend.Config{})
	setup(t, db)
	read(t, db, func(c backend.Conn) error {
		st, err := c.PrepareOnce(sqlgen.Postgres.Explain(jobTable.Load()))
		if err != nil {
			return err
		}
		defer st.Close()
		st.BindBlob(1, []byte{1})
		plan, err := c.Plan(st)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(plan, "QUERY PLAN\n") || !strings.Contains(plan, "Job_pkey") || !strings.HasSuffix(plan, "\n") {
			t.Errorf("plan:\n%s", plan)
		}
		return nil
	})
}

// Each binds ? placeholders in order and runs a statement several times.
func TestEach(t *testing.T) {
	db, _ := openDB(t, backend.Config{})
	var got []string
	read(t, db, func(c backend.Conn) error {
		return c.Each("SELECT x || ? FROM unnest(ARRAY['a', 'b']) AS t(x) WHERE length(x) < ?", []any{"!", int64(5)}, func(st backend.Stmt) error {
			got = append(got, st.ColumnText(0))
			return nil
		})
	})
	if strings.Join(got, ",") != "a!,b!" {
		t.Errorf("Each: %v", got)
	}
	if Classify(errors.New("unrelated")) != backend.Other {
		t.Error("an unrelated error classified")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c, err := db.Read(ctx)
	if err == nil {
		db.Release(c)
		t.Fatal("Read with a done context")
	}
}
