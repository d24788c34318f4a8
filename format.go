package airnest

import (
	"fmt"

	"github.com/airnest/airnest/internal/sqlgen"
	"github.com/airnest/airnest/internal/sqlite"
)

// readFormat refuses a file made by another application or by a newer
// airnest format, and returns the file's format version.
func readFormat(c *sqlite.Conn) (int64, error) {
	var appID, version int64
	err := query(c, sqlgen.ReadFormat, nil, func(st *sqlite.Stmt) error {
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
func writeFormat(c *sqlite.Conn, version int64) error {
	if version == sqlgen.FormatVersion {
		return nil
	}
	return c.Exec(sqlgen.WriteFormat)
}
