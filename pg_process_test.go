package airnest_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// Several processes on one PostgreSQL database (issue 10, item 3), the
// normal case there: the children are this test binary run again, each a
// real process with its own connections. TestMain starts the child named
// by AIRNEST_PG_HELPER with the database's URL in AIRNEST_PG_DSN.

// pgHelperChild runs the child program mode and returns its exit code: 0
// when its work is done, 2 with the reason on stderr when it failed.
func pgHelperChild(mode string) int {
	dsn := os.Getenv("AIRNEST_PG_DSN")
	var err error
	switch mode {
	case "sync":
		err = syncChild(dsn, os.Getenv("AIRNEST_PG_CHILD"))
	case "update":
		err = updateChild(dsn, os.Getenv("AIRNEST_PG_ID"))
	case "transfer":
		err = transferChild(dsn)
	default:
		err = fmt.Errorf("unknown AIRNEST_PG_HELPER %q", mode)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s child: %v\n", mode, err)
		return 2
	}
	return 0
}

// awaitBarrier tells the parent this child is ready and returns when the
// parent releases the barrier: it closes the pipe every child reads as its
// stdin, so all of them see the end at once.
func awaitBarrier() {
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
}

// barrier holds children at awaitBarrier until release.
type barrier struct{ r, w *os.File }

func newBarrier(t *testing.T) *barrier {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	b := &barrier{r, w}
	t.Cleanup(b.release)
	return b
}

// release lets every waiting child go on; only the children hold the read
// end by then, so they see the end of their stdin together.
func (b *barrier) release() {
	b.r.Close()
	b.w.Close()
}

// pgChild is one running child process.
type pgChild struct {
	cmd *exec.Cmd
	out *bufio.Reader

	mu     sync.Mutex
	stderr strings.Builder
}

func (c *pgChild) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.Write(p)
}

func (c *pgChild) errText() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.TrimSpace(c.stderr.String())
}

// startPGChild runs child program mode on dsn with stdin from b (nil: none)
// and the environment variables env ("NAME=value").
func startPGChild(t *testing.T, mode, dsn string, b *barrier, env ...string) *pgChild {
	t.Helper()
	c := &pgChild{cmd: exec.Command(os.Args[0])}
	c.cmd.Env = append(os.Environ(), append([]string{"AIRNEST_PG_HELPER=" + mode, "AIRNEST_PG_DSN=" + dsn}, env...)...)
	c.cmd.Stderr = c
	if b != nil {
		c.cmd.Stdin = b.r
	}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.out = bufio.NewReader(out)
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			c.cmd.Process.Kill()
			c.cmd.Wait()
		}
	})
	return c
}

// line returns the child's next line of output without its newline; at
// the end of the output it fails the test with what the child said.
func (c *pgChild) line(t *testing.T) string {
	t.Helper()
	s, err := c.out.ReadString('\n')
	if err != nil {
		c.cmd.Wait()
		t.Fatalf("child %d ended its output (%v, %v) after %q:\n%s", c.cmd.Process.Pid, err, c.cmd.ProcessState, s, c.errText())
	}
	return strings.TrimSuffix(s, "\n")
}

// wait waits for the child to end and fails the test unless it succeeded.
func (c *pgChild) wait(t *testing.T) {
	t.Helper()
	io.Copy(io.Discard, c.out)
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("child %d: %v:\n%s", c.cmd.Process.Pid, err, c.errText())
	}
}

// startTogether starts n children of mode behind one barrier, waits until
// each has said it is ready, and releases them at once.
func startTogether(t *testing.T, n int, mode, dsn string, env func(i int) []string) []*pgChild {
	t.Helper()
	b := newBarrier(t)
	kids := make([]*pgChild, n)
	for i := range kids {
		kids[i] = startPGChild(t, mode, dsn, b, env(i)...)
	}
	for _, k := range kids {
		if got := k.line(t); got != "ready" {
			t.Fatalf("child said %q, want ready", got)
		}
	}
	b.release()
	return kids
}
