package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// openPTY opens a pseudo-terminal: the child gets tty, the test reads
// what it drew from pty.
func openPTY(t *testing.T) (pty, tty *os.File) {
	t.Helper()
	pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, pty.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatal(e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, pty.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatal(e)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return pty, tty
}

// TestProgressOnlyOnTerminal draws the bar when both standard output and
// standard error are a terminal, and never into a pipe or file: not when
// only standard error is redirected (airnest export app.db dir 2>log).
func TestProgressOnlyOnTerminal(t *testing.T) {
	binary := airnestBin(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "app.db")
	seed(t, db, 3000)
	for i, c := range []struct {
		name               string
		stdoutTTY, stderrT bool
		bar                bool
	}{
		{"both a terminal", true, true, true},
		{"standard error a pipe", true, false, false},
		{"standard output a pipe", false, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			onTTY, piped := runOnPTY(t, c.stdoutTTY, c.stderrT, binary, "export", db, filepath.Join(dir, fmt.Sprint("ex", i)))
			// The bar's frame, drawn from the first row on (its fill depends
			// on how fast the export runs).
			if c.bar != strings.Contains(onTTY, "export   0% |") {
				t.Errorf("bar drawn: %v, want %v; the terminal shows %q", !c.bar, c.bar, onTTY)
			}
			if strings.ContainsAny(piped, "\r\u2588") {
				t.Errorf("a bar went into a pipe: %q", piped)
			}
		})
	}
}

// runOnPTY runs the command with standard output and standard error each
// on a pseudo-terminal or a pipe, and returns what the terminal showed and
// what went into the pipes.
func runOnPTY(t *testing.T, stdoutTTY, stderrTTY bool, name string, args ...string) (screen, piped string) {
	t.Helper()
	pty, tty := openPTY(t)
	defer pty.Close()
	cmd := exec.Command(name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdoutTTY {
		cmd.Stdout = tty
	}
	if stderrTTY {
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
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return <-drawn, stdout.String() + stderr.String()
}
