package sqlite

import (
	"strings"

	"github.com/airnest/airnest/internal/backend"
)

// Plan steps an EXPLAIN QUERY PLAN statement and draws its rows as the
// sqlite3 shell does:
//
//	QUERY PLAN
//	`--SEARCH Job USING INDEX Job__status__priority (status=?)
func (c *Conn) Plan(st backend.Stmt) (string, error) {
	type node struct {
		id, parent int
		detail     string
	}
	var nodes []node
	for st.Step() {
		nodes = append(nodes, node{st.ColumnInt(0), st.ColumnInt(1), st.ColumnText(3)})
	}
	if err := st.Err(); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("QUERY PLAN\n")
	var walk func(parent int, indent string)
	walk = func(parent int, indent string) {
		var kids []node
		for _, n := range nodes {
			if n.parent == parent {
				kids = append(kids, n)
			}
		}
		for i, n := range kids {
			branch, next := "|--", "|  "
			if i == len(kids)-1 {
				branch, next = "`--", "   "
			}
			b.WriteString(indent + branch + n.detail + "\n")
			walk(n.id, indent+next)
		}
	}
	walk(0, "")
	return b.String(), nil
}
