package sqlgen

import (
	"slices"
	"strings"
)

// Op is a filter operator.
type Op int

// Filter operators. And, Or and Not combine Kids; the others are leaves on
// one column, with their values as bound parameters.
const (
	OpAnd Op = iota
	OpOr
	OpNot
	OpEq      // 1 arg; nullable columns compare with IS, so a NULL arg finds NULLs
	OpNe      // 1 arg; IS NOT on nullable columns
	OpLt      // 1 arg
	OpLte     // 1 arg
	OpGt      // 1 arg
	OpGte     // 1 arg
	OpBetween // 2 args: low, high (inclusive)
	OpPrefix  // 2 args: low (inclusive), high (exclusive)
	OpIn      // 1 arg: a JSON array, see In
	OpIsNull  // no arg
	// Membership in a slice column's side table (Expr.Elems).
	OpContains    // 1 arg: the element
	OpContainsAny // 1 arg: a JSON array, as In's
	OpContainsAll // 2 args: a JSON array of distinct elements, and their count
	OpIsEmpty     // no arg: the slice has no element
)

// Expr is a filter tree whose values are references to arguments, never
// text: the SQL written for an Expr depends only on its shape.
type Expr struct {
	Op       Op
	Col      string // column name, already validated
	Type     string // column SQL type: INTEGER, REAL, TEXT, BLOB
	Nullable bool   // the column can hold NULL
	Elems    string // a slice column's side table, for the membership ops
	// ArgNotNull: Eq's or Ne's value is not NULL, so a positive Eq may be
	// a plain = (which a PostgreSQL index serves; IS NOT DISTINCT FROM is
	// not), where NULLs never match anyway.
	ArgNotNull bool
	Args       []int // indexes into the caller's value list
	Kids       []Expr
}

// Key is one ORDER BY key.
type Key struct {
	Col      string
	Desc     bool
	Nullable bool
}

// ArgSrc says where a bound parameter's value comes from.
type ArgSrc byte

// Sources of bound parameters.
const (
	ArgValue  ArgSrc = iota // the filter value numbered I
	ArgCursor               // the cursor's value of order key I
	ArgLimit                // the limit (-1 for none)
	ArgOffset               // the offset
)

// Arg is one bound parameter, in the order the "?" appear in the text.
type Arg struct {
	Src ArgSrc
	I   int
}

// Select describes a query on one table.
type Select struct {
	Where Expr
	// Order is the complete ordering; the caller ends it with the id column
	// so that every row has a distinct position.
	Order []Key
	// After, when not nil, continues the ordering after a cursor row:
	// After[i] reports that the cursor's value of Order[i] is NULL.
	After []bool
	// Limit and Offset report that the query has a limit or an offset; their
	// values are always bound parameters, so the text depends only on
	// whether they exist. Without a limit, Count counts every match and the
	// caller subtracts the offset. Without either, Delete's choice of rows
	// needs no ORDER BY, which leaves SQLite free to find them through a
	// covering index.
	Limit, Offset bool
}

// Kind is what a query statement returns or does.
type Kind int

// Statement kinds.
const (
	Rows   Kind = iota // id, v, then the values of every order key but id
	IDs                // id
	Count              // count(*)
	Exists             // 1 or 0
	Delete             // deletes the matching rows
)

type writer struct {
	d    *Dialect
	b    strings.Builder
	args []Arg
}

func (w *writer) s(s string) { w.b.WriteString(s) }

func (w *writer) arg(src ArgSrc, i int) {
	w.args = append(w.args, Arg{src, i})
	w.b.WriteString(w.d.param(len(w.args)))
}

// Query writes the statement of kind k for q on t and lists its parameters.
func (t Table) Query(q Select, k Kind) (string, []Arg) {
	w := &writer{d: t.D}
	table := Quote(t.Name)
	switch k {
	case Rows:
		w.s("SELECT id, v")
		for _, key := range q.Order {
			if key.Col != IDColumn {
				w.s(", ")
				w.s(Quote(key.Col))
			}
		}
		w.s(" FROM " + table)
		w.where(q)
		if q.Limit || q.Offset {
			w.orderLimit(q)
		} else {
			// No LIMIT clause at all: with one, even bound to -1, SQLite
			// sorts through a b-tree, about twice as slow as its sorter.
			w.orderBy(q, false)
		}
	case IDs:
		w.s("SELECT id FROM " + table)
		w.where(q)
		// Without a limit every match is read anyway. Unless an index yields
		// the matches in ID order, the keys are written as expressions
		// (+col): SQLite then sorts the IDs it finds through an index, where
		// it would otherwise read the table in ID order to save the sort,
		// passing through every stored value.
		w.orderBy(q, !q.Limit && !t.inIDOrder(q))
		w.limit()
	case Count:
		// The ordering cannot change how many rows a LIMIT lets through.
		if !q.Limit {
			w.s("SELECT count(*) FROM " + table)
			w.where(q)
			break
		}
		w.s("SELECT count(*) FROM (SELECT 1 FROM " + table)
		w.where(q)
		w.limit()
		w.s(") AS m")
	case Exists:
		w.s("SELECT EXISTS (SELECT 1 FROM " + table)
		w.where(q)
		w.limit()
		w.s(")")
	case Delete:
		// The matches are found as IDs finds them; each is then removed by
		// its primary key.
		if !q.Limit && !q.Offset && q.everything() {
			w.s("DELETE FROM " + table) // SQLite clears the table and its indexes
			break
		}
		w.s("DELETE FROM " + table + " WHERE id IN (SELECT id FROM " + table)
		w.where(q)
		if q.Limit || q.Offset {
			w.orderLimit(q)
		}
		w.s(")")
	}
	return w.b.String(), w.args
}

// inIDOrder reports that an index holds q's matches in ID order: q is
// ordered by id alone and its filter requires a range of ids, or equality
// (Eq, IsNull) on a column with an index of its own, whose entries for one
// value are in ID order.
func (t Table) inIDOrder(q Select) bool {
	if len(q.Order) != 1 || q.Order[0].Col != IDColumn {
		return false
	}
	var ordered func(e Expr) bool
	ordered = func(e Expr) bool {
		switch e.Op {
		case OpAnd:
			return slices.ContainsFunc(e.Kids, ordered)
		case OpLt, OpLte, OpGt, OpGte, OpBetween:
			return e.Col == IDColumn
		case OpEq, OpIsNull:
			return e.Col == IDColumn || slices.ContainsFunc(t.Columns, func(c Column) bool {
				return c.Name == e.Col && c.Indexed
			})
		}
		return false
	}
	return ordered(q.Where)
}

// everything reports that q has no condition: no filter and no cursor.
func (q Select) everything() bool { return q.trivial() && q.After == nil }

func (q Select) trivial() bool { return q.Where.Op == OpAnd && len(q.Where.Kids) == 0 }

func (w *writer) where(q Select) {
	if q.everything() {
		return
	}
	trivial := q.trivial()
	w.s(" WHERE ")
	if !trivial {
		w.expr(q.Where, false)
		if q.After != nil {
			w.s(" AND ")
		}
	}
	if q.After != nil {
		w.keyset(q.Order, q.After)
	}
}

func (w *writer) orderLimit(q Select) {
	w.orderBy(q, false)
	w.limit()
}

// orderBy writes the ORDER BY clause; with expr, each key is written as +col,
// which sorts the same but cannot be served by an index's order.
func (w *writer) orderBy(q Select, expr bool) {
	w.s(" ORDER BY ")
	for i, k := range q.Order {
		if i > 0 {
			w.s(", ")
		}
		if expr && !w.d.or().pg {
			w.s("+")
		}
		w.s(quoteCol(k.Col))
		if k.Desc {
			w.s(" DESC")
		}
		if w.d.or().pg && k.Col != IDColumn {
			// SQLite's order: NULL first ascending, last descending.
			if k.Desc {
				w.s(" NULLS LAST")
			} else {
				w.s(" NULLS FIRST")
			}
		}
	}
}

func (w *writer) limit() {
	w.s(" LIMIT ")
	if w.d.or().pg {
		// PostgreSQL refuses a negative LIMIT; NULL is its "no limit".
		w.s("NULLIF(")
		w.arg(ArgLimit, 0)
		w.s("::bigint, -1)")
	} else {
		w.arg(ArgLimit, 0)
	}
	w.s(" OFFSET ")
	w.arg(ArgOffset, 0)
}

// quoteCol quotes an index column; id stays bare, as in the table's DDL.
func quoteCol(c string) string {
	if c == IDColumn {
		return IDColumn
	}
	return Quote(c)
}

// expr writes e, or its negation when neg is set. Negation is pushed down to
// the leaves (De Morgan), and each negated leaf says outright that a NULL
// column value matches, so every leaf is true or false, never SQL's unknown:
// Not(Lt("n", 5)) matches a NULL n, as !(x < 5) would in Go for a missing x.
// Positive leaves stay plain comparisons that SQLite can serve from an index.
func (w *writer) expr(e Expr, neg bool) {
	switch e.Op {
	case OpAnd, OpOr:
		and := (e.Op == OpAnd) != neg
		if len(e.Kids) == 0 {
			w.s(w.d.boolLit(and))
			return
		}
		if len(e.Kids) == 1 {
			w.expr(e.Kids[0], neg)
			return
		}
		w.s("(")
		for i, k := range e.Kids {
			if i > 0 {
				if and {
					w.s(" AND ")
				} else {
					w.s(" OR ")
				}
			}
			w.expr(k, neg)
		}
		w.s(")")
		return
	case OpNot:
		w.expr(Expr{Op: OpAnd, Kids: e.Kids}, !neg)
		return
	}
	if e.Elems != "" {
		w.membership(e, neg)
		return
	}
	c := quoteCol(e.Col)
	orNull := func() {
		if e.Nullable {
			w.s(" OR " + c + " IS NULL")
		}
	}
	op := e.Op
	if neg {
		switch op {
		case OpEq:
			op = OpNe
		case OpNe:
			op = OpEq
		}
	}
	switch op {
	case OpEq, OpNe:
		switch {
		case e.Nullable && op == OpEq && w.d.or().pg && e.ArgNotNull:
			w.s(c + " = ") // the same rows, and PostgreSQL's index serves it
		case e.Nullable && op == OpEq && w.d.or().pg:
			w.s(c + " IS NOT DISTINCT FROM ")
		case e.Nullable && w.d.or().pg:
			w.s(c + " IS DISTINCT FROM ")
		case e.Nullable && op == OpEq:
			w.s(c + " IS ")
		case e.Nullable:
			w.s(c + " IS NOT ")
		case op == OpEq:
			w.s(c + " = ")
		default:
			w.s(c + " <> ")
		}
		w.arg(ArgValue, e.Args[0])
	case OpLt, OpLte, OpGt, OpGte:
		if !neg {
			w.s(c + " " + cmp[op] + " ")
			w.arg(ArgValue, e.Args[0])
			return
		}
		w.s("(" + c + " " + cmp[negCmp[op]] + " ")
		w.arg(ArgValue, e.Args[0])
		orNull()
		w.s(")")
	case OpBetween:
		if !neg {
			w.s(c + " BETWEEN ")
			w.arg(ArgValue, e.Args[0])
			w.s(" AND ")
			w.arg(ArgValue, e.Args[1])
			return
		}
		w.s("(" + c + " < ")
		w.arg(ArgValue, e.Args[0])
		w.s(" OR " + c + " > ")
		w.arg(ArgValue, e.Args[1])
		orNull()
		w.s(")")
	case OpPrefix:
		if !neg {
			w.s("(" + c + " >= ")
			w.arg(ArgValue, e.Args[0])
			w.s(" AND " + c + " < ")
			w.arg(ArgValue, e.Args[1])
			w.s(")")
			return
		}
		w.s("(" + c + " < ")
		w.arg(ArgValue, e.Args[0])
		w.s(" OR " + c + " >= ")
		w.arg(ArgValue, e.Args[1])
		orNull()
		w.s(")")
	case OpIn:
		if neg {
			w.s("(" + c)
			w.inList(e, true)
			orNull()
			w.s(")")
			return
		}
		w.s(c)
		w.inList(e, false)
	case OpIsNull:
		if neg {
			w.s(c + " IS NOT NULL")
		} else {
			w.s(c + " IS NULL")
		}
	}
}

// inList writes " IN (the values of the JSON array e.Args[0])", or NOT IN.
func (w *writer) inList(e Expr, neg bool) {
	switch {
	case neg:
		w.s(" NOT IN ")
	case w.d.or().pg:
		// = ANY of an array, not IN of a set-returning function: the
		// planner serves it from the column's index (Index Cond), where
		// it joins IN's guessed 100 rows by hash against the whole table.
		w.s(" = ANY(ARRAY")
	default:
		w.s(" IN ")
	}
	if w.d.or().pg {
		w.s("(SELECT " + pgInValue[e.Type] + " FROM json_array_elements_text(")
		w.arg(ArgValue, e.Args[0])
		w.s("::json) AS j(value))")
		if !neg {
			w.s(")")
		}
		return
	}
	w.s("(SELECT " + inValue[e.Type] + " FROM json_each(")
	w.arg(ArgValue, e.Args[0])
	w.s("))")
}

var cmp = map[Op]string{OpLt: "<", OpLte: "<=", OpGt: ">", OpGte: ">="}

var negCmp = map[Op]Op{OpLt: OpGte, OpLte: OpGt, OpGt: OpLte, OpGte: OpLt}

// inValue turns one element of In's JSON array into a column value. Text and
// blobs travel hex-encoded, so every byte string arrives exactly; numbers
// are JSON numbers (SQLite parses floats back to the same bits).
var inValue = map[string]string{
	"INTEGER": "value",
	"REAL":    "value",
	"TEXT":    "CAST(unhex(value) AS TEXT)",
	"BLOB":    "unhex(value)",
}

// pgInValue is inValue for PostgreSQL.
var pgInValue = map[string]string{
	"INTEGER": "value::bigint",
	// The root writes ±Inf as ±9e999, which SQLite reads as infinite and
	// PostgreSQL refuses as out of range.
	"REAL": "(CASE value WHEN '9e999' THEN 'Infinity' WHEN '-9e999' THEN '-Infinity' ELSE value END)::double precision",
	"TEXT": `convert_from(decode(value, 'hex'), 'UTF8') COLLATE "C"`,
	"BLOB": "decode(value, 'hex')",
}

// keyset writes "the row comes after the cursor row in the ordering".
// SQLite orders NULL first ascending and last descending. When every key
// runs one way, no cursor value is NULL and no NULL can come after the cursor,
// a row-value comparison says it in a form SQLite serves from an index.
func (w *writer) keyset(order []Key, nulls []bool) {
	desc := order[0].Desc
	fast := true
	for i, k := range order {
		if k.Desc != desc || nulls[i] || (desc && k.Nullable) {
			fast = false
		}
	}
	if fast {
		op := " > "
		if desc {
			op = " < "
		}
		if len(order) == 1 {
			w.s(quoteCol(order[0].Col) + op)
			w.arg(ArgCursor, 0)
			return
		}
		w.s("(")
		for i, k := range order {
			if i > 0 {
				w.s(", ")
			}
			w.s(quoteCol(k.Col))
		}
		w.s(")" + op + "(")
		for i := range order {
			if i > 0 {
				w.s(", ")
			}
			w.arg(ArgCursor, i)
		}
		w.s(")")
		return
	}
	// The general form: some key i is after the cursor's and every key before it equal.
	w.s("(")
	terms := 0
	for i, k := range order {
		if k.Desc && nulls[i] {
			continue // nothing sorts after NULL descending
		}
		if terms > 0 {
			w.s(" OR ")
		}
		terms++
		w.s("(")
		for j := range i {
			c := quoteCol(order[j].Col)
			if nulls[j] {
				w.s(c + " IS NULL AND ")
			} else {
				w.s(c + " = ")
				w.arg(ArgCursor, j)
				w.s(" AND ")
			}
		}
		c := quoteCol(k.Col)
		switch {
		case nulls[i]:
			w.s(c + " IS NOT NULL")
		case !k.Desc:
			w.s(c + " > ")
			w.arg(ArgCursor, i)
		case k.Nullable:
			w.s("(" + c + " < ")
			w.arg(ArgCursor, i)
			w.s(" OR " + c + " IS NULL)")
		default:
			w.s(c + " < ")
			w.arg(ArgCursor, i)
		}
		w.s(")")
	}
	if terms == 0 {
		w.s(w.d.boolLit(false))
	}
	w.s(")")
}
