package airnest_test

// Replication with the real Litestream (v0.5): a store written under load is
// replicated to a file replica, restored, and compared value for value.
//
// The test needs the litestream binary. Install it with
//
//	GOBIN=$PWD/.bin go install github.com/benbjohnson/litestream/cmd/litestream@v0.5.18
//	AIRNEST_LITESTREAM=$PWD/.bin/litestream go test -run Litestream .
//
// (or put litestream on PATH). Outside CI it skips without the binary;
// with CI=true a missing binary fails the test, so CI cannot pass it by skipping.

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/airnest/airnest"
	"github.com/airnest/airnest/internal/lstables"
)

// LSAccount and LSEntry are what the replicated program writes: accounts
// updated in place, entries appended, both in one transaction at times.
type LSAccount struct {
	ID      airnest.ID[LSAccount]
	Owner   string
	Balance int64
	Entries int
}

type LSEntry struct {
	ID      airnest.ID[LSEntry]
	Account airnest.ID[LSAccount]
	Amount  int64
	Note    string
	Body    []byte
}

func declareLS(s *airnest.Store) (*airnest.Coll[LSAccount], *airnest.Coll[LSEntry]) {
	return airnest.Collection[LSAccount](s, airnest.Index("owner")),
		airnest.Collection[LSEntry](s, airnest.Index("account", "amount"))
}

// litestreamBin finds the litestream binary: $AIRNEST_LITESTREAM, then PATH.
func litestreamBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("AIRNEST_LITESTREAM"); p != "" {
		return p
	}
	if p, err := exec.LookPath("litestream"); err == nil {
		return p
	}
	const how = "install it with `GOBIN=DIR go install github.com/benbjohnson/litestream/cmd/litestream@v0.5.18` and set AIRNEST_LITESTREAM=DIR/litestream (or put it on PATH)"
	if os.Getenv("CI") == "true" {
		t.Fatal("litestream not found, and CI=true: " + how)
	}
	t.Skip("litestream not found: " + how)
	return ""
}

// lsValues reads every value of both collections.
func lsValues(t *testing.T, s *airnest.Store, accts *airnest.Coll[LSAccount], entries *airnest.Coll[LSEntry]) (map[airnest.ID[LSAccount]]LSAccount, map[airnest.ID[LSEntry]]LSEntry) {
	t.Helper()
	as, es := map[airnest.ID[LSAccount]]LSAccount{}, map[airnest.ID[LSEntry]]LSEntry{}
	err := s.View(bg, func(tx *airnest.Tx) error {
		for a, err := range accts.In(tx).All(bg) {
			if err != nil {
				return err
			}
			as[a.ID] = a
		}
		for e, err := range entries.In(tx).All(bg) {
			if err != nil {
				return err
			}
			es[e.ID] = e
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return as, es
}

func TestLitestreamReplicaRestoresEveryValue(t *testing.T) {
	bin := litestreamBin(t)
	opsPer := 1500
	if testing.Short() || raceEnabled {
		opsPer = 200
	}
	if v := os.Getenv("AIRNEST_LITESTREAM_OPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("AIRNEST_LITESTREAM_OPS=%q: %v", v, err)
		}
		opsPer = n
	}
	// The README's advice (NoCheckpoint) and the default, which competes
	// with Litestream's checkpoints but must still replicate correctly.
	for _, tc := range []struct {
		name string
		opts *airnest.Options
	}{
		{"NoCheckpoint", &airnest.Options{CheckpointPages: airnest.NoCheckpoint}},
		{"default checkpoints", nil},
	} {
		t.Run(tc.name, func(t *testing.T) { litestreamRound(t, bin, tc.opts, opsPer) })
	}
}

func litestreamRound(t *testing.T, bin string, opts *airnest.Options, opsPer int) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	config := filepath.Join(dir, "litestream.yml")
	// The README's configuration, with a file replica.
	yml := fmt.Sprintf("dbs:\n  - path: %s\n    replica:\n      url: file://%s\n", path, filepath.Join(dir, "replica"))
	if err := os.WriteFile(config, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}

	s := airnest.NewStore()
	accts, entries := declareLS(s)
	if err := s.Open(bg, path, opts); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ids []airnest.ID[LSAccount]
	for i := range 64 {
		a := LSAccount{Owner: fmt.Sprintf("owner-%02d", i), Balance: 1000}
		if err := accts.Save(bg, &a); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}

	ls := startLitestream(t, bin, "replicate", "-log-level", "debug", "-config", config)
	waitForLitestream(t, s, ls)

	// The load: 8 goroutines saving entries, updating accounts, and moving
	// money between two accounts with an entry, in one transaction.
	var walPeak atomic.Int64
	sampleDone, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > walPeak.Load() {
				walPeak.Store(fi.Size())
			}
			select {
			case <-sampleDone:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 9))
			for i := range opsPer {
				if err := lsStep(r, i, accts, entries, s, ids); err != nil {
					errs <- fmt.Errorf("goroutine %d, op %d: %w", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(sampleDone)
	<-sampled
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	walEnd := fileSize(path + "-wal")
	walSettled, settledAfter := settleWAL(t, path, accts, ids[0])
	wantA, wantE := lsValues(t, s, accts, entries)

	// A clean stop: Litestream syncs what is left, then exits 0.
	if err := ls.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-ls.done
	log := ls.out.String()
	ckpts, busy := checkpointResults(log)
	t.Logf("%d writes by 8 goroutines: WAL peak %.1f MiB, %.1f MiB when the load stopped, %.1f MiB after %d single writes; Litestream ran %d checkpoints, %d of them busy",
		8*opsPer, mib(walPeak.Load()), mib(walEnd), mib(walSettled), settledAfter, ckpts, busy)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	restored := filepath.Join(dir, "restored.db")
	if b, err := exec.Command(bin, "restore", "-config", config, "-o", restored, path).CombinedOutput(); err != nil {
		t.Fatalf("litestream restore: %v\n%s", err, b)
	}
	rs := airnest.NewStore()
	raccts, rentries := declareLS(rs)
	if err := rs.Open(bg, restored, nil); err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	gotA, gotE := lsValues(t, rs, raccts, rentries)
	if len(gotA) != len(wantA) || len(gotE) != len(wantE) {
		t.Errorf("restored %d accounts and %d entries, the source holds %d and %d", len(gotA), len(gotE), len(wantA), len(wantE))
	}
	for id, want := range wantA {
		if got, ok := gotA[id]; !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("account %v: restored %+v (present %v), source %+v", id, got, ok, want)
		}
	}
	for id, want := range wantE {
		if got, ok := gotE[id]; !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("entry %v: restored %+v (present %v), source %+v", id, got, ok, want)
		}
	}
	rep, err := rs.Verify(bg)
	if err != nil || !rep.OK() {
		t.Errorf("Verify of the restored file: %v\n%v", err, rep)
	}
	if t.Failed() {
		t.Logf("litestream replicate output:\n%s", log)
	}
}

// lsStep is the i-th operation of one writer goroutine.
func lsStep(r *rand.Rand, i int, accts *airnest.Coll[LSAccount], entries *airnest.Coll[LSEntry], s *airnest.Store, ids []airnest.ID[LSAccount]) error {
	a := ids[r.IntN(len(ids))]
	body := make([]byte, 512+r.IntN(2048))
	for k := range body {
		body[k] = byte(r.Uint32())
	}
	switch i % 3 {
	case 0:
		return entries.Save(bg, &LSEntry{Account: a, Amount: int64(r.IntN(100)), Note: "save", Body: body})
	case 1:
		_, err := accts.Update(bg, a, func(v *LSAccount) error {
			v.Balance += int64(r.IntN(11) - 5)
			return nil
		})
		return err
	}
	b := ids[r.IntN(len(ids))]
	return s.Tx(bg, func(tx *airnest.Tx) error {
		amount := int64(1 + r.IntN(50))
		for _, m := range []struct {
			id airnest.ID[LSAccount]
			by int64
		}{{a, -amount}, {b, amount}} {
			if _, err := accts.In(tx).Update(bg, m.id, func(v *LSAccount) error {
				v.Balance += m.by
				v.Entries++
				return nil
			}); err != nil {
				return err
			}
		}
		return entries.In(tx).Save(bg, &LSEntry{Account: a, Amount: -amount, Note: "transfer", Body: body[:64]})
	})
}

// lsProc is a running litestream command.
type lsProc struct {
	cmd  *exec.Cmd
	out  bytes.Buffer // its output; read it only once done is closed
	done chan struct{}
	err  error // how it exited, once done is closed
}

// startLitestream runs litestream with args; the test's cleanup kills it if
// it is still running.
func startLitestream(t *testing.T, bin string, args ...string) *lsProc {
	t.Helper()
	p := &lsProc{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitForLitestream returns once Litestream has made its bookkeeping table
// in the file (it is then following the WAL), and fails if it exits first.
func waitForLitestream(t *testing.T, s *airnest.Store, p *lsProc) {
	t.Helper()
	db, err := s.DB()
	if err != nil {
		t.Fatal(err)
	}
	for {
		var n int
		if err := db.QueryRowContext(context.Background(), "SELECT count(*) FROM sqlite_schema WHERE name = '_litestream_seq'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("litestream exited before replicating: %v\n%s", p.err, p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// settleWAL writes one small change every 100 ms, at most 30 times, until
// the WAL has restarted and been cut back to its size limit (Litestream
// checkpoints after its next sync; the next commit restarts the WAL). It
// returns the WAL's size and the writes it took. A measurement only:
// Litestream's timing decides it, so it passes or fails nothing.
func settleWAL(t *testing.T, path string, accts *airnest.Coll[LSAccount], id airnest.ID[LSAccount]) (int64, int) {
	t.Helper()
	const limit = 2 * 4000 * 4096 // the default WALSizeLimit
	for i := 1; ; i++ {
		if _, err := accts.Update(bg, id, func(v *LSAccount) error { v.Entries++; return nil }); err != nil {
			t.Fatal(err)
		}
		if size := fileSize(path + "-wal"); size <= limit || i == 30 {
			return size, i
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkpointResults counts Litestream's checkpoints in its debug log, and
// those SQLite answered busy (another connection was checkpointing).
func checkpointResults(log string) (all, busy int) {
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "msg=checkpoint ") {
			continue
		}
		all++
		if strings.Contains(line, "result=1,") {
			busy++
		}
	}
	return all, busy
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// A file Litestream has replicated carries its _litestream_seq and
// _litestream_lock tables: the store opens it, ignores them and verifies clean.
func TestLitestreamTablesDoNotDisturbTheStore(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "app.db")
	s := airnest.NewStore()
	accts, _ := declareLS(s)
	if err := s.Open(bg, path, nil); err != nil {
		t.Fatal(err)
	}
	a := LSAccount{Owner: "ann", Balance: 5}
	if err := accts.Save(bg, &a); err != nil {
		t.Fatal(err)
	}
	db, err := s.DB()
	if err != nil {
		t.Fatal(err)
	}
	if err := lstables.Add(db); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := airnest.NewStore()
	accts2, entries2 := declareLS(s2)
	if err := s2.Open(bg, path, nil); err != nil {
		t.Fatalf("Open of a file with Litestream's tables: %v", err)
	}
	defer s2.Close()
	gotA, gotE := lsValues(t, s2, accts2, entries2)
	if !maps.Equal(gotA, map[airnest.ID[LSAccount]]LSAccount{a.ID: a}) || len(gotE) != 0 {
		t.Errorf("values after reopening: %v, %v", gotA, gotE)
	}
	if rep, err := s2.Verify(bg); err != nil || !rep.OK() {
		t.Errorf("Store.Verify: %v\n%v", err, rep)
	}
	if rep, err := airnest.VerifyFile(bg, path); err != nil || !rep.OK() {
		t.Errorf("VerifyFile: %v\n%v", err, rep)
	}
}
