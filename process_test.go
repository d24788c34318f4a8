package airnest_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/airnest/airnest"
)

// Other processes on the same file: a second airnest process, and the
// sqlite3 command-line shell (Debian package sqlite3).

const writerChildWrites = 300

// writerChild saves writerChildWrites values (Worker 100) and pairs, printing
// acknowledgements in crashChild's protocol, then exits.
func writerChild(path string) {
	s := airnest.NewStore()
	cs := declareCrash(s)
	ctx := context.Background()
	if err := s.Open(ctx, path, &airnest.Options{BusyTimeout: 30 * time.Second}); err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	out := &ackWriter{w: os.Stdout}
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 100))
	for i := range writerChildWrites {
		if i%10 == 9 {
			tag := airnest.NewID[CrashPairA]().String()
			a := CrashPairA{Tag: tag, Body: randBody(r)}
			b := CrashPairB{Tag: tag, Body: randBody(r)}
			a.Sum, b.Sum = sum(a.Body), sum(b.Body)
			err := s.Tx(ctx, func(tx *airnest.Tx) error {
				if err := cs.as.In(tx).Save(ctx, &a); err != nil {
					return err
				}
				return cs.bs.In(tx).Save(ctx, &b)
			})
			if err != nil {
				fmt.Fprintln(os.Stderr, "tx:", err)
				os.Exit(2)
			}
			out.printf("P %s %s %s %s %s", tag, a.ID, a.Sum, b.ID, b.Sum)
			continue
		}
		body := randBody(r)
		v := CrashItem{Worker: 100, Version: 1, Body: body, Sum: sum(body)}
		if err := cs.items.Save(ctx, &v); err != nil {
			fmt.Fprintln(os.Stderr, "save:", err)
			os.Exit(2)
		}
		out.printf("S %s %d %d %s", v.ID, v.Worker, v.Version, v.Sum)
	}
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "close:", err)
		os.Exit(2)
	}
}

// needShell returns the sqlite3 shell's path, or skips the test.
func needShell(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Skip("the sqlite3 command-line shell is not on PATH (Debian package sqlite3): skipping the cross-process test with it")
	}
	return p
}

func TestOtherProcessesWriteTheSameFile(t *testing.T) {
	t.Parallel()
	shell := needShell(t)
	path := filepath.Join(t.TempDir(), "shared.db")
	s := airnest.NewStore()
	cs := declareCrash(s)
	if err := s.Open(bg, path, &airnest.Options{BusyTimeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := newAcked()
	var amu sync.Mutex

	// A second airnest process.
	child := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	child.Env = append(os.Environ(), "AIRNEST_HELPER=writer", "AIRNEST_HELPER_PATH="+path)
	var childErr strings.Builder
	child.Stderr = &childErr
	childOut, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}

	// The sqlite3 shell: its own table, plus reads of airnest's tables, in
	// many small transactions.
	const shellRows = 400
	var script strings.Builder
	script.WriteString(".timeout 30000\nCREATE TABLE IF NOT EXISTS shell_log (n INTEGER PRIMARY KEY, seen INTEGER, note TEXT);\n")
	for i := range shellRows {
		fmt.Fprintf(&script, "INSERT INTO shell_log (n, seen, note) SELECT %d, count(*), hex(randomblob(%d)) FROM \"CrashItem\";\n", i, 1+i%500)
		if i%50 == 0 {
			script.WriteString("BEGIN IMMEDIATE; UPDATE shell_log SET note = note || 'x' WHERE n % 7 = 0; COMMIT;\n")
		}
	}
	sh := exec.Command(shell, "-bail", path)
	sh.Stdin = strings.NewReader(script.String())
	var shOut strings.Builder
	sh.Stdout, sh.Stderr = &shOut, &shOut
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}

	// airnest in this process, meanwhile.
	var wg sync.WaitGroup
	ctx, stop := context.WithCancel(bg)
	for w := range 3 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; ctx.Err() == nil && i < 2000; i++ {
				body := randBody(r)
				v := CrashItem{Worker: w, Version: 1, Body: body, Sum: sum(body)}
				if err := cs.items.Save(bg, &v); err != nil {
					t.Errorf("Save while other processes write: %v", err)
					return
				}
				amu.Lock()
				a.parse(fmt.Sprintf("S %s %d %d %s", v.ID, w, v.Version, v.Sum))
				amu.Unlock()
			}
		})
	}
	sc := bufio.NewScanner(childOut)
	for sc.Scan() {
		amu.Lock()
		err := a.parse(sc.Text())
		amu.Unlock()
		if err != nil {
			t.Error(err)
		}
	}
	if err := child.Wait(); err != nil {
		t.Errorf("second airnest process: %v: %s", err, childErr.String())
	}
	if err := sh.Wait(); err != nil {
		t.Errorf("sqlite3 shell: %v: %s", err, shOut.String())
	}
	stop()
	wg.Wait()

	if lost := checkContents(t, s, cs, a); lost != 0 {
		t.Errorf("%d acknowledged writes missing", lost)
	}
	rep, err := s.Verify(bg)
	if err != nil || !rep.OK() {
		t.Fatalf("Verify: %v\n%s", err, rep)
	}
	db, err := s.DB()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM shell_log`).Scan(&n); err != nil || n != shellRows {
		t.Errorf("shell_log holds %d rows (%v), want %d", n, err, shellRows)
	}
	t.Logf("other processes: %d saves, %d transactions from two airnest processes, %d shell inserts", a.saves, a.txs, n)
	s.Close()
	// And the shell agrees the file is sound.
	out, err := exec.Command(shell, path, "PRAGMA integrity_check;").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Errorf("sqlite3 shell integrity_check: %v: %s", err, out)
	}
}

// shellSession is a sqlite3 shell kept running, fed statements one at a time.
type shellSession struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startShell(t *testing.T, shell, path string) *shellSession {
	t.Helper()
	cmd := exec.Command(shell, "-bail", path)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sh := &shellSession{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	t.Cleanup(func() {
		in.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	return sh
}

// do runs sql and waits for the shell to print a marker after it.
func (sh *shellSession) do(t *testing.T, sql string) {
	t.Helper()
	marker := "done-" + strconv.Itoa(rand.Int())
	if _, err := fmt.Fprintf(sh.in, "%s\nSELECT '%s';\n", sql, marker); err != nil {
		t.Fatal(err)
	}
	for sh.out.Scan() {
		if sh.out.Text() == marker {
			return
		}
		t.Logf("sqlite3: %s", sh.out.Text())
	}
	t.Fatalf("sqlite3 shell ended before %q finished", sql)
}

func TestLockHeldByAnotherProcessIsABusyError(t *testing.T) {
	t.Parallel()
	shell := needShell(t)
	path := filepath.Join(t.TempDir(), "busy.db")
	const timeout = 200 * time.Millisecond
	s := airnest.NewStore()
	cs := declareCrash(s)
	if err := s.Open(bg, path, &airnest.Options{BusyTimeout: timeout}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before := CrashItem{Body: []byte("before"), Sum: sum([]byte("before"))}
	if err := cs.items.Save(bg, &before); err != nil {
		t.Fatal(err)
	}

	sh := startShell(t, shell, path)
	sh.do(t, `CREATE TABLE shell_t (x); BEGIN EXCLUSIVE; INSERT INTO shell_t VALUES (1);`)

	// Every kind of write fails with a busy error after the timeout.
	writes := map[string]func() error{
		"Save": func() error {
			return cs.items.Save(bg, &CrashItem{Body: []byte("x")})
		},
		"Tx": func() error {
			return s.Tx(bg, func(tx *airnest.Tx) error {
				return cs.as.In(tx).Save(bg, &CrashPairA{Tag: "t"})
			})
		},
		"Update": func() error {
			_, err := cs.items.Update(bg, before.ID, func(v *CrashItem) error { v.Version++; return nil })
			return err
		},
		"Delete": func() error { return cs.items.Delete(bg, before.ID) },
	}
	for name, write := range writes {
		start := time.Now()
		err := write()
		took := time.Since(start)
		if !errors.Is(err, sqlite3.BUSY) || !errors.Is(err, airnest.ErrBusy) {
			t.Errorf("%s while another process holds the write lock: %v, want a busy error", name, err)
		}
		t.Logf("%s: %v after %v (busy timeout %v; reported, not checked)", name, err, took, timeout)
	}
	// Readers never wait for a writer, even one in another process: the
	// lock is held throughout, so a Load that waited for it would end in a
	// busy error, not a value.
	if got, err := cs.items.Load(bg, before.ID); err != nil || got.Sum != before.Sum {
		t.Errorf("Load while another process holds the write lock: %+v, %v", got, err)
	}

	sh.do(t, `COMMIT;`)
	// The lock is gone: the store works again, and nothing half-done shows.
	after := CrashItem{Body: []byte("after"), Sum: sum([]byte("after"))}
	if err := cs.items.Save(bg, &after); err != nil {
		t.Fatalf("Save after the other process let go: %v", err)
	}
	if n, err := cs.items.Count(bg); err != nil || n != 2 {
		t.Errorf("Count = %d, %v; want 2", n, err)
	}
	if n, err := cs.as.Count(bg); err != nil || n != 0 {
		t.Errorf("the failed Tx left %d values, %v", n, err)
	}
	if rep, err := s.Verify(bg); err != nil || !rep.OK() {
		t.Errorf("Verify: %v\n%s", err, rep)
	}
}
