package airnest_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/airnest/airnest"
)

// The kill -9 test re-executes the test binary as a writer (TestMain runs
// crashChild when AIRNEST_HELPER=crash), reads every acknowledged write from its
// stdout, kills it with SIGKILL at a random moment, and checks the file.

// CrashItem is a value that carries the checksum of its own content.
type CrashItem struct {
	ID      airnest.ID[CrashItem]
	Worker  int
	Version int
	Body    []byte
	Sum     string
}

// CrashPairA and CrashPairB are written together by one Tx, sharing a Tag.
type CrashPairA struct {
	ID   airnest.ID[CrashPairA]
	Tag  string
	Body []byte
	Sum  string
}

type CrashPairB struct {
	ID   airnest.ID[CrashPairB]
	Tag  string
	Body []byte
	Sum  string
}

type crashColls struct {
	items *airnest.Coll[CrashItem]
	as    *airnest.Coll[CrashPairA]
	bs    *airnest.Coll[CrashPairB]
}

func declareCrash(s *airnest.Store) crashColls {
	return crashColls{
		items: airnest.Collection[CrashItem](s, airnest.Index("worker", "version", "sum")),
		as:    airnest.Collection[CrashPairA](s, airnest.Unique("tag"), airnest.Index("sum")),
		bs:    airnest.Collection[CrashPairB](s, airnest.Unique("tag"), airnest.Index("sum")),
	}
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

func randBody(r *rand.Rand) []byte {
	n := r.IntN(64)
	if r.IntN(8) == 0 {
		n = r.IntN(16 << 10) // now and then a value that spans pages
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// ackWriter prints one line per acknowledged write, as one write(2) each,
// so that a line in the pipe before SIGKILL is a whole line.
type ackWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (a *ackWriter) printf(format string, args ...any) {
	line := fmt.Sprintf(format+"\n", args...)
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := io.WriteString(a.w, line); err != nil {
		os.Exit(3) // the parent is gone
	}
}

// crashChild is the writer process: it writes until it is killed.
func crashChild(path string, syncMode airnest.Sync) {
	s := airnest.NewStore()
	cs := declareCrash(s)
	ctx := context.Background()
	if err := s.Open(ctx, path, &airnest.Options{Sync: syncMode, BusyTimeout: 10 * time.Second}); err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	out := &ackWriter{w: os.Stdout}
	out.printf("READY")
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			err := crashWorkload(ctx, s, cs, w, uint64(time.Now().UnixNano()), out.printf, nil)
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		})
	}
	wg.Wait()
}

// crashWorkload is one writer of the crash tests: it saves, updates and
// deletes its own CrashItems and commits pairs in transactions until an
// operation fails or ctx ends, reporting each acknowledged operation
// through ack, one line each:
//
//	S <id> <worker> <version> <sum>      CrashItem saved (new or updated)
//	X <id>                               CrashItem about to be deleted
//	D <id>                               CrashItem deleted
//	P <tag> <idA> <sumA> <idB> <sumB>    pair committed by one Tx
//
// If gate is not nil, each operation runs under gate.RLock, so that holding
// gate.Lock finds no operation in flight.
func crashWorkload(ctx context.Context, s *airnest.Store, cs crashColls, w int, seed uint64, ack func(format string, args ...any), gate *sync.RWMutex) error {
	r := rand.New(rand.NewPCG(seed, uint64(w)))
	var mine []CrashItem // this worker's live items
	for ctx.Err() == nil {
		if gate != nil {
			gate.RLock()
		}
		err := crashOp(ctx, s, cs, w, r, &mine, ack)
		if gate != nil {
			gate.RUnlock()
		}
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

// crashOp is one operation of crashWorkload.
func crashOp(ctx context.Context, s *airnest.Store, cs crashColls, w int, r *rand.Rand, minep *[]CrashItem, ack func(format string, args ...any)) error {
	mine := *minep
	defer func() { *minep = mine }()
	{
		switch op := r.IntN(10); {
		case op < 4 || len(mine) == 0: // new value
			body := randBody(r)
			v := CrashItem{Worker: w, Version: 1, Body: body, Sum: sum(body)}
			if err := cs.items.Save(ctx, &v); err != nil {
				return err
			}
			ack("S %s %d %d %s", v.ID, w, v.Version, v.Sum)
			mine = append(mine, v)
		case op < 6: // update in place, alternately through Update and Save
			i := r.IntN(len(mine))
			body := randBody(r)
			v := mine[i]
			v.Version++
			v.Body, v.Sum = body, sum(body)
			var err error
			if op == 4 {
				_, err = cs.items.Update(ctx, v.ID, func(p *CrashItem) error { *p = v; return nil })
			} else {
				err = cs.items.Save(ctx, &v)
			}
			if err != nil {
				return err
			}
			ack("S %s %d %d %s", v.ID, w, v.Version, v.Sum)
			mine[i] = v
		case op < 7:
			i := r.IntN(len(mine))
			ack("X %s", mine[i].ID) // a Delete in flight may commit unacknowledged
			if err := cs.items.Delete(ctx, mine[i].ID); err != nil {
				return err
			}
			ack("D %s", mine[i].ID)
			mine = append(mine[:i], mine[i+1:]...)
		default: // a transaction across two collections
			tag := airnest.NewID[CrashPairA]().String()
			ba, bb := randBody(r), randBody(r)
			a := CrashPairA{Tag: tag, Body: ba, Sum: sum(ba)}
			b := CrashPairB{Tag: tag, Body: bb, Sum: sum(bb)}
			err := s.Tx(ctx, func(tx *airnest.Tx) error {
				if err := cs.as.In(tx).Save(ctx, &a); err != nil {
					return err
				}
				// Work between the two writes, so crashes land inside.
				if _, err := cs.items.In(tx).Count(ctx); err != nil {
					return err
				}
				return cs.bs.In(tx).Save(ctx, &b)
			})
			if err != nil {
				return err
			}
			ack("P %s %s %s %s %s", tag, a.ID, a.Sum, b.ID, b.Sum)
		}
	}
	return nil
}

// acked is what the parent knows was acknowledged.
type acked struct {
	items   map[string]ackItem // by ID; deleted ones have deleted set
	pairs   map[string][4]string
	saves   int
	deletes int
	txs     int
}

type ackItem struct {
	worker, version int
	sum             string
	deleting        bool // a Delete was started: the value may be gone
	deleted         bool // a Delete was acknowledged: the value must be gone
}

func (a *acked) parse(line string) error {
	f := strings.Fields(line)
	switch {
	case len(f) == 5 && f[0] == "S":
		w, err1 := strconv.Atoi(f[2])
		v, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil {
			return fmt.Errorf("bad line %q", line)
		}
		a.items[f[1]] = ackItem{worker: w, version: v, sum: f[4]}
		a.saves++
	case len(f) == 2 && f[0] == "X":
		it := a.items[f[1]]
		it.deleting = true
		a.items[f[1]] = it
	case len(f) == 2 && f[0] == "D":
		it := a.items[f[1]]
		it.deleted = true
		a.items[f[1]] = it
		a.deletes++
	case len(f) == 6 && f[0] == "P":
		a.pairs[f[1]] = [4]string{f[2], f[3], f[4], f[5]}
		a.txs++
	case line == "READY":
	default:
		return fmt.Errorf("bad line %q", line)
	}
	return nil
}

// runKilled starts a writer child on path, lets it run for d after it is
// ready, kills it with SIGKILL and feeds every acknowledgement to a.
func runKilled(t *testing.T, path string, syncMode airnest.Sync, d time.Duration, a *acked) {
	t.Helper()
	cmd := exec.Command(os.Args[0]) // TestMain runs crashChild
	cmd.Env = append(os.Environ(), "AIRNEST_HELPER=crash", "AIRNEST_HELPER_PATH="+path, "AIRNEST_HELPER_SYNC="+strconv.Itoa(int(syncMode)))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var kill <-chan time.Time
	killed := false
	ready := time.After(2 * time.Minute)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				err := cmd.Wait()
				if ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus); !killed || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
					t.Fatalf("writer ended on its own (%v): %s", err, stderr.String())
				}
				return
			}
			if line == "READY" {
				kill = time.After(d)
				ready = nil
			}
			if err := a.parse(line); err != nil {
				t.Fatal(err)
			}
		case <-kill:
			cmd.Process.Signal(syscall.SIGKILL)
			kill, killed = nil, true
		case <-ready:
			cmd.Process.Kill()
			t.Fatalf("writer not ready: %s", stderr.String())
		}
	}
}

// checkAcked reopens path and checks every acknowledged write against it.
// It returns how many acknowledged operations are missing (lost).
func checkAcked(t *testing.T, path string, opts *airnest.Options, a *acked) (lost int) {
	t.Helper()
	return checkAckedWith(t, path, opts, a, t.Errorf)
}

// checkAckedWith is checkAcked reporting every problem other than a lost
// write (a damaged file, a partial transaction, content never written)
// through errorf.
func checkAckedWith(t *testing.T, path string, opts *airnest.Options, a *acked, errorf func(string, ...any)) (lost int) {
	t.Helper()
	s := airnest.NewStore()
	cs := declareCrash(s)
	if err := s.Open(bg, path, opts); err != nil {
		errorf("reopen after the crash: %v", err)
		return 0
	}
	defer s.Close()
	rep, err := s.Verify(bg)
	if err != nil {
		errorf("Verify after the crash: %v", err)
		return 0
	}
	if !rep.OK() {
		errorf("Verify after the crash:\n%s", rep)
	}
	return checkContentsWith(t, s, cs, a, errorf)
}

// checkContents compares the store with the acknowledgements. Missing
// acknowledged writes are counted, not reported; everything else (a partial
// transaction, content that was never written, a bad checksum) is an error.
func checkContents(t *testing.T, s *airnest.Store, cs crashColls, a *acked) (lost int) {
	t.Helper()
	return checkContentsWith(t, s, cs, a, t.Errorf)
}

func checkContentsWith(t *testing.T, s *airnest.Store, cs crashColls, a *acked, errorf func(string, ...any)) (lost int) {
	t.Helper()
	stored := map[string]CrashItem{}
	for v, err := range cs.items.All(bg) {
		if err != nil {
			errorf("reading the items: %v", err)
			return lost
		}
		stored[v.ID.String()] = v
		if sum(v.Body) != v.Sum {
			errorf("item %s: content does not match its checksum", v.ID)
		}
	}
	for id, want := range a.items {
		got, ok := stored[id]
		switch {
		case want.deleted && ok:
			lost++ // an acknowledged Delete undone
			logLost(t, "lost: acknowledged delete of item %s undone (version %d stored)", id, got.Version)
		case want.deleted:
		case !ok && want.deleting:
		case !ok || got.Version < want.version:
			lost++
			logLost(t, "lost: item %s version %d acknowledged, stored: %v version %d", id, want.version, ok, got.Version)
		case got.Version == want.version && (got.Sum != want.sum || got.Worker != want.worker):
			errorf("item %s version %d: stored sum %s, acknowledged %s", id, want.version, got.Sum, want.sum)
		}
	}
	as, err := cs.as.Scan(bg)
	if err != nil {
		errorf("reading the pairs: %v", err)
		return lost
	}
	bs, err := cs.bs.Scan(bg)
	if err != nil {
		errorf("reading the pairs: %v", err)
		return lost
	}
	tagsA, tagsB := map[string]CrashPairA{}, map[string]CrashPairB{}
	for _, v := range as {
		tagsA[v.Tag] = v
		if sum(v.Body) != v.Sum {
			errorf("pair A %s: content does not match its checksum", v.ID)
		}
	}
	for _, v := range bs {
		tagsB[v.Tag] = v
		if sum(v.Body) != v.Sum {
			errorf("pair B %s: content does not match its checksum", v.ID)
		}
		if _, ok := tagsA[v.Tag]; !ok {
			errorf("partial transaction: pair B %s (tag %s) without its A", v.ID, v.Tag)
		}
	}
	for tag, v := range tagsA {
		if _, ok := tagsB[tag]; !ok {
			errorf("partial transaction: pair A %s (tag %s) without its B", v.ID, tag)
		}
	}
	for tag, want := range a.pairs {
		ga, okA := tagsA[tag]
		gb, okB := tagsB[tag]
		if !okA || !okB {
			lost++
			logLost(t, "lost: pair %s acknowledged, stored: A %v B %v", tag, okA, okB)
			continue
		}
		if ga.ID.String() != want[0] || ga.Sum != want[1] || gb.ID.String() != want[2] || gb.Sum != want[3] {
			errorf("pair %s: stored %s/%s %s/%s, acknowledged %v", tag, ga.ID, ga.Sum, gb.ID, gb.Sum, want)
		}
	}
	return lost
}

// logLost logs the first few lost writes of a test, for diagnosis.
func logLost(t *testing.T, format string, args ...any) {
	t.Helper()
	lostLogged.Lock()
	defer lostLogged.Unlock()
	if lostLogged.n[t.Name()]++; lostLogged.n[t.Name()] <= 5 {
		t.Logf(format, args...)
	}
}

var lostLogged = struct {
	sync.Mutex
	n map[string]int
}{n: map[string]int{}}

func newAcked() *acked {
	return &acked{items: map[string]ackItem{}, pairs: map[string][4]string{}}
}

// kill -9 ends the process, not the machine: what the process handed to the
// kernel survives, so in WAL mode even SyncNormal, which does not sync
// commits, must lose nothing acknowledged.
func TestKill9LosesNothing(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct {
		name string
		sync airnest.Sync
	}{{"SyncFull", airnest.SyncFull}, {"SyncNormal", airnest.SyncNormal}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			kill9Rounds(t, mode.sync)
		})
	}
}

func kill9Rounds(t *testing.T, syncMode airnest.Sync) {
	rounds := 8
	if testing.Short() || raceEnabled {
		rounds = 6
	}
	path := filepath.Join(t.TempDir(), "kill.db")
	a := newAcked()
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	for round := range rounds {
		before := a.saves + a.deletes + a.txs
		// Kill early (during open and the first commits) as well as late.
		d := time.Duration(r.IntN(400)) * time.Millisecond
		runKilled(t, path, syncMode, d, a)
		if lost := checkAcked(t, path, nil, a); lost != 0 {
			t.Fatalf("round %d: %d acknowledged writes lost after kill -9", round, lost)
		}
		t.Logf("round %d: killed after %v, %d writes acknowledged", round, d, a.saves+a.deletes+a.txs-before)
	}
	t.Logf("kill -9, %s: %d rounds, %d saves, %d deletes, %d transactions acknowledged, 0 lost",
		t.Name(), rounds, a.saves, a.deletes, a.txs)
	if a.saves == 0 || a.txs == 0 || a.deletes == 0 {
		t.Fatalf("the writer acknowledged too little to test anything: %+v", a)
	}
}
