package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airnest/airnest"
)

// The child processes of these tests, started by re-running the test
// binary with one of these variables set (see TestMain).
const (
	writerEnv     = "AIRNEST_E2E_WRITER"      // the file ackWriter writes to
	backupEnv     = "AIRNEST_E2E_BACKUP"      // the file crashingBackup copies
	backupDestEnv = "AIRNEST_E2E_BACKUP_DEST" // where it copies it to
	backupAtEnv   = "AIRNEST_E2E_BACKUP_AT"   // "first" or "last": where it stops
	dumpEnv       = "AIRNEST_E2E_DUMP"        // the file dumpChild dumps
)

// child runs the child process a variable asks for; ok is false when none.
func child() (ok bool, err error) {
	if path := os.Getenv(writerEnv); path != "" {
		return true, ackWriter(path)
	}
	if db := os.Getenv(dumpEnv); db != "" {
		return true, dumpChild(db)
	}
	if src := os.Getenv(backupEnv); src != "" {
		return true, crashingBackup(src, os.Getenv(backupDestEnv), os.Getenv(backupAtEnv))
	}
	return false, nil
}

// ackWriter saves jobs into path, Priority counting up, and prints
// "<priority> <id>" on standard output once each Save has returned nil:
// those writes are acknowledged and must never be lost. A Save that found
// the file busy (a vacuum holding the write lock longer than the busy
// timeout) is retried. It stops when its standard input is closed.
func ackWriter(path string) error {
	ctx := context.Background()
	s := airnest.NewStore()
	jobs, _ := declare(s)
	if err := s.Open(ctx, path, nil); err != nil {
		return err
	}
	defer s.Close()
	stop := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	out := bufio.NewWriter(os.Stdout)
	// A bound, not a timing: a parent that died must not leave us running.
	failsafe := time.After(5 * time.Minute)
	for i := 0; ; i++ {
		select {
		case <-stop:
			return nil
		case <-failsafe:
			return errors.New("never told to stop")
		default:
		}
		j := Job{Status: "live", Priority: i, CreatedAt: time.Now(), Payload: []byte(strings.Repeat("p", 512))}
		for {
			err := jobs.Save(ctx, &j)
			if err == nil {
				break
			}
			if !errors.Is(err, airnest.ErrBusy) {
				return err
			}
		}
		fmt.Fprintf(out, "%d %s\n", i, j.ID)
		if err := out.Flush(); err != nil {
			return err
		}
		time.Sleep(time.Millisecond) // leave the file to the commands now and then
	}
}

// acks collects the writes a writer process acknowledged.
type acks struct {
	mu    sync.Mutex
	ids   []airnest.ID[Job] // ids[i] has Priority i
	count chan int          // the number acknowledged, after each one
}

func (a *acks) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var i int
		var id string
		if _, err := fmt.Sscan(sc.Text(), &i, &id); err != nil {
			return err
		}
		u, err := airnest.ParseID[Job](id)
		if err != nil {
			return err
		}
		a.mu.Lock()
		if i != len(a.ids) {
			a.mu.Unlock()
			return fmt.Errorf("ack %d out of order", i)
		}
		a.ids = append(a.ids, u)
		n := len(a.ids)
		a.mu.Unlock()
		select {
		case a.count <- n:
		default:
		}
	}
	return sc.Err()
}

func (a *acks) snapshot() []airnest.ID[Job] {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]airnest.ID[Job](nil), a.ids...)
}

// startWriter starts ackWriter on path and waits until it acknowledged
// some writes. stop ends it and returns every acknowledged write.
func startWriter(t *testing.T, path string) (a *acks, stop func() []airnest.ID[Job]) {
	t.Helper()
	w := exec.Command(os.Args[0], "-test.run=^$")
	w.Env = append(os.Environ(), writerEnv+"="+path)
	stdin, err := w.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := w.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var werr strings.Builder
	w.Stderr = &werr
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	a = &acks{count: make(chan int, 1)}
	readErr := make(chan error, 1)
	go func() { readErr <- a.read(stdout) }()
	stopped := false
	stop = func() []airnest.ID[Job] {
		if !stopped {
			stopped = true
			stdin.Close()
			if err := <-readErr; err != nil {
				t.Errorf("reading the writer's acknowledgements: %v", err)
			}
			if err := w.Wait(); err != nil {
				t.Errorf("writer: %v\n%s", err, werr.String())
			}
		}
		return a.snapshot()
	}
	t.Cleanup(func() { stop() })
	for n := range a.count {
		if n >= 20 {
			break
		}
	}
	return a, stop
}

// loadAll checks that the store at path holds every acknowledged job,
// with the priority it was written with, and passes the typed Verify.
func loadAll(t *testing.T, path string, ids []airnest.ID[Job]) {
	t.Helper()
	ctx := context.Background()
	s, jobs, _ := openDeclared(t, path)
	defer s.Close()
	for i, id := range ids {
		j, err := jobs.Load(ctx, id)
		if err != nil {
			t.Fatalf("%s: acknowledged job %d (%s): %v", filepath.Base(path), i, id, err)
		}
		if j.Priority != i || j.Status != "live" {
			t.Fatalf("%s: acknowledged job %d holds %+v", filepath.Base(path), i, j)
		}
	}
	if rep, err := s.Verify(ctx); err != nil || !rep.OK() {
		t.Fatalf("%s: Verify: %v\n%s", filepath.Base(path), err, rep)
	}
}

// TestCommandsWhileWriting runs every command against a file another
// process writes to all along. Each read command must succeed and see at
// least every write acknowledged before it started; vacuum may also fail
// with a clear busy error, never anything else. Afterwards the writer has
// lost nothing and the file passes every check.
func TestCommandsWhileWriting(t *testing.T) {
	binary := airnestBin(t)
	dir := t.TempDir()
	live := filepath.Join(dir, "live.db")
	jids, _ := seed(t, live, 2000)
	a, stop := startWriter(t, live)

	has := func(what, out string, ids []airnest.ID[Job]) {
		t.Helper()
		for i, id := range ids {
			if !strings.Contains(out, `"id":"`+id.String()+`"`) {
				t.Fatalf("%s lacks job %d (%s), acknowledged before it started", what, i, id)
			}
		}
	}
	for _, cmd := range []string{"ls", "get", "stats", "dump", "export", "backup", "vacuum", "verify", "vacuum", "dump"} {
		before := a.snapshot()
		var r result
		switch cmd {
		case "get":
			r = want(t, binary, 0, []string{jids[1999].String()}, "get", live, "Job", jids[1999].String())
		case "dump":
			r = want(t, binary, 0, nil, "dump", live, "Job")
			if n := len(ndjson(t, r.stdout)); n < 2000+len(before) {
				t.Fatalf("dump while writing: %d lines, want at least %d", n, 2000+len(before))
			}
			has("dump", r.stdout, before)
		case "export":
			ex := filepath.Join(dir, "export")
			want(t, binary, 0, []string{"exported Job"}, "export", live, ex)
			b, err := os.ReadFile(filepath.Join(ex, "Job.ndjson"))
			if err != nil {
				t.Fatal(err)
			}
			has("export", string(b), before)
		case "backup":
			dest := filepath.Join(dir, "backup.db")
			want(t, binary, 0, []string{"verify " + dest + ": ok"}, "backup", live, dest)
			loadAll(t, dest, before)
		case "vacuum":
			r = run(t, binary, "vacuum", live)
			if r.code != exitOK && (r.code != exitProblem || !strings.Contains(r.stderr, "busy")) {
				t.Fatalf("vacuum while writing: exit %d, want 0 or 1 with a busy error:\n%s", r.code, r.stderr)
			}
		default:
			want(t, binary, 0, nil, cmd, live)
		}
	}
	during := len(a.snapshot())
	acked := stop()
	if len(acked) <= 20 || during <= 20 {
		t.Fatalf("the writer acknowledged only %d writes while the commands ran", during)
	}
	loadAll(t, live, acked)
	want(t, binary, 0, []string{fmt.Sprintf("ok: 2 collections, %d values", 2002+len(acked))}, "verify", live)
}
