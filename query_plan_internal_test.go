package airnest

import (
	"context"
	"strings"
	"testing"

	"github.com/airnest/airnest/internal/sqlgen"
)

// planRec has columns with their own indexes and a composite index (a, d).
type planRec struct {
	ID ID[planRec]
	A  string
	B  int
	C  *int // nullable
	D  int
	V  string // not indexed: the stored value
}

// planSteps sorts the steps of a query plan on table into those that read
// only an index, those that search the primary key (the table's own
// b-tree, by id), and those that read table rows: a scan of the table, or a
// search through an index that does not hold every column the query needs
// (SQLite then looks up each match's row, whose columns follow the stored
// value).
func planSteps(plan, table string) (index, pk, rows []string) {
	for line := range strings.Lines(plan) {
		step := strings.TrimSpace(strings.TrimLeft(line, "|`- "))
		switch {
		case !strings.HasPrefix(step, "SCAN "+table) && !strings.HasPrefix(step, "SEARCH "+table):
			// QUERY PLAN, SCAN CONSTANT ROW, subqueries, sorts, MULTI-INDEX OR
		case strings.Contains(step, " USING COVERING INDEX "):
			index = append(index, step)
		case strings.Contains(step, " USING PRIMARY KEY "):
			pk = append(pk, step)
		default:
			rows = append(rows, step)
		}
	}
	return index, pk, rows
}

// TestQueryIndexOnlyPlans checks the README's claim about what Count,
// Exists, IDs and Delete read, with SQLite's own plan for the statement each
// runs: only an index when one index holds every column the filter names
// (and, for IDs, SQLite can search it), the table rows otherwise. Delete
// finds its rows the same way and removes each by its primary key.
func TestQueryIndexOnlyPlans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := OpenMemory(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c, err := NewCollection[planRec](s, Index("a", "b", "c", "a,d"))
	if err != nil {
		t.Fatal(err)
	}
	const table = "planRec"
	for i := range 50 {
		r := planRec{A: string(rune('a' + i%7)), B: i % 5, D: i, V: strings.Repeat("v", 3000)}
		if i%3 == 0 {
			r.C = &i
		}
		if err := c.Save(ctx, &r); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		q     *Query[planRec]
		index bool // only an index is read to find the matches
		pk    bool // the filter is on id alone: the primary key is searched
		order bool // IDs reads the matches in ID order, with no sort
	}{
		{"Eq", c.Where(Eq("b", 2)), true, false, true},
		{"Eq, Limit", c.Where(Eq("b", 2)).Limit(5), true, false, true},
		{"Eq, composite index too", c.Where(Eq("a", "c")), true, false, false},
		{"In", c.Where(In("b", 1, 3)), true, false, false},
		{"range", c.Where(Gt("b", 2)), true, false, false},
		{"Prefix", c.Where(Prefix("a", "c")), true, false, false},
		{"IsNull", c.Where(IsNull("c")), true, false, true},
		{"Eq nil", c.Where(Eq("c", nil)), true, false, true},
		{"Not Eq", c.Where(Not(Eq("a", "c"))), true, false, false},
		{"Not Eq nullable", c.Where(Not(Eq("c", 3))), true, false, false},
		{"And, composite index", c.Where(Eq("a", "c"), Gt("d", 3)), true, false, false},
		{"no filter", c.Where(), true, false, false},
		{"id range", c.Where(Gt("id", NewID[planRec]())), false, true, true},
		// What the README says reads table rows.
		{"And, one index each", c.Where(Eq("a", "c"), Eq("b", 2)), false, false, false},
		{"Or", c.Where(Or(Eq("a", "c"), Eq("b", 2))), false, false, false},
		{"Not range nullable", c.Where(Not(Lt("c", 3))), false, false, false},
	} {
		for _, k := range []struct {
			name  string
			kind  sqlgen.Kind
			index bool
		}{
			{"Count", sqlgen.Count, tc.index},
			{"Exists", sqlgen.Exists, tc.index},
			{"IDs", sqlgen.IDs, tc.index},
			{"Delete", sqlgen.Delete, tc.index},
		} {
			plan, err := tc.q.explain(ctx, k.kind)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.name, k.name, err)
			}
			index, pk, rows := planSteps(plan, table)
			if k.kind == sqlgen.IDs && tc.order && strings.Contains(plan, "USE TEMP B-TREE") {
				t.Errorf("%s %s: sorts IDs that an index holds in order:\n%s", tc.name, k.name, plan)
			}
			if k.kind == sqlgen.Delete && tc.q.where.Op == sqlgen.OpAnd && len(tc.q.where.Kids) == 0 {
				// Deleting everything clears the table and its indexes.
				if len(index)+len(pk)+len(rows) != 0 {
					t.Errorf("%s %s: reads rows to delete them all:\n%s", tc.name, k.name, plan)
				}
				continue
			}
			if k.kind == sqlgen.Delete {
				// The rows found are removed one by one by primary key.
				del := "SEARCH " + table + " USING PRIMARY KEY (id=?)"
				if len(pk) == 0 || pk[0] != del {
					t.Errorf("%s %s: rows not removed by primary key:\n%s", tc.name, k.name, plan)
					continue
				}
				pk = pk[1:]
			}
			switch {
			case tc.pk:
				if len(pk) != 1 || len(rows) != 0 || len(index) != 0 {
					t.Errorf("%s %s: not one search of the primary key:\n%s", tc.name, k.name, plan)
				}
			case k.index:
				if len(rows) != 0 || len(pk) != 0 || len(index) == 0 {
					t.Errorf("%s %s: reads more than an index:\n%s", tc.name, k.name, plan)
				}
			default:
				if len(rows) == 0 && len(pk) == 0 {
					t.Errorf("%s %s: reads only an index; the README says it does not:\n%s", tc.name, k.name, plan)
				}
			}
		}
	}
}
