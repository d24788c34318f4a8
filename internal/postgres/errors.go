package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"

	"github.com/airnest/airnest/internal/backend"
	"github.com/jackc/pgx/v5/pgconn"
)

// parseErr explains a URL pgx cannot read, without the password it may
// hold (pgx's own message masks it; what it misses is masked here).
func parseErr(dsn, safe string, err error) error {
	msg := err.Error()
	if u, uerr := url.Parse(dsn); uerr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	} else if i, j := strings.Index(dsn, "://"), strings.LastIndex(dsn, "@"); i >= 0 && j > i {
		msg = strings.ReplaceAll(msg, dsn[i+3:j], "xxxxx") // the whole user info
	}
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) {
		msg = safe + ": " + msg
	}
	return fmt.Errorf("postgres: bad URL: %s (want postgres://user:password@host:port/database?param=value)", msg)
}

// connectErr explains why the server could not be reached: what was tried
// and what to fix. The error underneath stays reachable.
func (d *DB) connectErr(ctx context.Context, err error) error {
	var hint string
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe) && pe.Code == "3D000":
		hint = "the database does not exist: create it (CREATE DATABASE) or fix the URL's path"
	case errors.As(err, &pe) && (pe.Code == "28P01" || pe.Code == "28000"):
		hint = "the server refused the credentials: check the user and password in the URL (and the server's pg_hba.conf)"
	case errors.As(err, &pe) && pe.Code == "53300":
		hint = "the server has no connection slot left: raise its max_connections or lower Options' pool sizes"
	case errors.As(err, &pe) && (pe.Code == "57P03" || pe.Code == "57P01"):
		hint = "the server is starting up or shutting down: try again when it is up"
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
		hint = "the server did not answer in time: check host and port, and that nothing drops the connection"
	case isRefused(err):
		hint = "no server is listening there: check host and port, and that PostgreSQL is running"
	case errors.As(err, &pe):
		hint = "the server refused the connection"
	default:
		hint = "check host, port and the server's state"
	}
	return fmt.Errorf("postgres: cannot connect to %s: %s: %w", d.where, hint, err)
}

func isRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EHOSTUNREACH)
}

// Classify says what kind of PostgreSQL failure err is.
func Classify(err error) backend.Class {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return backend.Unique
		case "40P01", "55P03", "40001":
			return backend.Busy
		case "57014":
			if strings.Contains(pe.Message, "lock timeout") {
				return backend.Busy
			}
			return backend.Interrupt
		case "25006":
			return backend.ReadOnly
		case "57P01", "57P02", "57P03", "08000", "08003", "08006", "08001", "08004":
			return backend.Gone
		}
	}
	// pgconn reports a statement its context stopped as the context's
	// error, wrapped (deadline, or done before the statement began) or bare
	// (cancelled midway).
	if pgconn.Timeout(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return backend.Interrupt
	}
	var ce *pgconn.ConnectError
	var ne *net.OpError // not the net.Error interface: SQLite's errors have its methods too
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, pgconn.ErrConnClosed) || isRefused(err) {
		return backend.Gone
	}
	return backend.Other
}
