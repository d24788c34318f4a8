package airnest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airnest/airnest"
)

// The server is killed (SIGKILL, the postmaster and its sessions, as a
// machine going down) and started again while 8 goroutines save without
// pause, for several rounds. While it is down every call fails with an
// error saying so; nothing has to reopen the store, whose pool comes back
// by itself; and every Save acknowledged before a kill is there afterwards
// (the server runs with fsync and synchronous_commit on, its defaults).

const (
	loadWriters = 8
	loadRounds  = 3
	// loadAcks is how many Saves each writer has acknowledged, since the
	// last restart, before the server is killed (and before the test ends).
	loadAcks = 30
)

// PGLoad is one acknowledged-or-not write of the load test.
type PGLoad struct {
	ID     airnest.ID[PGLoad]
	Writer int
	Seq    int
}

// loadWriter saves PGLoad values one after another until stop is closed,
// keeping what was acknowledged and what failed.
type loadWriter struct {
	n     int
	mu    sync.Mutex
	acked map[airnest.ID[PGLoad]]int // id → Seq
	since int                        // acknowledged since the last reset
	fails int                        // failures since the last reset
	last  error                      // the last failure
	wake  chan struct{}              // signalled on every result
}

func (w *loadWriter) run(ctx context.Context, coll *airnest.Coll[PGLoad], stop <-chan struct{}) {
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return
		default:
		}
		v := PGLoad{Writer: w.n, Seq: seq}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := coll.Save(cctx, &v)
		cancel()
		w.mu.Lock()
		if err == nil {
			w.acked[v.ID] = seq
			w.since++
		} else {
			w.fails++
			w.last = err
		}
		w.mu.Unlock()
		select {
		case w.wake <- struct{}{}:
		default:
		}
		if err != nil {
			// A down server refuses at once; do not spin on it.
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
}

// await blocks until cond holds for every writer, or fails the test after
// a minute (a pool that never recovers).
func awaitWriters(t *testing.T, ws []*loadWriter, what string, cond func(w *loadWriter) bool) {
	t.Helper()
	deadline := time.After(time.Minute)
	for _, w := range ws {
		for {
			w.mu.Lock()
			ok := cond(w)
			w.mu.Unlock()
			if ok {
				break
			}
			select {
			case <-w.wake:
			case <-time.After(100 * time.Millisecond):
			case <-deadline:
				w.mu.Lock()
				defer w.mu.Unlock()
				t.Fatalf("writer %d: no %s within a minute (acknowledged %d, failed %d since the last change, last error %v)", w.n, what, w.since, w.fails, w.last)
			}
		}
	}
}

func resetWriters(ws []*loadWriter) {
	for _, w := range ws {
		w.mu.Lock()
		w.since, w.fails, w.last = 0, 0, nil
		w.mu.Unlock()
	}
}

func TestPGServerKilledUnderLoad(t *testing.T) {
	t.Parallel()
	srv := privateServer(t)
	ctx := context.Background()
	dsn, err := srv.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := airnest.NewStore()
	coll := airnest.Collection[PGLoad](s, airnest.Index("writer"))
	if err := s.Open(ctx, dsn, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	ws := make([]*loadWriter, loadWriters)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range ws {
		ws[i] = &loadWriter{n: i, acked: map[airnest.ID[PGLoad]]int{}, wake: make(chan struct{}, 1)}
		wg.Go(func() { ws[i].run(ctx, coll, stop) })
	}
	stopped := false
	halt := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer halt()

	for round := range loadRounds {
		awaitWriters(t, ws, fmt.Sprintf("%d acknowledged Saves before kill %d", loadAcks, round+1), func(w *loadWriter) bool { return w.since >= loadAcks })
		killServer(t, srv)
		resetWriters(ws)
		// Every writer sees the server gone, as an error that says so.
		awaitWriters(t, ws, "failure while the server is down", func(w *loadWriter) bool { return w.fails > 0 })
		for _, w := range ws {
			w.mu.Lock()
			err := w.last
			w.mu.Unlock()
			if !anyOf(err.Error(), "cannot connect to database", "lost the connection") {
				t.Errorf("round %d, writer %d: the error while the server is down does not say so: %v", round+1, w.n, err)
			}
			if errors.Is(err, airnest.ErrClosed) {
				t.Errorf("round %d, writer %d: the store calls itself closed while the server is down: %v", round+1, w.n, err)
			}
		}
		if err := srv.Restart(ctx); err != nil {
			t.Fatalf("%v\n%s", err, srv.Log())
		}
		resetWriters(ws)
		// The same store, not reopened, writes again from every goroutine.
		awaitWriters(t, ws, "acknowledged Save after the restart", func(w *loadWriter) bool { return w.since > 0 })
	}
	awaitWriters(t, ws, "acknowledged Saves after the last restart", func(w *loadWriter) bool { return w.since >= loadAcks })
	halt()

	present := map[airnest.ID[PGLoad]]PGLoad{}
	for v, err := range coll.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		present[v.ID] = v
	}
	acked, lost := 0, 0
	for _, w := range ws {
		for id, seq := range w.acked {
			acked++
			v, ok := present[id]
			if !ok || v.Writer != w.n || v.Seq != seq {
				lost++
				if lost <= 5 {
					t.Errorf("writer %d's acknowledged Save %d (%v) is %+v, present %v after the kills", w.n, seq, id, v, ok)
				}
			}
		}
	}
	t.Logf("%d rounds of kill -9 and restart under %d writers: %d Saves acknowledged, %d present, %d lost (%d present were in flight at a kill)",
		loadRounds, loadWriters, acked, len(present), lost, len(present)-(acked-lost))
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged Saves lost", lost, acked)
	}
	if rep, err := s.Verify(ctx); err != nil || !rep.OK() {
		t.Fatalf("Verify after the kills: %v %v", rep, err)
	}
}

// anyOf reports whether s contains one of parts.
func anyOf(s string, parts ...string) bool {
	for _, p := range parts {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}
