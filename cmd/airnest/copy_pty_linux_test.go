package main

import (
	"bytes"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// airnest copy draws its bar on a terminal, and never into a pipe.
func TestCopyProgressOnlyOnTerminal(t *testing.T) {
	binary := airnestBin(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "app.db")
	seed(t, db, 3000)
	for i, onTTY := range []bool{true, false} {
		pty, tty := openPTY(t)
		defer pty.Close()
		cmd := exec.Command(binary, "copy", db, filepath.Join(dir, []string{"a.db", "b.db"}[i]))
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = tty, &stderr
		if onTTY {
			cmd.Stderr = tty
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		tty.Close()
		drawn := make(chan string)
		go func() {
			b, _ := io.ReadAll(pty) // ends with EIO once the child is gone
			drawn <- string(b)
		}()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("copy: %v\n%s", err, stderr.String())
		}
		screen := <-drawn
		if bar := strings.Contains(screen, "copy   0% |"); bar != onTTY {
			t.Errorf("bar drawn: %v, want %v; the terminal shows %q", bar, onTTY, screen)
		}
		if !strings.Contains(screen, "copied Job: 3000 values") {
			t.Errorf("the terminal shows %q", screen)
		}
		if strings.ContainsAny(stdout.String()+stderr.String(), "\r\u2588") {
			t.Errorf("a bar went into a pipe:\nstdout %q\nstderr %q", stdout.String(), stderr.String())
		}
	}
}
