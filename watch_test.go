package airnest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/airnest/airnest"
)

// Memo is the collection the watch tests log.
type Memo struct {
	ID    airnest.ID[Memo]
	Topic string
	Rank  int
	Body  string
}

// watchStore opens the store at dsn with Memo logged (retention r).
func watchStore(t testing.TB, dsn string, r airnest.Retention) (*airnest.Store, *airnest.Coll[Memo]) {
	t.Helper()
	s := airnest.NewStore()
	memos := airnest.Collection[Memo](s, airnest.Index("topic", "rank"), airnest.ChangeLog(r))
	if err := s.Open(bg, dsn, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, memos
}

// pull runs a watch on its own goroutine and hands its changes over a channel.
func pull[T any](ctx context.Context, seq func(yield func(airnest.Change[T], error) bool)) (<-chan airnest.Change[T], <-chan error) {
	out := make(chan airnest.Change[T], 1024)
	errc := make(chan error, 1)
	go func() {
		defer close(out)
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

func TestWatchSavesAndDeletes(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, memos := watchStore(t, dsn, airnest.Retention{})
		ctx, cancel := context.WithCancel(bg)
		defer cancel()
		before := Memo{Topic: "old"}
		if err := memos.Save(ctx, &before); err != nil {
			t.Fatal(err)
		}
		changes, errc := pull(ctx, memos.Watch(ctx, nil))
		// The watch starts from now: make sure it has started before writing.
		// A first change is delivered only once the watch runs, so write a
		// marker until it arrives.
		_ = s
		a := Memo{Topic: "a", Rank: 1}
		if err := memos.Save(ctx, &a); err != nil {
			t.Fatal(err)
		}
		a.Rank = 2
		if err := memos.Save(ctx, &a); err != nil {
			t.Fatal(err)
		}
		if err := memos.Delete(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		var got []airnest.Change[Memo]
		for len(got) < 3 {
			select {
			case ch := <-changes:
				got = append(got, ch)
			case err := <-errc:
				t.Fatal(err)
			}
		}
		t.Logf("%+v", got)
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("after cancel: %v", err)
		}
	})
}
