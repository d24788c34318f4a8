package postgres

import (
	"context"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/pgtest"
)

// Open's errors say what is wrong and what to fix, never show the
// password, and come back before the context's deadline.
func TestOpenErrors(t *testing.T) {
	dsn := pgtest.Database(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	const secret = "s3cr3tPW"
	with := func(f func(u *url.URL)) string {
		v := *u
		v.User = url.UserPassword(u.User.Username(), secret)
		q := v.Query()
		v.RawQuery = q.Encode()
		f(&v)
		return v.String()
	}
	// A port nothing listens on: a TCP listener closed at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freePort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cases := []struct {
		name, dsn string
		want      []string
	}{
		{"bad URL", "postgres://bob:" + secret + "@host:notaport/db", []string{"bad URL", "invalid port"}},
		{"bad parameter", with(func(u *url.URL) { u.RawQuery += "&connect_timeout=soon" }), []string{"bad URL", "invalid connect_timeout"}},
		{"missing database", with(func(u *url.URL) { u.Path = "/nosuchdb" }), []string{`database "nosuchdb"`, "does not exist", "CREATE DATABASE"}},
		{"wrong user", with(func(u *url.URL) { u.User = url.UserPassword("nosuchuser", secret) }), []string{`user "nosuchuser"`, "credentials"}},
		{"wrong port", with(func(u *url.URL) {
			q := u.Query()
			q.Set("host", "127.0.0.1")
			q.Set("port", strconv.Itoa(freePort))
			u.RawQuery = q.Encode()
		}), []string{"127.0.0.1", "no server is listening", "check host and port"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			db, err := Open(ctx, tc.dsn, backend.Config{})
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			t.Log(msg)
			if strings.Contains(msg, secret) {
				t.Errorf("the error shows the password: %s", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("the error lacks %q: %s", w, msg)
				}
			}
			if ctx.Err() != nil {
				t.Errorf("Open returned only after its deadline")
			}
		})
	}
}

// An unreachable server fails Open by ctx's deadline, not the OS's.
func TestOpenDeadline(t *testing.T) {
	// A listener that accepts and never answers: the startup message waits.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = Open(ctx, "postgres://u:"+"pw@"+l.Addr().String()+"/db?sslmode=disable", backend.Config{})
	if err == nil || !strings.Contains(err.Error(), "did not answer in time") {
		t.Fatalf("Open of a silent server: %v", err)
	}
	if Classify(err) != backend.Interrupt && Classify(err) != backend.Gone {
		t.Errorf("class %v", Classify(err))
	}
}

// Info and errors show the URL without its password.
func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://bob:pw@h:5/db?sslmode=disable":    "postgres://bob@h:5/db?sslmode=disable",
		"postgresql://h/db?password=pw&search_path=s": "postgresql://h/db?search_path=s",
		"postgres://h/db": "postgres://h/db",
	} {
		if got := backend.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	if !Match("PostgreSQL://h/db") || !Match("postgres://h") || Match("/data/postgres.db") {
		t.Error("Match")
	}
}

// A server that goes away fails statements with a Gone error, not a hang;
// once it is back the pools hand out working connections again.
func TestServerGone(t *testing.T) {
	db, _ := openDB(t, backend.Config{})
	read(t, db, func(c backend.Conn) error { return c.Each("SELECT 1", nil, nil) })
	srv := pgtest.Shared(t)
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	restarted := false
	defer func() {
		if !restarted {
			srv.Restart(ctx)
		}
	}()
	// A backend may answer once more before it notices its postmaster died.
	var err error
	for err == nil && ctx.Err() == nil {
		var c backend.Conn
		if c, err = db.Read(ctx); err == nil {
			err = c.Each("SELECT 1", nil, nil)
			db.Release(c)
		}
	}
	// The statement fails, or, when the pool found the connection dead
	// first, connecting again does.
	if err == nil || Classify(err) != backend.Gone ||
		!strings.Contains(err.Error(), "lost the connection to database") && !strings.Contains(err.Error(), "cannot connect to database") {
		t.Fatalf("a statement on a killed server: %v (class %v)", err, Classify(err))
	}
	if err := srv.Restart(ctx); err != nil {
		t.Fatalf("%v\n%s", err, srv.Log())
	}
	restarted = true
	read(t, db, func(c backend.Conn) error { return c.Each("SELECT 1", nil, nil) })
}
