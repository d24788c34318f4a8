package airnest

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/ncruces/go-sqlite3/vfs"

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
