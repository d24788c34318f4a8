package pgtest

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"
)

var shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Database returns the URL of a fresh database on the test binary's shared
// server, starting the server on first use. Without server binaries the test
// is skipped with a message saying how to enable it, except in CI (CI=true),
// where a missing server fails the test.
func Database(t testing.TB) string {
	t.Helper()
	srv := Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn, err := srv.NewDatabase(ctx)
	if err != nil {
		t.Fatalf("%v\nserver log:\n%s", err, srv.Log())
	}
	return dsn
}

// Shared returns the test binary's shared server, starting it on first use;
// it skips or fails the test as Database does when no server can run.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		shared.srv, shared.err = Start(ctx)
	})
	if shared.err != nil {
		if errors.Is(shared.err, ErrNoServer) && os.Getenv("CI") != "true" {
			t.Skip(shared.err.Error() + "; the PostgreSQL tests run wherever it is installed")
		}
		t.Fatal(shared.err)
	}
	return shared.srv
}

// StopShared stops the shared server if one was started; call it from
// TestMain after m.Run.
func StopShared() {
	if shared.srv != nil {
		shared.srv.Stop()
	}
}
