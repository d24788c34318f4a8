package airnest_test

import (
	"context"
	"database/sql"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/airnest/airnest"
)

// listeners counts the goroutines running a store's PostgreSQL listener.
func listeners() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "airnest.(*hub).listen(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// listenSessions counts the server sessions of the database at dsn whose
// last statement was a LISTEN: a watcher's listening connection.
func listenSessions(t testing.TB, db *sql.DB) int {
	t.Helper()
	var n int
	err := db.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// eventually polls cond until it holds; it fails the test if it never
// does within a minute (a resource that is never freed).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// watchUntil runs a watch from now on its own goroutine until its loop
// ends, returning the final error once the iterator has returned.
func watchUntil(ctx context.Context, memos *airnest.Coll[Memo], started chan struct{}) <-chan error {
	done := make(chan error, 1)
	go func() {
		var last error
		first := true
		for _, err := range memos.Watch(ctx, nil) {
			if err != nil {
				last = err
				break
			}
			if first {
				first = false
				close(started)
			}
		}
		done <- last // the iterator has returned: its deferred cleanup ran
	}()
	return done
}

// Not parallel: it counts goroutines of the whole test binary.
func TestWatchFreesWhatItHolds(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		pg := backendOf(dsn) == "postgres"
		s, memos := watchStore(t, dsn, airnest.Retention{})
		saveN(t, memos, "x", 3)

		// Breaking the loop.
		for range memos.Watch(bg, &airnest.WatchOptions{Resume: true}) {
			break
		}

		// Cancelling ctx of a watch that waits for changes.
		ctx, cancel := context.WithCancel(bg)
		started := make(chan struct{})
		done := watchUntil(ctx, memos, started)
		startWatch(t, memos, started)
		var db *sql.DB
		if pg {
			if listeners() == 0 {
				t.Fatal("a PostgreSQL watch runs no listener")
			}
			var err error
			db, err = sql.Open("pgx", dsn)
			must(t, err)
			defer db.Close()
			eventually(t, "the watch's LISTEN session shows", func() bool { return listenSessions(t, db) == 1 })
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("after cancel: %v", err)
		}

		// Closing the store under a waiting watch.
		started = make(chan struct{})
		done = watchUntil(bg, memos, started)
		startWatch(t, memos, started)
		must(t, s.Close())
		if err := <-done; !errors.Is(err, airnest.ErrClosed) {
			t.Fatalf("after Close: %v, want ErrClosed", err)
		}
		if !pg {
			return
		}
		if n := listeners(); n != 0 {
			t.Fatalf("%d listener goroutines left running", n)
		}
		eventually(t, "the LISTEN sessions end", func() bool { return listenSessions(t, db) == 0 })
	})
}
