package sqlgen

// Agg is an aggregate over one column of the rows a Select picks.
type Agg int

// Aggregates. Each ignores NULL, as SQL's aggregates do.
const (
	AggSum   Agg = iota // one row: the sum, NULL for no rows
	AggAvg              // one row: the mean as a float, NULL for no rows
	AggMin              // at most one row: the least value
	AggMax              // at most one row: the greatest value
	AggGroup            // a row (value, count) per distinct value
)

// Aggregate writes the statement that computes agg over column col (of
// SQL type typ) of the rows q picks, within its limit and offset, and
// lists its parameters. An INTEGER sum is exact or an error: SQLite's
// sum() fails on overflow; PostgreSQL's is numeric, returned as text for
// the caller to parse. Min and Max order the values rather than call
// min() and max(), which PostgreSQL lacks for bytea.
func (t Table) Aggregate(q Select, agg Agg, col, typ string) (string, []Arg) {
	w := &writer{d: t.D}
	c := quoteCol(col)
	pg := w.d.or().pg
	switch agg {
	case AggSum:
		if pg && typ == "INTEGER" {
			w.s("SELECT sum(" + c + ")::text")
		} else {
			w.s("SELECT sum(" + c + ")")
		}
	case AggAvg:
		switch {
		case pg && typ == "REAL":
			// PostgreSQL's avg(double precision) also sums the squares,
			// which overflow long before the values do.
			w.s("SELECT sum(" + c + ") / count(" + c + ")")
		case pg:
			w.s("SELECT avg(" + c + ")::double precision")
		default:
			w.s("SELECT avg(" + c + ")")
		}
	case AggGroup:
		w.s("SELECT " + c + ", count(*)")
	default:
		w.s("SELECT " + c)
	}
	w.s(" FROM (SELECT " + c + " FROM " + Quote(t.Name))
	w.where(q)
	if q.Limit || q.Offset {
		w.orderLimit(q)
	}
	w.s(") AS m")
	switch agg {
	case AggMin:
		w.s(" WHERE " + c + " IS NOT NULL ORDER BY " + c + " LIMIT 1")
	case AggMax:
		w.s(" WHERE " + c + " IS NOT NULL ORDER BY " + c + " DESC LIMIT 1")
	case AggGroup:
		w.s(" WHERE " + c + " IS NOT NULL GROUP BY " + c)
	}
	return w.b.String(), w.args
}
