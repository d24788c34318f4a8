package postgres

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

// collect runs sql (? placeholders, or $n ones when native) on c and
// returns its rows as text.
func collect(t *testing.T, c backend.Conn, sql string, args ...any) []string {
	t.Helper()
	var out []string
	rows := func(st backend.Stmt) error {
		var cols []string
		for i := range st.ColumnCount() {
			cols = append(cols, st.ColumnText(i))
		}
		out = append(out, strings.Join(cols, "|"))
		return nil
	}
	var err error
	if strings.Contains(sql, "$1") {
		err = c.(*conn).each(sql, args, rows)
	} else {
		err = c.Each(sql, args, rows)
	}
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// Every statement the dialect and the table generator write for airnest's
// bookkeeping and schema changes runs on PostgreSQL and answers as the
// root package expects.
func TestDialectStatements(t *testing.T) {
	db, _ := openDB(t, backend.Config{})
	setup(t, db)
	d := sqlgen.Postgres
	err := db.Exclusive(context.Background(), func(c backend.Conn) error {
		if err := c.Exec(d.Begin); err != nil {
			return err
		}
		for _, ddl := range []string{d.SchemaLock, d.FormatTable, d.WriteFormat, d.WriteFormat, d.Meta(), d.Migrations(), d.BumpSchema} {
			if err := c.Exec(ddl); err != nil {
				t.Fatalf("%s: %v", ddl, err)
			}
		}
		if got := collect(t, c, d.ReadFormat); !slices.Equal(got, []string{"1097429582|1"}) {
			t.Errorf("ReadFormat: %v", got)
		}
		if v, err := c.SchemaVersion(); err != nil || v != 1 {
			t.Errorf("SchemaVersion: %d, %v", v, err)
		}
		cols := collect(t, c, d.TableColumns, "Job")
		slices.Sort(cols)
		if strings.Join(cols, ",") != "_airnest_shape,email,id,n,score,status,tag,v" {
			t.Errorf("TableColumns: %v", cols)
		}
		if got := collect(t, c, d.TableExists, "Job"); len(got) != 1 {
			t.Errorf("TableExists Job: %v", got)
		}
		if got := collect(t, c, d.TableExists, "job"); len(got) != 0 {
			t.Errorf("TableExists job (another name): %v", got)
		}
		// job clashes with Job; Job's own indexes do not clash with it.
		if got := collect(t, c, d.NameClash, "JOB", "JOB"); !slices.Equal(got, []string{"table|Job"}) {
			t.Errorf("NameClash: %v", got)
		}
		if got := collect(t, c, d.NameClash, "job__status", "Other"); !slices.Equal(got, []string{"index|Job__status"}) {
			t.Errorf("NameClash of another table's index: %v", got)
		}
		if err := c.Each("INSERT INTO _airnest_collections (name, go_type, columns, created) VALUES (?, ?, ?, ?)",
			[]any{"Job", "main.Job", "[]", int64(1)}, nil); err != nil {
			return err
		}
		if got := collect(t, c, d.StoredCollection, "JOB"); !slices.Equal(got, []string{"Job|[]"}) {
			t.Errorf("StoredCollection: %v", got)
		}
		return c.Exec(d.Commit)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Schema changes and the statements of back-fill, Verify and Update.
	extra := sqlgen.Column{Name: "extra", Type: "TEXT", Indexed: true}
	comp := sqlgen.Composite{Columns: []string{"status", "n"}, Unique: true}
	save(t, db, queryRows...)
	err = db.Exclusive(context.Background(), func(c backend.Conn) error {
		c.Exec(d.Begin)
		for _, ddl := range []string{jobTable.AddColumn(extra), jobTable.CreateIndex(extra), jobTable.CreateComposite(comp)} {
			if err := c.Exec(ddl); err != nil {
				t.Fatalf("%s: %v", ddl, err)
			}
		}
		wide := jobTable
		wide.Columns = append(slices.Clone(jobTable.Columns), extra)
		if err := c.(*conn).each(wide.UpdateColumns([]sqlgen.Column{extra}), []any{"x", []byte{1}}, nil); err != nil {
			t.Fatalf("UpdateColumns: %v", err)
		}
		if got := collect(t, c, wide.SelectColumns([]sqlgen.Column{extra})); len(got) != len(queryRows) || !strings.HasSuffix(got[0], "|x") {
			t.Errorf("SelectColumns: %v", got)
		}
		if got := collect(t, c, jobTable.LoadForUpdate(), []byte{1}); !slices.Equal(got, []string{"one"}) {
			t.Errorf("LoadForUpdate: %v", got)
		}
		if got := collect(t, c, jobTable.ScanPage(true, 10), []byte{5}); len(got) != 2 {
			t.Errorf("ScanPage: %v", got)
		}
		for _, ddl := range []string{sqlgen.DropIndex(jobTable.CompositeName(comp)), sqlgen.DropIndex(jobTable.IndexName("extra")), jobTable.DropColumn("extra")} {
			if err := c.Exec(ddl); err != nil {
				t.Fatalf("%s: %v", ddl, err)
			}
		}
		return c.Exec(d.Commit)
	})
	if err != nil {
		t.Fatal(err)
	}
}
