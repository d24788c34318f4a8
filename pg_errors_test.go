package airnest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/airnest/airnest"
	"github.com/airnest/airnest/internal/pgtest"
	"github.com/airnest/airnest/internal/sqlgen"
)

// Bad input on PostgreSQL (issue 10, item 6): each a clear error naming
// what to fix, returned by ctx's deadline, never a hang or a panic, and
// never the URL's password in the text.

// pgSecret is the password in every URL of these tests.
const pgSecret = "pw-9f3kq7Zx"

// hangGrace is how long after ctx's deadline a call may still run before
// the test calls it a hang past the deadline (issue 10 asks for none). A
// call that honours ctx returns within milliseconds of it; the margin is
// wide for a loaded machine, and still shorter than the driver's own
// connect timeout (15 s), so a connect that ignores ctx is caught.
const hangGrace = 5 * time.Second

// within runs fn (given a ctx ending after timeout) on its own goroutine
// and returns its error; it fails the test if fn panics or is still
// running hangGrace after the deadline.
func within(t *testing.T, what string, timeout time.Duration, fn func(ctx context.Context) error) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("PANIC: %v", r)
			}
		}()
		done <- fn(ctx)
	}()
	select {
	case err := <-done:
		if err != nil && strings.HasPrefix(err.Error(), "PANIC: ") {
			t.Fatalf("%s panicked: %v", what, err)
		}
		return err
	case <-time.After(timeout + hangGrace):
		t.Fatalf("%s still runs %v after its context's deadline (%v)", what, hangGrace, timeout)
		return nil
	}
}

// openErr opens a store on dsn with a ctx ending after timeout and returns
// Open's error, failing the test if Open succeeds.
func openErr(t *testing.T, dsn string, timeout time.Duration) error {
	t.Helper()
	err := within(t, "Open", timeout, func(ctx context.Context) error {
		s := airnest.NewStore()
		airnest.Collection[PGCounter](s)
		err := s.Open(ctx, dsn, nil)
		if err == nil {
			s.Close()
		}
		return err
	})
	if err == nil {
		t.Fatalf("Open(%q) succeeded", dsn)
	}
	noSecret(t, err)
	return err
}

// noSecret fails the test if err's text holds the password.
func noSecret(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), pgSecret) {
		t.Errorf("the error shows the URL's password: %v", err)
	}
}

// wants fails the test unless err's text holds every one of parts.
func wants(t *testing.T, err error, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not say %q", err, p)
		}
	}
}

func TestPGOpenMalformedURL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ dsn, say string }{
		{"postgres://alice:" + pgSecret + "@localhost:notaport/app", "port"},
		{"postgres://alice:" + pgSecret + "@[::1/app", "URL"},
		{"postgres://alice:" + pgSecret + "@localhost/app?sslmode=sometimes", "sslmode"},
		{"postgresql://alice:" + pgSecret + "@localhost/app?connect_timeout=soon", "connect_timeout"},
		{"postgres://alice@localhost/app?password=" + pgSecret + "&sslmode=sometimes", "sslmode"},
		{"postgres://alice:" + pgSecret + "@local host/app", "URL"},
	} {
		err := openErr(t, c.dsn, 30*time.Second)
		wants(t, err, "URL", c.say)
		if errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Open(%q) waited for its deadline: %v", c.dsn, err)
		}
		t.Logf("%s\n\t→ %v", c.dsn, err)
	}
}

func TestPGOpenUnreachable(t *testing.T) {
	t.Parallel()
	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	// A server that accepts connections and never answers.
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	missing := filepath.Join(t.TempDir(), "no-such-dir")

	for _, c := range []struct {
		dsn     string
		timeout time.Duration
		say     []string
	}{
		{fmt.Sprintf("postgres://alice:%s@127.0.0.1:%d/app", pgSecret, port), 30 * time.Second,
			[]string{fmt.Sprintf("127.0.0.1:%d", port), "no server is listening", "host and port"}},
		{fmt.Sprintf("postgres://alice:%s@/app?host=%s", pgSecret, missing), 30 * time.Second,
			[]string{missing, "no server is listening"}},
		{fmt.Sprintf("postgres://alice:%s@%s/app?sslmode=disable", pgSecret, mute.Addr()), 2 * time.Second,
			[]string{mute.Addr().String(), "did not answer in time"}},
	} {
		start := time.Now()
		err := openErr(t, c.dsn, c.timeout)
		wants(t, err, c.say...)
		// The mute server is given up on at ctx's deadline, not at a
		// timeout of the driver's; the others fail at once.
		if mute := strings.Contains(c.dsn, mute.Addr().String()); mute != errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Open(%q): %v; want context.DeadlineExceeded underneath: %v", c.dsn, err, mute)
		}
		t.Logf("%s (deadline %v) after %v\n\t→ %v", c.dsn, c.timeout, time.Since(start).Round(time.Millisecond), err)
	}
}

func TestPGOpenMissingDatabase(t *testing.T) {
	t.Parallel()
	srv := pgtest.Shared(t)
	dsn := strings.Replace(srv.DSN("no_such_db"), "postgres@", "postgres:"+pgSecret+"@", 1)
	err := openErr(t, dsn, 30*time.Second)
	wants(t, err, `"no_such_db"`, "does not exist", "CREATE DATABASE")
	t.Logf("→ %v", err)
}

// TestPGOpenWrongCredentials runs a server of its own whose pg_hba.conf
// asks every user but the superuser for a password (the shared server
// trusts everyone).
func TestPGOpenWrongCredentials(t *testing.T) {
	t.Parallel()
	srv := privateServer(t)
	ctx := context.Background()
	super, err := pgx.Connect(ctx, srv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		"CREATE ROLE alice LOGIN PASSWORD '" + pgSecret + "'",
		"CREATE DATABASE app OWNER alice",
	} {
		if _, err := super.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	super.Close(ctx)
	hba := filepath.Join(srv.SocketDir(), "data", "pg_hba.conf")
	if err := os.WriteFile(hba, []byte("local all postgres trust\nlocal all all scram-sha-256\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Restart(ctx); err != nil {
		t.Fatalf("%v\n%s", err, srv.Log())
	}
	url := func(user, password string) string {
		return fmt.Sprintf("postgres://%s:%s@/app?host=%s&sslmode=disable", user, password, srv.SocketDir())
	}

	// The right password opens: the failures below are the credentials'.
	s := airnest.NewStore()
	airnest.Collection[PGCounter](s)
	if err := s.Open(ctx, url("alice", pgSecret), nil); err != nil {
		t.Fatalf("the right password: %v", err)
	}
	s.Close()

	for _, dsn := range []string{
		url("alice", "wrong-"+pgSecret),
		url("mallory", pgSecret),
		fmt.Sprintf("postgres:///app?host=%s&user=alice&password=x%s&sslmode=disable", srv.SocketDir(), pgSecret),
	} {
		err := openErr(t, dsn, 30*time.Second)
		wants(t, err, "user", "password")
		t.Logf("→ %v", err)
	}
}

// privateServer starts a PostgreSQL server for this test alone, stopped at
// its end; skipped (or failed in CI) as pgtest.Shared is without binaries.
func privateServer(t *testing.T) *pgtest.Server {
	t.Helper()
	pgtest.Shared(t) // the skip or CI failure when there is no server
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := pgtest.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

func TestPGOpenNewerFormat(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Database(t)
	ctx := context.Background()
	s := airnest.NewStore()
	airnest.Collection[PGCounter](s)
	if err := s.Open(ctx, dsn, nil); err != nil {
		t.Fatal(err)
	}
	db, err := s.DB()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "UPDATE _airnest_format SET version = 99"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	err = openErr(t, dsn, 30*time.Second)
	if !errors.Is(err, airnest.ErrSchema) {
		t.Errorf("Open of a database in format 99: %v, want ErrSchema", err)
	}
	wants(t, err, "99", fmt.Sprint(sqlgen.FormatVersion), "newer release")
	t.Logf("→ %v", err)
}
