package sqlgen

import (
	"fmt"
	"strings"
)

// The statements of airnest.Copy, which moves tables between databases
// column by column without Go types.

// SelectAll selects cols of every row of table, ordered by the columns of
// order (a bookkeeping table's primary key).
func (d *Dialect) SelectAll(table string, cols, order []string) string {
	return fmt.Sprintf("SELECT %s FROM %s ORDER BY %s", quoteAll(cols), Quote(table), quoteAll(order))
}

// Insert inserts one row of cols into table (parameters: cols in order).
func (d *Dialect) Insert(table string, cols []string) string {
	params := make([]string, len(cols))
	for i := range cols {
		params[i] = d.param(i + 1)
	}
	return fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", Quote(table), quoteAll(cols), strings.Join(params, ", "))
}

// CopyPage selects id, v, ShapeColumn and every index column of at most
// limit rows in id order, after an id when after is set (its one
// parameter).
func (t Table) CopyPage(after bool, limit int) string {
	cols := []string{IDColumn, BlobColumn, ShapeColumn}
	for _, c := range t.Columns {
		cols = append(cols, c.Name)
	}
	where := ""
	if after {
		where = " WHERE id > " + t.D.param(1)
	}
	return fmt.Sprintf("SELECT %s FROM %s%s ORDER BY id LIMIT %d", quoteAll(cols), Quote(t.Name), where, limit)
}

// CopyElemsPage selects (elem, id) of the side-table rows of a page of
// CopyPage: ids up to the first parameter and, when after is set, past the
// second (the previous page's last id).
func (t Table) CopyElemsPage(e *Elems, after bool) string {
	where := "id <= " + t.D.param(1)
	if after {
		where += " AND id > " + t.D.param(2)
	}
	return fmt.Sprintf("SELECT elem, id FROM %s WHERE %s", Quote(e.Table), where)
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = Quote(n)
	}
	return strings.Join(q, ", ")
}
