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

// watchFromNow runs a watch from now on its own goroutine, calling
// onChange (if not nil) for each change, and returns once the watch has
// started (delivered a marker: see startWatch). done gets the watch's
// final error once the iterator has returned.
func watchFromNow(t testing.TB, ctx context.Context, memos *airnest.Coll[Memo], onChange func(airnest.Change[Memo])) (done <-chan error) {
	t.Helper()
	started := make(chan struct{})
	end := make(chan error, 1)
	go func() {
		var last error
		first := true
		for ch, err := range memos.Watch(ctx, nil) {
			if err != nil {
				last = err
				break
			}
			if first {
				first = false
				close(started)
			}
			if onChange != nil {
				onChange(ch)
			}
		}
		end <- last // the iterator has returned: its deferred cleanup ran
	}()
	startWatch(t, memos, started)
	return end
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
		done := watchFromNow(t, ctx, memos, nil)
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
		done = watchFromNow(t, bg, memos, nil)
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
