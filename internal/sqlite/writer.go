package sqlite

import (
	"context"
	"errors"
	"fmt"
	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/goid"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// Writer owns the single write connection. Jobs that arrive while another
// batch is being committed wait in a queue and are run together in the next
// transaction (group commit): one fsync for many writers. Each job still gets
// its own result: a failing statement is rolled back alone (SQLite undoes a
// failed statement without ending the transaction), so one caller's bad value
// fails only that caller.
type Writer struct {
	conn *Conn
	sem  chan struct{} // held while conn is in use; a channel so waiting can honour ctx

	mu      sync.Mutex
	queue   []*Job
	leading bool
	expect  int           // jobs the last batch saw: its own plus those queued behind it
	lastRun time.Duration // how long the last batch took

	// MaxBatch bounds how many jobs one transaction carries.
	MaxBatch int

	// userG identifies the goroutine running user code (a Tx closure, an
	// Update function) while it holds the connection: a write from that
	// goroutine through any other path would wait for itself forever.
	userG atomic.Uintptr
}

// Job is one unit of write work. Run executes on the writer connection, inside
// a transaction when the batch holds several jobs or Tx is set.
type Job struct {
	Ctx  context.Context
	Run  func(c backend.Conn) error
	Tx   bool // needs a transaction even when alone (read-modify-write)
	User bool // Run calls user code

	err      error
	panicVal any
	panicked bool
	lead     bool
	ready    chan struct{}
}

// NewWriter wraps conn; conn's setup is done.
func NewWriter(conn *Conn) *Writer {
	w := &Writer{conn: conn, sem: make(chan struct{}, 1), MaxBatch: 256}
	return w
}

var jobPool = sync.Pool{New: func() any { return &Job{ready: make(chan struct{}, 1)} }}

// NewJob returns a Job from a pool; Release it after Do.
func NewJob() *Job { return jobPool.Get().(*Job) }

// Release recycles j.
func (j *Job) Release() {
	ready := j.ready
	*j = Job{ready: ready}
	jobPool.Put(j)
}

// Queued reports how many jobs wait in the queue, the leader's included:
// tests use it to know that callers are queued before they let a batch run.
func (w *Writer) Queued() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue)
}

// Reentrant reports whether the calling goroutine is the one running user code
// on the writer connection right now.
func (w *Writer) Reentrant() bool {
	g := w.userG.Load()
	return g != 0 && g == goid.Current()
}

// Do runs j through the group-commit queue and returns its error. A panic in
// j.Run is re-raised here, on the caller's goroutine.
func (w *Writer) Do(j *Job) error {
	if w.Reentrant() {
		return backend.ErrReentrant
	}
	w.mu.Lock()
	w.queue = append(w.queue, j)
	if w.leading {
		w.mu.Unlock()
		<-j.ready
		if !j.lead {
			return j.result()
		}
	} else {
		w.leading = true
		w.mu.Unlock()
	}
	w.lead()
	return j.result()
}

func (j *Job) result() error {
	if j.panicked {
		panic(j.panicVal)
	}
	return j.err
}

// lead takes the front of the queue (which holds the leader's own job), runs
// it as one batch, then hands leadership to the next waiting job, if any.
func (w *Writer) lead() {
	w.sem <- struct{}{}
	w.gather()
	w.mu.Lock()
	n := min(len(w.queue), w.MaxBatch)
	batch := make([]*Job, n)
	copy(batch, w.queue)
	rest := copy(w.queue, w.queue[n:])
	clear(w.queue[rest:])
	w.queue = w.queue[:rest]
	w.mu.Unlock()

	start := time.Now()
	w.runBatch(batch)
	w.conn.Repair()
	took := time.Since(start)
	<-w.sem

	w.mu.Lock()
	w.expect, w.lastRun = n+len(w.queue), took
	var next *Job
	if len(w.queue) > 0 {
		next = w.queue[0]
		next.lead = true
	} else {
		w.leading = false
	}
	w.mu.Unlock()
	for _, j := range batch[1:] {
		j.ready <- struct{}{}
	}
	if next != nil {
		next.ready <- struct{}{}
	}
}

// maxGather bounds how long a leader waits for company.
const maxGather = time.Millisecond

// gather lets the writers that the last batch served queue again before the
// next batch starts, for at most half as long as the last batch took (and
// maxGather). Without it, N concurrent writers fall into lopsided batches
// (measured under FULL with 8 writers: as many batches of 1 as of 8): the
// writer a commit releases first comes straight back and leads alone while
// the others are still waking. A writer that saw no other does not wait.
func (w *Writer) gather() {
	w.mu.Lock()
	want, limit, n := min(w.expect, w.MaxBatch), min(w.lastRun/2, maxGather), len(w.queue)
	w.mu.Unlock()
	if want <= 1 || n >= want {
		return
	}
	deadline := time.Now().Add(limit)
	for n < want && time.Now().Before(deadline) {
		runtime.Gosched()
		w.mu.Lock()
		n = len(w.queue)
		w.mu.Unlock()
	}
}

func (w *Writer) runBatch(batch []*Job) {
	live := batch[:0:0]
	user := false
	for _, j := range batch {
		if err := j.Ctx.Err(); err != nil {
			j.err = err
			continue
		}
		live = append(live, j)
		user = user || j.User
	}
	if len(live) == 0 {
		return
	}
	if user {
		w.userG.Store(goid.Current())
		defer w.userG.Store(0)
	}
	c := w.conn
	// Waiting for another program's write lock ends when no job in the
	// batch waits any more (each job's ctx has ended), not at BusyTimeout.
	wait, stop := untilAllDone(live)
	defer stop()
	if len(live) == 1 && !live[0].Tx {
		c.SetInterrupt(wait)
		w.run(live[0])
		c.SetInterrupt(context.Background())
		if c.InTx() { // a job must not leave a transaction open
			c.Rollback()
		}
		return
	}
	c.SetInterrupt(wait)
	err := c.Exec("BEGIN IMMEDIATE")
	c.SetInterrupt(context.Background())
	if err != nil {
		for _, j := range live {
			j.err = err
		}
		return
	}
	// A job of several statements that fails (or panics) part way must
	// leave nothing in the transaction it shares with the others: it runs
	// in a savepoint, which its failure rolls back alone.
	shared := len(live) > 1
	for i, j := range live {
		sp := shared && j.Tx
		if sp {
			if err := c.Exec("SAVEPOINT airnest_job"); err != nil {
				j.err = err
			}
		}
		if j.err == nil {
			w.run(j)
		}
		if sp && c.InTx() {
			if j.err != nil || j.panicked {
				if err := c.Exec("ROLLBACK TO airnest_job"); err != nil && j.err == nil {
					j.err = err
				}
			}
			if err := c.Exec("RELEASE airnest_job"); err != nil && j.err == nil {
				j.err = err
			}
		}
		if j.err != nil && fatal(j.err, c) {
			// The transaction is gone or unsafe: everything in it fails.
			c.Rollback()
			for _, k := range live[:i] {
				if k.err == nil {
					k.err = fmt.Errorf("transaction rolled back: %w", j.err)
				}
			}
			for _, k := range live[i+1:] {
				k.err = fmt.Errorf("transaction rolled back: %w", j.err)
			}
			return
		}
	}
	if err := c.Exec("COMMIT"); err != nil {
		c.Rollback()
		for _, j := range live {
			if j.err == nil {
				j.err = err
			}
		}
	}
}

// untilAllDone returns a context that ends once every job's context has
// ended (never, if one of them cannot end), and a func that frees it.
func untilAllDone(jobs []*Job) (context.Context, func()) {
	if len(jobs) == 1 {
		return jobs[0].Ctx, func() {}
	}
	for _, j := range jobs {
		if j.Ctx.Done() == nil {
			return context.Background(), func() {}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var left atomic.Int32
	left.Store(int32(len(jobs)))
	stops := make([]func() bool, len(jobs))
	for i, j := range jobs {
		stops[i] = context.AfterFunc(j.Ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}

func (w *Writer) run(j *Job) {
	defer func() {
		if r := recover(); r != nil {
			if isOOM(r) {
				w.conn.broken = true
				j.err = fmt.Errorf("%w: %w", ErrNoMem, sqlite3.NOMEM)
				return
			}
			j.panicked, j.panicVal = true, r
		}
	}()
	j.err = j.Run(w.conn)
}

// fatal reports whether err leaves the open transaction unusable: SQLite
// rolled it back, or it is an I/O-level failure. Constraint violations and
// airnest's own errors (encoding, not found, a user function's error) are not.
func fatal(err error, c *Conn) bool {
	if !c.InTx() {
		return true
	}
	if errors.Is(err, sqlite3.NOMEM) {
		return true
	}
	var se *sqlite3.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() != sqlite3.CONSTRAINT
}

// Exclusive runs fn with the connection to itself (a user transaction). It
// waits for the connection while ctx allows. fn runs on the caller's goroutine.
func (w *Writer) Exclusive(ctx context.Context, fn func(c *Conn) error) error {
	if w.Reentrant() {
		return backend.ErrReentrant
	}
	select {
	case w.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-w.sem }()
	defer w.conn.Repair()
	w.userG.Store(goid.Current())
	defer w.userG.Store(0)
	return fn(w.conn)
}

// Close closes the connection once it is free.
func (w *Writer) Close() error {
	w.sem <- struct{}{}
	defer func() { <-w.sem }()
	return w.conn.Close()
}
