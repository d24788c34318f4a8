package sqlgen

import "fmt"

// ElemsTable is the name of the side table of slice column col of table.
func ElemsTable(table, col string) string { return table + "__" + col + "__elems" }

// ElemsIndex names the side table's index on id.
func ElemsIndex(e *Elems) string { return e.Table + "__id" }

// CreateElems is the DDL of a slice column's side table and its id index.
func (t Table) CreateElems(e *Elems) []string {
	return []string{
		fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (elem %s NOT NULL, id %s NOT NULL REFERENCES %s (id) ON DELETE CASCADE, PRIMARY KEY (elem, id))%s",
			Quote(e.Table), t.D.TypeName(e.Type), t.D.TypeName("BLOB"), Quote(t.Name), t.D.tableSuffix()),
		fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s (id)", Quote(ElemsIndex(e)), Quote(e.Table)),
	}
}

// DropElems is the DDL that removes a side table (and its index).
func DropElems(e *Elems) string { return "DROP TABLE IF EXISTS " + Quote(e.Table) }

// DeleteElems removes the elements of one id (parameter: id).
func (t Table) DeleteElems(e *Elems) string {
	return fmt.Sprintf("DELETE FROM %s WHERE id = %s", Quote(e.Table), t.D.param(1))
}

// InsertElems adds n elements of one id (parameters: elem, id, elem, id,
// ...); an element already there (a duplicate in the slice) is skipped.
func (t Table) InsertElems(e *Elems, n int) string {
	b := []byte(fmt.Sprintf("INSERT INTO %s (elem, id) VALUES ", Quote(e.Table)))
	for i := range n {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, "("+t.D.param(2*i+1)+", "+t.D.param(2*i+2)+")"...)
	}
	return string(append(b, " ON CONFLICT DO NOTHING"...))
}

// SelectElems selects (id, elem) of every row of a side table, by id then
// element (for Verify and export).
func (t Table) SelectElems(e *Elems) string {
	return fmt.Sprintf("SELECT id, elem FROM %s ORDER BY id, elem", Quote(e.Table))
}

// membership writes the leaf of a slice column's filter: a lookup in its
// side table (served by its primary key on elem), never a read of the blob.
func (w *writer) membership(e Expr, neg bool) {
	// On PostgreSQL, = ANY of an array (as In does): the planner looks the
	// ids up in the primary key, where it would hash-join IN's subquery
	// against the whole table.
	in, end := " IN (", ")"
	switch {
	case neg:
		in = " NOT IN ("
	case w.d.or().pg:
		in, end = " = ANY(ARRAY(", "))"
	}
	side := Quote(e.Elems)
	switch e.Op {
	case OpContains:
		w.s(IDColumn + in + "SELECT id FROM " + side + " WHERE elem = ")
		w.arg(ArgValue, e.Args[0])
		w.s(end)
	case OpContainsAny, OpContainsAll:
		w.s(IDColumn + in + "SELECT id FROM " + side + " WHERE elem")
		w.inList(e, false)
		if e.Op == OpContainsAll {
			w.s(" GROUP BY id HAVING count(*) = ")
			w.arg(ArgValue, e.Args[1])
		}
		w.s(end)
	case OpIsEmpty:
		// The column holds the slice's length.
		c := quoteCol(e.Col)
		if neg {
			w.s(c + " <> 0")
		} else {
			w.s(c + " = 0")
		}
	}
}
