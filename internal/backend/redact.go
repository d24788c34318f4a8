package backend

import (
	"net/url"
	"strings"
)

// Redact returns dsn fit for an error message: a URL without the password
// in its user info or its password parameter; of a URL that does not parse,
// everything between "://" and the last "@" is left out. A file path comes
// back as it is.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		i := strings.Index(dsn, "://")
		if j := strings.LastIndex(dsn, "@"); i >= 0 && j > i {
			return dsn[:i+3] + "…" + dsn[j:]
		}
		return dsn
	}
	changed := false
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.User(u.User.Username())
			changed = true
		}
	}
	if q := u.Query(); q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
		changed = true
	}
	if !changed {
		return dsn
	}
	return u.String()
}
