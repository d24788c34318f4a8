package airnest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/airnest/airnest"
)

// Memo is the collection the watch tests log.
type Memo struct {
	ID    airnest.ID[Memo]
	Topic string
	Rank  int
	Score *float64
	Body  string
}

// watchStore opens the store at dsn with Memo logged (retention r) and
// Job not logged.
func watchStore(t testing.TB, dsn string, r airnest.Retention) (*airnest.Store, *airnest.Coll[Memo]) {
	t.Helper()
	s := airnest.NewStore()
	memos := airnest.Collection[Memo](s, airnest.Index("topic", "rank", "score"), airnest.ChangeLog(r))
	if err := s.Open(bg, dsn, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, memos
}

// pull runs a watch on its own goroutine and hands its changes over a
// channel; the watch's final error (nil when the loop broke) comes on errc.
func pull[T any](seq func(yield func(airnest.Change[T], error) bool)) (<-chan airnest.Change[T], <-chan error) {
	out := make(chan airnest.Change[T], 4096)
	errc := make(chan error, 1)
	go func() {
		for ch, err := range seq {
			if err != nil {
				errc <- err
				return
			}
			out <- ch
		}
		errc <- nil
	}()
	return out, errc
}

// take receives n changes, failing the test if the watch ends first.
func take[T any](t testing.TB, changes <-chan airnest.Change[T], errc <-chan error, n int) []airnest.Change[T] {
	t.Helper()
	var got []airnest.Change[T]
	for len(got) < n {
		select {
		case ch := <-changes:
			got = append(got, ch)
		case err := <-errc:
			t.Fatalf("the watch ended after %d of %d changes: %v", len(got), n, err)
		}
	}
	return got
}

// brief renders changes as "op topic/rank" for comparison.
func brief(chs []airnest.Change[Memo]) []string {
	var out []string
	for _, ch := range chs {
		out = append(out, fmt.Sprintf("%s %s/%d", ch.Op, ch.Value.Topic, ch.Value.Rank))
	}
	return out
}

func TestWatchEveryWritePath(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, memos := watchStore(t, dsn, airnest.Retention{})
		ctx, cancel := context.WithCancel(bg)
		defer cancel()
		changes, errc := pull(memos.Watch(ctx, &airnest.WatchOptions{Resume: true}))

		a, b, c := Memo{Topic: "a", Rank: 1}, Memo{Topic: "b", Rank: 1}, Memo{Topic: "c", Rank: 1}
		must(t, memos.Save(ctx, &a))
		must(t, memos.Save(ctx, &b))
		_, err := memos.Update(ctx, a.ID, func(m *Memo) error { m.Rank = 2; return nil })
		must(t, err)
		must(t, s.Tx(ctx, func(tx *airnest.Tx) error {
			if err := memos.In(tx).Save(ctx, &c); err != nil {
				return err
			}
			return memos.In(tx).Delete(ctx, b.ID)
		}))
		rolledBack := errors.New("roll back")
		if err := s.Tx(ctx, func(tx *airnest.Tx) error {
			d := Memo{Topic: "d"}
			if err := memos.In(tx).Save(ctx, &d); err != nil {
				return err
			}
			return rolledBack
		}); !errors.Is(err, rolledBack) {
			t.Fatal(err)
		}
		must(t, memos.Delete(ctx, a.ID))
		n, err := memos.Where(airnest.Eq("topic", "c")).Delete(ctx)
		must(t, err)
		if n != 1 {
			t.Fatalf("query Delete removed %d", n)
		}
		got := take(t, changes, errc, 7)
		want := []string{"Saved a/1", "Saved b/1", "Saved a/2", "Saved c/1", "Deleted /0", "Deleted /0", "Deleted /0"}
		if !slices.Equal(brief(got), want) {
			t.Fatalf("changes %q, want %q", brief(got), want)
		}
		ids := []airnest.ID[Memo]{a.ID, b.ID, a.ID, c.ID, b.ID, a.ID, c.ID}
		for i, ch := range got {
			if ch.ID != ids[i] {
				t.Errorf("change %d: id %s, want %s", i, ch.ID, ids[i])
			}
			if i > 0 && ch.Seq <= got[i-1].Seq {
				t.Errorf("change %d: seq %d after %d", i, ch.Seq, got[i-1].Seq)
			}
		}
		select {
		case ch := <-changes:
			t.Fatalf("an extra change (the rolled-back save?): %+v", ch)
		default:
		}
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("after cancel: %v, want context.Canceled", err)
		}
	})
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestWatchNeedsChangeLog(t *testing.T) {
	t.Parallel()
	_, jobs, _, _ := testStore(t)
	for _, err := range jobs.Watch(bg, nil) {
		if !errors.Is(err, airnest.ErrInvalid) {
			t.Fatalf("Watch of a collection without a log: %v, want ErrInvalid", err)
		}
		return
	}
	t.Fatal("Watch yielded nothing")
}

// saveN saves n new memos of topic.
func saveN(t testing.TB, memos *airnest.Coll[Memo], topic string, n int) {
	t.Helper()
	for i := range n {
		m := Memo{Topic: topic, Rank: i}
		must(t, memos.Save(bg, &m))
	}
}

func TestWatchGap(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		_, memos := watchStore(t, dsn, airnest.Retention{Changes: 1})
		saveN(t, memos, "early", 200)
		for _, err := range memos.Watch(bg, &airnest.WatchOptions{Resume: true}) {
			if !errors.Is(err, airnest.ErrGap) {
				t.Fatalf("resuming from before retention: %v, want ErrGap", err)
			}
			break
		}

		// A watch that falls behind by more than the log keeps: its loop
		// body writes 200 changes before it reads on.
		ctx, cancel := context.WithCancel(bg)
		defer cancel()
		started := make(chan struct{})
		end := make(chan error, 1)
		go func() {
			first := true
			for ch, err := range memos.Watch(ctx, nil) {
				if err != nil {
					end <- err
					return
				}
				if !first && ch.Value.Topic == "flood" {
					end <- fmt.Errorf("after falling behind, the watch went on with %s %d", ch.Value.Topic, ch.Value.Rank)
					return
				}
				if first {
					first = false
					close(started)
					for i := range 200 {
						if err := memos.Save(ctx, &Memo{Topic: "flood", Rank: i}); err != nil {
							end <- err
							return
						}
					}
				}
			}
			end <- errors.New("the watch ended without an error")
		}()
		startWatch(t, memos, started)
		if err := <-end; !errors.Is(err, airnest.ErrGap) {
			t.Fatalf("a watch that fell behind: %v, want ErrGap", err)
		}
	})
}

// startWatch saves marker memos until started is closed: a watch from now
// has started once it delivers one.
func startWatch(t testing.TB, memos *airnest.Coll[Memo], started <-chan struct{}) {
	t.Helper()
	for {
		select {
		case <-started:
			return
		default:
			must(t, memos.Save(bg, &Memo{Topic: "marker"}))
		}
	}
}

// Retention.Age drops the changes older than it at the next trim, and a
// watch resuming from before them gets ErrGap; the young ones stay.
func TestWatchRetentionAge(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		_, memos := watchStore(t, dsn, airnest.Retention{Age: time.Second})
		saveN(t, memos, "old", 10)
		time.Sleep(2100 * time.Millisecond) // the log's clock counts whole seconds
		saveN(t, memos, "young", 54)        // the 64th change trims
		for _, err := range memos.Watch(bg, &airnest.WatchOptions{Resume: true}) {
			if !errors.Is(err, airnest.ErrGap) {
				t.Fatalf("resuming before changes older than Age: %v, want ErrGap", err)
			}
			break
		}
	})
}
