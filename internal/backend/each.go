package backend

import "fmt"

// Each prepares sql once on c, binds args in order and calls row, if not
// nil, for each result row: what every Conn's Each does after turning the
// placeholders into its own.
func Each(c Conn, sql string, args []any, row func(Stmt) error) error {
	st, err := c.PrepareOnce(sql)
	if err != nil {
		return err
	}
	defer st.Close()
	for i, a := range args {
		if err := Bind(st, i+1, a); err != nil {
			return err
		}
	}
	for st.Step() {
		if row != nil {
			if err := row(st); err != nil {
				return err
			}
		}
	}
	return st.Err()
}

// Bind binds a to parameter i of st by its Go type: nil (and a nil []byte)
// as NULL, string, int64, float64 or []byte.
func Bind(st Stmt, i int, a any) error {
	switch a := a.(type) {
	case nil:
		return st.BindNull(i)
	case string:
		return st.BindText(i, a)
	case int64:
		return st.BindInt64(i, a)
	case float64:
		return st.BindFloat(i, a)
	case []byte:
		if a == nil {
			return st.BindNull(i)
		}
		return st.BindBlob(i, a)
	}
	return fmt.Errorf("cannot bind a %T as an SQL value", a)
}
