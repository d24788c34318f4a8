package airnest

import "github.com/airnest/airnest/internal/sqlgen"

// Where returns the query narrowed by more filters: a value must match the
// filters the query already has and every one of these (they AND
// together), so a base query can be extended by filters as well as by
// order and limits. Ordering, Limit, Offset, After and Match are kept. The
// filters follow the rules of Coll.Where (declared columns, values of the
// column's type); a mistake is kept and returned by the method that runs
// the query. Where() with no filter returns the query unchanged.
func (q *Query[T]) Where(filters ...Filter) *Query[T] {
	n := q.clone()
	if n.err != nil || len(filters) == 0 {
		return n
	}
	e, err := n.compile(And(filters...))
	if err != nil {
		n.err = err
		return n
	}
	n.where = sqlgen.Expr{Op: sqlgen.OpAnd, Kids: []sqlgen.Expr{q.where, e}}
	return n
}
