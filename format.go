package airnest

import (
	"fmt"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

// readFormat refuses a database made by another application or by a newer
// airnest format, and returns its format version (0: none recorded).
func readFormat(c backend.Conn, d *sqlgen.Dialect) (int64, error) {
	if d.FormatTable != "" {
		ok, err := tableExists(c, d, "_airnest_format")
		if err != nil || !ok {
			return 0, err
		}
	}
	var appID, version int64
	err := query(c, d.ReadFormat, nil, func(st backend.Stmt) error {
		appID, version = st.ColumnInt64(0), st.ColumnInt64(1)
		return nil
	})
	if err != nil {
		return 0, err
	}
	if err := sqlgen.CheckFormat(appID, version); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrSchema, err)
	}
	return version, nil
}

// writeFormat records this release's format; it runs in the opening
// transaction, after every collection table has been brought up to it.
func writeFormat(c backend.Conn, d *sqlgen.Dialect, version int64) error {
	if version == sqlgen.FormatVersion {
		return nil
	}
	return c.Exec(d.WriteFormat)
}

// tableExists reports whether the database has a table named name.
func tableExists(c backend.Conn, d *sqlgen.Dialect, name string) (bool, error) {
	ok := false
	err := query(c, d.TableExists, []any{name}, func(backend.Stmt) error {
		ok = true
		return nil
	})
	return ok, err
}
