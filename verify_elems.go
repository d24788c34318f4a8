package airnest

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

// readElems reads the side table of every slice column of the collection
// (nil for the other columns), as id -> elements.
func (c *collection[T]) readElems(conn backend.Conn, d *sqlgen.Dialect) ([]map[string][]sqlValue, error) {
	sides := make([]map[string][]sqlValue, len(c.cols))
	for i := range c.cols {
		col := &c.cols[i]
		if col.elem == nil {
			continue
		}
		side := map[string][]sqlValue{}
		err := query(conn, sqlgen.Table{D: d, Name: c.name}.SelectElems(col.elems), nil, func(st backend.Stmt) error {
			id := string(st.ColumnRawBlob(0))
			side[id] = append(side[id], column(st, 1))
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("side table %s: %w", col.elems.Table, err)
		}
		sides[i] = side
	}
	return sides, nil
}

// verifyElems compares the side-table rows of one id (taking them out of
// side) with the elements of the decoded value.
func (c *collection[T]) verifyElems(rep *VerifyReport, col indexCol, side map[string][]sqlValue, rv reflect.Value, idb []byte) {
	stored := side[string(idb)]
	delete(side, string(idb))
	want, err := col.elements(rv, nil)
	if err != nil {
		rep.add(Problem{Check: "index", Collection: c.name, ID: rowID(idb), Column: col.name, Detail: fmt.Sprintf("field %s cannot be indexed: %v", col.field, err)})
		return
	}
	if got, exp := elemSet(stored), elemSet(distinct(want)); !slices.Equal(got, exp) {
		rep.add(Problem{Check: "index", Collection: c.name, ID: rowID(idb), Column: col.name,
			Detail: fmt.Sprintf("side table %s holds elements %s, the value's field %s gives %s", col.elems.Table, shortList(got), col.field, shortList(exp))})
	}
}

// shortList shows a list of elements for a report, cut when long.
func shortList(s []string) string {
	l := "[" + strings.Join(s, ", ") + "]"
	if len(l) > 200 {
		l = l[:200] + "... (" + strconv.Itoa(len(s)) + " elements)"
	}
	return l
}

// elemSet renders elements as sorted text, to compare as sets.
func elemSet(vals []sqlValue) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		if v.kind == sqlFloat && v.f == 0 {
			v.f = 0
		}
		out[i] = v.String()
	}
	slices.Sort(out)
	return out
}

// verifyStoredElems checks a slice column's side table without the Go
// type: it exists, and every element has the recorded SQL type.
func verifyStoredElems(conn backend.Conn, d *sqlgen.Dialect, coll string, col sqlgen.Column, rep *VerifyReport) error {
	e := col.Elems
	if e == nil {
		return nil
	}
	ok, err := tableExists(conn, d, e.Table)
	if err != nil || !ok {
		if err == nil {
			rep.add(Problem{Check: "schema", Collection: coll, Column: col.Name, Detail: fmt.Sprintf("side table %s is missing", e.Table)})
		}
		return err
	}
	return query(conn, sqlgen.Table{D: d, Name: coll}.SelectElems(e), nil, func(st backend.Stmt) error {
		if v := column(st, 1); v.kind == sqlNull || !kindFits(v.kind, e.Type) {
			rep.add(Problem{Check: "index", Collection: coll, ID: rowID(st.ColumnRawBlob(0)), Column: col.Name,
				Detail: fmt.Sprintf("side table %s holds %s, not a %s element", e.Table, v, e.Type)})
		}
		return nil
	})
}
