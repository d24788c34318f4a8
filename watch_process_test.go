package airnest_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airnest/airnest"
)

// watchChild watches Memo from AIRNEST_WATCH_AFTER on the store at dsn and
// prints each change as "seq op id topic rank unixnano" (when it had it),
// until it is killed.
func watchChild(dsn string) int {
	s := airnest.NewStore()
	memos := airnest.Collection[Memo](s, airnest.Index("topic", "rank", "score"), airnest.ChangeLog(airnest.Retention{}))
	if err := s.Open(context.Background(), dsn, nil); err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 2
	}
	after, _ := strconv.ParseInt(os.Getenv("AIRNEST_WATCH_AFTER"), 10, 64)
	for ch, err := range memos.Watch(context.Background(), &airnest.WatchOptions{Resume: true, After: after}) {
		if err != nil {
			fmt.Fprintln(os.Stderr, "watch:", err)
			return 2
		}
		fmt.Printf("%d %s %s %s %d %d\n", ch.Seq, ch.Op, ch.ID, ch.Value.Topic, ch.Value.Rank, time.Now().UnixNano())
	}
	return 0
}

// watcherProcess is a running watchChild.
type watcherProcess struct {
	cmd   *exec.Cmd
	lines chan string // complete lines, closed at the end of its output
}

func startWatcher(t testing.TB, dsn string, after int64) *watcherProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "AIRNEST_WATCH_HELPER="+dsn, fmt.Sprintf("AIRNEST_WATCH_AFTER=%d", after))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	w := &watcherProcess{cmd: cmd, lines: make(chan string, 1<<16)}
	go func() {
		defer close(w.lines)
		r := bufio.NewReader(out)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return // a line cut by the kill is not complete: not recorded
			}
			w.lines <- strings.TrimSuffix(line, "\n")
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return w
}

// kill ends the watcher with SIGKILL and returns the lines it printed
// before it died that were not read yet.
func (w *watcherProcess) kill() []string {
	w.cmd.Process.Kill()
	var rest []string
	for l := range w.lines {
		rest = append(rest, l)
	}
	w.cmd.Wait()
	return rest
}

// seen is one change as a watcher process printed it.
type seen struct {
	seq   int64
	op    string
	id    string
	topic string
	rank  int
}

func parseSeen(t testing.TB, line string) seen {
	t.Helper()
	var s seen
	if _, err := fmt.Sscanf(line, "%d %s %s %s %d", &s.seq, &s.op, &s.id, &s.topic, &s.rank); err != nil {
		t.Fatalf("watcher line %q: %v", line, err)
	}
	return s
}

// A watcher in another process sees every acknowledged write of 8
// concurrent writers once, in commit order; killed with SIGKILL and
// started again from the last Seq it printed, it gets the rest with no gap
// and no duplicate.
func TestWatchOtherProcessKilledAndResumed(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		_, memos := watchStore(t, dsn, airnest.Retention{})
		counter := Memo{Topic: "counter"}
		must(t, memos.Save(bg, &counter))
		const writers, each = 8, 40

		first := startWatcher(t, dsn, 0)
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					m := Memo{Topic: fmt.Sprintf("w%d", w), Rank: i}
					if err := memos.Save(bg, &m); err != nil {
						errs <- err
						return
					}
					_, err := memos.Update(bg, counter.ID, func(c *Memo) error { c.Rank++; return nil })
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}

		var got []seen
		for len(got) < 100 {
			l, ok := <-first.lines
			if !ok {
				t.Fatalf("the first watcher ended after %d lines", len(got))
			}
			got = append(got, parseSeen(t, l))
		}
		for _, l := range first.kill() {
			got = append(got, parseSeen(t, l))
		}
		recorded := got[len(got)-1].seq
		second := startWatcher(t, dsn, recorded)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		total := 1 + 2*writers*each
		for len(got) < total {
			l, ok := <-second.lines
			if !ok {
				t.Fatalf("the resumed watcher ended with %d of %d changes", len(got), total)
			}
			got = append(got, parseSeen(t, l))
		}
		extra := second.kill()

		next := map[string]int{} // topic -> the rank its next save must have
		counterRank := 0
		for i, s := range got {
			if i > 0 && s.seq <= got[i-1].seq {
				t.Fatalf("change %d: seq %d after %d (duplicate or out of order; resumed after %d)", i, s.seq, got[i-1].seq, recorded)
			}
			if s.op != "Saved" {
				t.Fatalf("change %d: %+v", i, s)
			}
			if s.topic == "counter" {
				if s.rank != counterRank {
					t.Fatalf("change %d: counter at %d after %d: not in commit order", i, s.rank, counterRank-1)
				}
				counterRank++
				continue
			}
			if s.rank != next[s.topic] {
				t.Fatalf("change %d: %s rank %d, want %d (a write missed, repeated or out of order)", i, s.topic, s.rank, next[s.topic])
			}
			next[s.topic]++
		}
		for w := range writers {
			if n := next[fmt.Sprintf("w%d", w)]; n != each {
				t.Errorf("writer %d: %d saves seen, want %d", w, n, each)
			}
		}
		if counterRank != writers*each+1 {
			t.Errorf("counter: %d changes seen, want %d", counterRank, writers*each+1)
		}
		if len(extra) > 0 {
			t.Fatalf("changes beyond the writes: %q", extra)
		}
	})
}
