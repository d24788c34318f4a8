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
	"testing"

	"github.com/airnest/airnest"
)

// crashingBackup copies src to dest with Store.Backup, eight pages a
// step, and at the step at says ("first": the first pages copied, "last":
// every page copied, not yet checked nor renamed) tells the parent on
// standard output and waits for the SIGKILL the parent then sends.
func crashingBackup(src, dest, at string) error {
	ctx := context.Background()
	s := airnest.NewStore()
	declare(s)
	if err := s.Open(ctx, src, nil); err != nil {
		return err
	}
	defer s.Close()
	err := s.Backup(ctx, dest, &airnest.BackupOptions{StepPages: 8, Progress: func(copied, total int) {
		if (at == "first" && copied > 0) || (at == "last" && copied == total) {
			fmt.Printf("copied %d of %d pages\n", copied, total)
			io.Copy(io.Discard, os.Stdin) // until killed
		}
	}})
	if err != nil {
		return err
	}
	return errors.New("the backup finished: the parent never killed it")
}

// TestBackupKilled kills a process in the middle of Store.Backup, at a
// point the child reports (not after a sleep), and checks that the
// destination holds nothing, that the next backup to it works and that
// its copy is complete.
func TestBackupKilled(t *testing.T) {
	binary := airnestBin(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "app.db")
	jids, _ := seed(t, src, 3000)
	for _, at := range []string{"first", "last"} {
		t.Run(at, func(t *testing.T) {
			destDir := filepath.Join(dir, at)
			os.Mkdir(destDir, 0o755)
			dest := filepath.Join(destDir, "copy.db")
			c := exec.Command(os.Args[0], "-test.run=^$")
			c.Env = append(os.Environ(), backupEnv+"="+src, backupDestEnv+"="+dest, backupAtEnv+"="+at)
			stdin, _ := c.StdinPipe()
			defer stdin.Close()
			stdout, _ := c.StdoutPipe()
			var stderr strings.Builder
			c.Stderr = &stderr
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if err != nil {
				c.Wait()
				t.Fatalf("the backup child never reached its point: %v\n%s", err, stderr.String())
			}
			if err := c.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			c.Wait()
			t.Logf("killed after it %s", strings.TrimSpace(line))

			for _, p := range []string{dest, dest + "-wal", dest + "-journal"} {
				if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("a killed backup left %s (%v)", p, err)
				}
			}
			// Only the hidden temporary file may remain, under a name no
			// one takes for the copy.
			entries, _ := os.ReadDir(destDir)
			for _, e := range entries {
				if !strings.HasPrefix(e.Name(), ".copy.db.tmp-") {
					t.Fatalf("a killed backup left %s", e.Name())
				}
			}

			want(t, binary, 0, []string{"verify " + dest + ": ok: 2 collections, 3002 values"}, "backup", src, dest)
			_, jobs, _ := openDeclared(t, dest)
			for _, id := range jids {
				if _, err := jobs.Load(context.Background(), id); err != nil {
					t.Fatalf("the copy lacks %s: %v", id, err)
				}
			}
		})
	}
}
