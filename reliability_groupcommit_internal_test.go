package airnest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/ncruces/go-sqlite3/vfs"

	"github.com/airnest/airnest/internal/backend"
	"github.com/airnest/airnest/internal/faultvfs"
)

type gcRec struct {
	ID ID[gcRec]
	N  int
}

var gcVFSSeq atomic.Int64

// Group commit, counted by the syncs of the WAL (faultvfs): callers that
// queue while the writer is busy share one commit, and so one sync, up to
// MaxBatch callers a commit. A Tx holds the writer while the callers queue;
// the test releases it once the writer's queue holds them all (state, not
// timing), so the batches are determined: the callers, MaxBatch at a time.
func TestGroupCommitSyncsPerBatch(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		maxBatch, callers int
		wantSyncs         int64
	}{
		{0, 16, 1}, // default MaxBatch (256): one sync for all 16
		{4, 13, 4}, // 4+4+4+1; a batch of 5 or more would make 3 or fewer
		{1, 5, 5},  // MaxBatch 1: no grouping
	} {
		t.Run(fmt.Sprintf("MaxBatch=%d,callers=%d", c.maxBatch, c.callers), func(t *testing.T) {
			ctx := context.Background()
			fs := faultvfs.New()
			name := fmt.Sprintf("airnest-groupcommit-%d", gcVFSSeq.Add(1))
			fs.Register(name)
			t.Cleanup(func() { vfs.Unregister(name) })
			s := NewStore()
			recs := Collection[gcRec](s)
			if err := s.Open(ctx, filepath.Join(t.TempDir(), "gc.db"), &Options{VFS: name, MaxBatch: c.maxBatch}); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			// A first commit: the WAL's header sync is behind us.
			if err := recs.Save(ctx, &gcRec{N: -1}); err != nil {
				t.Fatal(err)
			}

			held, release := make(chan struct{}), make(chan struct{})
			txErr := make(chan error, 1)
			go func() {
				txErr <- s.Tx(ctx, func(*Tx) error {
					close(held)
					<-release
					return nil // writes nothing: its commit syncs nothing
				})
			}()
			<-held
			before := fs.Syncs("-wal")
			errs := make(chan error, c.callers)
			for i := range c.callers {
				go func() { errs <- recs.Save(ctx, &gcRec{N: i}) }()
			}
			for s.sqliteDB().W.Queued() < c.callers {
				runtime.Gosched()
			}
			close(release)
			if err := <-txErr; err != nil {
				t.Fatal(err)
			}
			for range c.callers {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			syncs := fs.Syncs("-wal") - before
			if syncs != c.wantSyncs {
				t.Errorf("%d queued Saves with MaxBatch %d made %d WAL syncs, want %d", c.callers, c.maxBatch, syncs, c.wantSyncs)
			}
			if n, err := recs.Count(ctx); err != nil || n != c.callers+1 {
				t.Errorf("Count = %d, %v; want %d", n, err, c.callers+1)
			}
			t.Logf("%d queued Saves, MaxBatch %d: %d WAL syncs", c.callers, c.maxBatch, syncs)
		})
	}
}

var errPartWay = errors.New("failed after its first write")

// A write job of several statements that fails part way, committed in one
// batch with other callers' writes, leaves none of its writes behind; the
// others' writes are committed.
func TestGroupCommitJobIsAllOrNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewStore()
	recs := Collection[gcRec](s)
	if err := s.Open(ctx, filepath.Join(t.TempDir(), "gc.db"), nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	half := gcRec{ID: NewID[gcRec](), N: 1}
	blob, vals, err := recs.c.encode(nil, &half, nil)
	if err != nil {
		t.Fatal(err)
	}
	held, release := make(chan struct{}), make(chan struct{})
	txErr := make(chan error, 1)
	go func() {
		txErr <- s.Tx(ctx, func(*Tx) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	partial := make(chan error, 1)
	go func() {
		partial <- s.db.Write(&backend.Job{Ctx: ctx, Tx: true, Run: func(c backend.Conn) error {
			if err := recs.c.write(c, half.ID, blob, vals); err != nil {
				return err
			}
			return errPartWay
		}})
	}()
	other := gcRec{N: 2}
	saved := make(chan error, 1)
	go func() { saved <- recs.Save(ctx, &other) }()
	for s.sqliteDB().W.Queued() < 2 {
		runtime.Gosched()
	}
	close(release)
	if err := <-txErr; err != nil {
		t.Fatal(err)
	}
	if err := <-partial; !errors.Is(err, errPartWay) {
		t.Fatalf("the failing job returned %v", err)
	}
	if err := <-saved; err != nil {
		t.Fatalf("the Save batched with it: %v", err)
	}
	if v, err := recs.Load(ctx, half.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("the failed job's first write was committed with its batch: %+v, %v", v, err)
	}
	if _, err := recs.Load(ctx, other.ID); err != nil {
		t.Errorf("the Save batched with the failed job: %v", err)
	}
}
