package airnest_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/ncruces/go-sqlite3"

	"github.com/airnest/airnest"
	"github.com/airnest/airnest/internal/faultvfs"
)

// I/O faults: the Nth write or sync fails (EIO, ENOSPC), once or from then
// on. Every call either succeeds, and its write is durable, or returns an
// error that names the storage failure; no call panics, no transaction is
// half visible, and once the fault stops the same store works again.

// faultOps runs a fixed mix of operations, recording the acknowledged ones
// in a; every error is returned to the caller through report.
type faultRun struct {
	t      *testing.T
	s      *airnest.Store
	cs     crashColls
	a      *acked
	live   []CrashItem // acknowledged, not being changed by a failed call
	r      *rand.Rand
	errors int
	report func(op string, err error)
	failed *failedWrites // writes whose call returned an error
}

// failedWrites are the writes whose call returned an error: none of them may
// ever be visible, neither in the store that reported the error nor after
// reopening it.
type failedWrites struct {
	items map[string]bool // CrashItem IDs of failed new Saves
	tags  map[string]bool // tags of failed pair transactions
}

func newFailedWrites() *failedWrites {
	return &failedWrites{items: map[string]bool{}, tags: map[string]bool{}}
}

// check fails the test for every failed write that s holds.
func (fw *failedWrites) check(t *testing.T, s *airnest.Store, cs crashColls, when string) {
	t.Helper()
	for v, err := range cs.items.All(bg) {
		if err != nil {
			t.Fatal(err)
		}
		if fw.items[v.ID.String()] {
			t.Errorf("%s: item %s is stored, but its Save returned an error", when, v.ID)
		}
	}
	as, err := cs.as.Scan(bg)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range as {
		if fw.tags[v.Tag] {
			t.Errorf("%s: pair %s is stored, but its Tx returned an error", when, v.Tag)
		}
	}
}

func (f *faultRun) ack(format string, args ...any) {
	if err := f.a.parse(fmt.Sprintf(format, args...)); err != nil {
		f.t.Fatal(err)
	}
}

// call runs op and turns a panic into a test failure.
func (f *faultRun) call(op string, fn func() error) bool {
	f.t.Helper()
	err := noPanic(f.t, op, fn)
	if err != nil {
		f.errors++
		f.report(op, err)
		return false
	}
	return true
}

// newItem is a new CrashItem with its ID already set, so that a failed Save
// (which clears an ID it assigned) can be looked for later.
func (f *faultRun) newItem(worker int) CrashItem {
	body := randBody(f.r)
	return CrashItem{ID: airnest.NewID[CrashItem](), Worker: worker, Version: 1, Body: body, Sum: sum(body)}
}

func (f *faultRun) save() {
	v := f.newItem(1)
	if f.call("Save", func() error { return f.cs.items.Save(bg, &v) }) {
		f.ack("S %s %d %d %s", v.ID, v.Worker, v.Version, v.Sum)
		f.live = append(f.live, v)
	} else {
		f.failed.items[v.ID.String()] = true
	}
}

func (f *faultRun) saveBatch() {
	// Concurrent Saves share one group commit: a fault fails them together.
	vs := make([]CrashItem, 8)
	errs := make([]error, len(vs))
	var wg sync.WaitGroup
	for i := range vs {
		vs[i] = f.newItem(2)
		wg.Go(func() {
			errs[i] = noPanic(f.t, "Save (batch)", func() error { return f.cs.items.Save(bg, &vs[i]) })
		})
	}
	wg.Wait()
	for i, v := range vs {
		if errs[i] == nil {
			f.ack("S %s %d %d %s", v.ID, v.Worker, v.Version, v.Sum)
			f.live = append(f.live, v)
		} else {
			f.errors++
			f.report("Save (batch)", errs[i])
			f.failed.items[v.ID.String()] = true
		}
	}
}

// pick removes and returns a live item, or false.
func (f *faultRun) pick() (CrashItem, bool) {
	if len(f.live) == 0 {
		return CrashItem{}, false
	}
	i := f.r.IntN(len(f.live))
	v := f.live[i]
	f.live = append(f.live[:i], f.live[i+1:]...)
	return v, true
}

func (f *faultRun) update() {
	v, ok := f.pick()
	if !ok {
		return
	}
	body := randBody(f.r)
	v.Version++
	v.Body, v.Sum = body, sum(body)
	if f.call("Update", func() error {
		_, err := f.cs.items.Update(bg, v.ID, func(p *CrashItem) error { *p = v; return nil })
		return err
	}) {
		f.ack("S %s %d %d %s", v.ID, v.Worker, v.Version, v.Sum)
		f.live = append(f.live, v)
	}
}

func (f *faultRun) delete() {
	v, ok := f.pick()
	if !ok {
		return
	}
	f.ack("X %s", v.ID)
	if f.call("Delete", func() error { return f.cs.items.Delete(bg, v.ID) }) {
		f.ack("D %s", v.ID)
	}
}

func (f *faultRun) pair() {
	tag := airnest.NewID[CrashPairA]().String()
	ba, bb := randBody(f.r), randBody(f.r)
	a := CrashPairA{Tag: tag, Body: ba, Sum: sum(ba)}
	b := CrashPairB{Tag: tag, Body: bb, Sum: sum(bb)}
	if f.call("Tx", func() error {
		return f.s.Tx(bg, func(tx *airnest.Tx) error {
			if err := f.cs.as.In(tx).Save(bg, &a); err != nil {
				return err
			}
			return f.cs.bs.In(tx).Save(bg, &b)
		})
	}) {
		f.ack("P %s %s %s %s %s", tag, a.ID, a.Sum, b.ID, b.Sum)
	} else {
		f.failed.tags[tag] = true
	}
}

func (f *faultRun) checkpoint() {
	f.call("checkpoint", func() error {
		db, err := f.s.DB()
		if err != nil {
			return err
		}
		_, err = db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
		return err
	})
}

// mix runs n operations of every kind.
func (f *faultRun) mix(n int) {
	for i := range n {
		switch i % 6 {
		case 0:
			f.pair()
		case 1:
			f.update()
		case 2:
			f.delete()
		case 3:
			f.saveBatch()
		case 4:
			f.checkpoint()
		default:
			f.save()
		}
	}
}

type faultCase struct {
	kind faultvfs.Kind
	err  error
	// drops: a failed sync drops the unsynced writes (Linux's behaviour,
	// faultvfs.Model.SyncFailureDropsWrites), and each round ends with a
	// power cut instead of Close, so nothing the failed sync dropped can
	// come back.
	drops bool
}

func (c faultCase) String() string {
	name := fmt.Sprintf("%v-%v", c.kind, c.err)
	if c.drops {
		name += "-dropped-then-power-cut"
	}
	return name
}

func TestIOFaults(t *testing.T) {
	t.Parallel()
	maxN := 40
	if testing.Short() || raceEnabled {
		maxN = 16
	}
	cases := []faultCase{
		{kind: faultvfs.Write, err: syscall.EIO},
		{kind: faultvfs.Write, err: syscall.ENOSPC},
		{kind: faultvfs.Sync, err: syscall.EIO},
		{kind: faultvfs.Sync, err: syscall.ENOSPC},
		{kind: faultvfs.Sync, err: syscall.EIO, drops: true},
	}
	for _, c := range cases {
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			fs, name := modelVFS(t, faultvfs.Model{SyncFailureDropsWrites: c.drops})
			path := filepath.Join(t.TempDir(), "fault.db")
			a := newAcked()
			fw := newFailedWrites()
			r := rand.New(rand.NewPCG(uint64(c.kind), 5))
			failedCalls, rounds := 0, 0
			for n := 1; n <= maxN; n++ {
				sticky := n%2 == 0
				failedCalls += faultRound(t, fs, name, path, c, n, sticky, r, a, fw)
				rounds++
			}
			st := fs.Stats()
			t.Logf("%v: n = 1..%d, %d faults injected, %d calls failed (%d new values and %d transactions never appeared); %d saves, %d deletes, %d transactions acknowledged, 0 lost",
				c, maxN, st.Faults, failedCalls, len(fw.items), len(fw.tags), a.saves, a.deletes, a.txs)
			if len(fw.items) == 0 {
				t.Fatal("no Save of a new value failed: the failed-write check checked nothing")
			}
			if st.Faults == 0 || failedCalls == 0 {
				t.Fatalf("no fault reached a caller: %+v", st)
			}
		})
	}
}

// faultRound opens the store, arms the fault, runs the mix, disarms it,
// checks that the same store works and holds every acknowledged write,
// then closes it and checks the file again. It returns the failed calls.
func faultRound(t *testing.T, fs *faultvfs.FS, name, path string, c faultCase, n int, sticky bool, r *rand.Rand, a *acked, fw *failedWrites) int {
	t.Helper()
	s := airnest.NewStore()
	cs := declareCrash(s)
	if err := s.Open(bg, path, &airnest.Options{VFS: name}); err != nil {
		t.Fatalf("n=%d: open: %v", n, err)
	}
	f := &faultRun{t: t, s: s, cs: cs, a: a, r: r, failed: fw}
	for v, err := range cs.items.All(bg) { // carry on with the values of earlier rounds
		if err != nil {
			t.Fatal(err)
		}
		if it := a.items[v.ID.String()]; !it.deleting && !it.deleted && it.version == v.Version {
			f.live = append(f.live, v)
		}
	}
	want := errorsFor(c.err)
	f.report = func(op string, err error) {
		if n == 1 && f.errors == 1 {
			t.Logf("first failure: %s: %v (errors.Is the injected errno: %v)", op, err, errors.Is(err, c.err))
		}
		if !want(err) {
			t.Errorf("n=%d sticky=%v: %s failed with %v, want the injected %v as an SQLite error", n, sticky, op, err, c.err)
		}
	}
	fs.FailAfter(c.kind, n, c.err, sticky)
	f.mix(18)
	fs.Reset()

	// The fault is gone: the same store works again.
	f.report = func(op string, err error) {
		t.Errorf("n=%d sticky=%v: %s after the fault stopped: %v", n, sticky, op, err)
	}
	f.mix(6)
	if lost := checkContents(t, s, cs, a); lost != 0 {
		t.Fatalf("n=%d sticky=%v: %d acknowledged writes missing from the open store", n, sticky, lost)
	}
	fw.check(t, s, cs, fmt.Sprintf("n=%d sticky=%v, fault stopped", n, sticky))
	if c.drops {
		fs.Crash()
		s.Close() // the handles are dead: Close may fail
	} else if err := s.Close(); err != nil {
		t.Errorf("n=%d: Close: %v", n, err)
	}
	// And the file holds them, whole, when opened afresh.
	if lost := checkAcked(t, path, nil, a); lost != 0 {
		t.Fatalf("n=%d sticky=%v: %d acknowledged writes missing after reopening", n, sticky, lost)
	}
	s = airnest.NewStore()
	cs = declareCrash(s)
	if err := s.Open(bg, path, &airnest.Options{VFS: name}); err != nil {
		t.Fatalf("n=%d: reopen: %v", n, err)
	}
	defer s.Close()
	fw.check(t, s, cs, fmt.Sprintf("n=%d sticky=%v, reopened", n, sticky))
	return f.errors
}

// errorsFor says which errors a store may return for an injected fault:
// SQLite's disk-full class for ENOSPC, its I/O error class for EIO.
func errorsFor(injected error) func(error) bool {
	return func(err error) bool {
		if errors.Is(injected, syscall.ENOSPC) {
			return errors.Is(err, sqlite3.FULL)
		}
		return errors.Is(err, sqlite3.IOERR)
	}
}
