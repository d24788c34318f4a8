package airnest

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

type resRec struct {
	ID   ID[resRec]
	Name string
}

// However many goroutines read at once, the store opens at most
// Options.Readers reader connections; the others wait their turn.
func TestReadersAreBounded(t *testing.T) {
	t.Parallel()
	for _, readers := range []int{0, 1, 4} {
		want := readers
		if want == 0 {
			want = max(4, 2*runtime.GOMAXPROCS(0))
		}
		ctx := context.Background()
		s := NewStore()
		recs := Collection[resRec](s, Index("name"))
		if err := s.Open(ctx, filepath.Join(t.TempDir(), "r.db"), &Options{Readers: readers}); err != nil {
			t.Fatal(err)
		}
		var ids []ID[resRec]
		for range 20 {
			r := resRec{Name: "x"}
			if err := recs.Save(ctx, &r); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.ID)
		}

		var inView, maxInView, maxOpened atomic.Int64
		full := make(chan struct{}) // closed when want Views are in at once
		var fullOnce sync.Once
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() { // watch the pool while the readers run
			defer close(sampled)
			for {
				if n := int64(s.sqliteDB().R.Opened()); n > maxOpened.Load() {
					maxOpened.Store(n)
				}
				select {
				case <-stop:
					return
				default:
					runtime.Gosched()
				}
			}
		}()
		start := make(chan struct{})
		var wg sync.WaitGroup
		for g := range 64 {
			wg.Go(func() {
				<-start
				for i := range 10 {
					if _, err := recs.Load(ctx, ids[(g+i)%len(ids)]); err != nil {
						t.Error(err)
						return
					}
				}
				// Hold a reader until every reader is in use at once: more
				// would show as more Views inside at once, fewer would hang.
				err := s.View(ctx, func(tx *Tx) error {
					n := inView.Add(1)
					defer inView.Add(-1)
					for m := maxInView.Load(); n > m && !maxInView.CompareAndSwap(m, n); m = maxInView.Load() {
					}
					if n == int64(want) {
						fullOnce.Do(func() { close(full) })
					}
					<-full
					_, err := recs.In(tx).Load(ctx, ids[g%len(ids)])
					return err
				})
				if err != nil {
					t.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
		close(stop)
		<-sampled

		if got := s.sqliteDB().R.Opened(); got > want || maxOpened.Load() > int64(want) {
			t.Errorf("Readers %d: %d reader connections opened (at most %d seen at once), want at most %d", readers, got, maxOpened.Load(), want)
		}
		if got := maxInView.Load(); got != int64(want) {
			t.Errorf("Readers %d: at most %d Views ran at once, want exactly %d (all readers busy, none more)", readers, got, want)
		}

		// All readers busy: a Load waits, and gives up when its context does.
		hold := make(chan struct{})
		var held sync.WaitGroup
		held.Add(want)
		for range want {
			go s.View(ctx, func(*Tx) error { held.Done(); <-hold; return nil })
		}
		held.Wait()
		short, cancel := context.WithCancel(ctx)
		cancel()
		_, err := recs.Load(short, ids[0])
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Load with every reader busy: %v, want the context's error", err)
		}
		close(hold)
		if _, err := recs.Load(ctx, ids[0]); err != nil {
			t.Errorf("Load once the readers are free: %v", err)
		}
		if got := s.sqliteDB().R.Opened(); got > want {
			t.Errorf("Readers %d: %d opened in the end", readers, got)
		}
		s.Close()
	}
}
