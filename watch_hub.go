package airnest

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/sqlgen"
)

// hub wakes a store's watchers: right after a commit of this store, when
// a notification from another process arrives (PostgreSQL), and when the
// store closes. Watchers of other processes' writes on SQLite poll instead
// (see WatchOptions.Poll).
type hub struct {
	active atomic.Int32 // watchers running; 0 makes committed a no-op

	mu   sync.Mutex
	ch   chan struct{} // closed and replaced by wake
	stop func()        // ends the PostgreSQL listener; nil when none runs
}

// committed wakes the watchers after a write of this store committed. A
// store nobody watches pays one atomic load.
func (s *Store) committed() {
	if s.watch.active.Load() != 0 {
		s.watch.wake()
	}
}

func (h *hub) wake() {
	h.mu.Lock()
	if h.ch != nil {
		close(h.ch)
		h.ch = nil
	}
	h.mu.Unlock()
}

// next returns a channel closed at the next wake. Take it before reading
// the log, so a commit between the read and the wait is not missed.
func (h *hub) next() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ch == nil {
		h.ch = make(chan struct{})
	}
	return h.ch
}

// join registers a watcher; the first starts the listener of a database
// that notifies other processes' commits. Every join is paired with a
// leave, which stops the listener with the last watcher.
func (h *hub) join(db backend.DB) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.active.Add(1) != 1 {
		return
	}
	n, ok := db.(backend.Notifier)
	if !ok {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go h.listen(ctx, n, done)
	h.stop = func() {
		cancel()
		<-done
	}
}

func (h *hub) leave() {
	h.mu.Lock()
	var stop func()
	if h.active.Add(-1) == 0 {
		stop, h.stop = h.stop, nil
	}
	h.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// listenRetry is how long the listener waits before connecting again
// after its connection failed.
const listenRetry = time.Second

// listen keeps a LISTEN session open until ctx ends, waking the watchers
// at each notification, and also each time it (re)connects: a notification
// sent while it was away is lost, so the watchers read the log then.
func (h *hub) listen(ctx context.Context, n backend.Notifier, done chan struct{}) {
	defer close(done)
	for ctx.Err() == nil {
		n.Listen(ctx, sqlgen.NotifyChannel, h.wake, h.wake)
		t := time.NewTimer(listenRetry)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}
