package postgres

import (
	"strings"
)

// scanSQL walks sql outside string literals, quoted identifiers, dollar
// quotes and comments, calling code with each stretch of plain SQL text.
// Nothing is parsed: it only tells text from what merely looks like text.
func scanSQL(sql string, code func(s string)) {
	start := 0
	flush := func(end int) {
		if end > start {
			code(sql[start:end])
		}
	}
	for i := 0; i < len(sql); {
		c := sql[i]
		var end int
		lit := c != '-' && c != '/'
		switch {
		case c == '\'' || c == '"':
			end = closeQuote(sql, i+1, c)
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			end = strings.IndexByte(sql[i:], '\n')
			if end < 0 {
				end = len(sql)
			} else {
				end += i + 1
			}
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			end = closeComment(sql, i+2)
		case c == '$':
			tag, ok := dollarTag(sql[i:])
			if !ok {
				i++
				continue
			}
			end = strings.Index(sql[i+len(tag):], tag)
			if end < 0 {
				end = len(sql)
			} else {
				end += i + 2*len(tag)
			}
		default:
			i++
			continue
		}
		flush(i)
		if lit {
			code("'") // a literal: a word of its own, not blank
		} else {
			code(" ")
		}
		i, start = end, end
	}
	flush(len(sql))
}

// closeQuote returns the index after the quote q that closes a literal
// starting at i; a doubled quote stays inside.
func closeQuote(sql string, i int, q byte) int {
	for i < len(sql) {
		if sql[i] == q {
			if i+1 < len(sql) && sql[i+1] == q {
				i += 2
				continue
			}
			return i + 1
		}
		i++
	}
	return len(sql)
}

// closeComment returns the index after the */ that closes a block comment
// opened before i; PostgreSQL's block comments nest.
func closeComment(sql string, i int) int {
	depth := 1
	for i < len(sql) {
		switch {
		case strings.HasPrefix(sql[i:], "/*"):
			depth++
			i += 2
		case strings.HasPrefix(sql[i:], "*/"):
			depth--
			i += 2
			if depth == 0 {
				return i
			}
		default:
			i++
		}
	}
	return len(sql)
}

// dollarTag returns the opening $tag$ of a dollar-quoted string at the start
// of s ($1, a parameter, is not one).
func dollarTag(s string) (string, bool) {
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '$':
			return s[:i+1], true
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80:
		case c >= '0' && c <= '9' && i > 1:
		default:
			return "", false
		}
	}
	return "", false
}

// words returns the upper-cased words of sql's plain text, in order.
func words(sql string) []string {
	var out []string
	scanSQL(sql, func(s string) {
		for _, w := range strings.FieldsFunc(s, func(r rune) bool {
			return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r >= 0x80)
		}) {
			out = append(out, strings.ToUpper(w))
		}
	})
	return out
}

// readOnly reports whether sql, one statement, cannot write: it begins with
// a reading keyword and names no data-modifying command anywhere (a WITH
// holding a DELETE, SELECT ... INTO a new table, EXPLAIN ANALYZE of an
// UPDATE, a row lock FOR UPDATE). Functions that write (nextval) go
// unnoticed; a reader's session refuses them anyway.
func readOnly(sql string) bool {
	w := words(sql)
	if len(w) == 0 {
		return false
	}
	switch w[0] {
	case "SELECT", "VALUES", "TABLE", "SHOW", "EXPLAIN", "WITH":
	default:
		return false
	}
	for _, x := range w[1:] {
		switch x {
		case "INSERT", "UPDATE", "DELETE", "MERGE", "INTO", "COPY", "TRUNCATE", "SHARE":
			return false
		}
	}
	return true
}

// multiple reports whether sql holds more than one statement: a semicolon
// in its plain text followed by anything but blanks, semicolons and
// comments.
func multiple(sql string) bool {
	var plain strings.Builder
	scanSQL(sql, func(s string) { plain.WriteString(s) })
	t := plain.String()
	i := strings.IndexByte(t, ';')
	if i < 0 {
		return false
	}
	return strings.TrimSpace(strings.ReplaceAll(t[i:], ";", "")) != ""
}
