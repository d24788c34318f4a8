package airnest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/airnest/airnest"
)

// WALItem is a value of a few KiB, so a few writes fill many WAL pages.
type WALItem struct {
	ID   airnest.ID[WALItem]
	Body []byte
}

func openWAL(t *testing.T, opts *airnest.Options) (*airnest.Store, *airnest.Coll[WALItem], string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "w.db")
	s := airnest.NewStore()
	items := airnest.Collection[WALItem](s)
	if err := s.Open(bg, path, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, items, path
}

// writeMiB saves about n MiB in transactions of 1 MiB.
func writeMiB(t *testing.T, s *airnest.Store, items *airnest.Coll[WALItem], n int) {
	t.Helper()
	for range n {
		err := s.Tx(bg, func(tx *airnest.Tx) error {
			for range 16 {
				if err := items.In(tx).Save(bg, &WALItem{Body: make([]byte, 64<<10)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func walSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// The checkpoint options reach SQLite: the defaults, a chosen interval and
// limit, and NoCheckpoint, on every connection that can write.
func TestCheckpointOptionsSetThePragmas(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		opts        *airnest.Options
		ckpt, limit int64
	}{
		{"defaults", nil, 4000, 2 * 4096 * 4000},
		{"chosen", &airnest.Options{CheckpointPages: 10000, WALSizeLimit: 8 << 20}, 10000, 8 << 20},
		{"large interval raises the default limit", &airnest.Options{CheckpointPages: 10000}, 10000, 2 * 4096 * 10000},
		{"external tool", &airnest.Options{CheckpointPages: airnest.NoCheckpoint}, 0, 2 * 4096 * 4000},
		{"no limit", &airnest.Options{WALSizeLimit: -1}, 4000, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, _ := openWAL(t, tc.opts)
			db, err := s.DB()
			if err != nil {
				t.Fatal(err)
			}
			var ckpt, limit int64
			if err := db.QueryRow("PRAGMA wal_autocheckpoint").Scan(&ckpt); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRow("PRAGMA journal_size_limit").Scan(&limit); err != nil {
				t.Fatal(err)
			}
			if ckpt != tc.ckpt || limit != tc.limit {
				t.Errorf("wal_autocheckpoint = %d, journal_size_limit = %d; want %d, %d", ckpt, limit, tc.ckpt, tc.limit)
			}
		})
	}
}

func TestCheckpointOptionsRejectNonsense(t *testing.T) {
	t.Parallel()
	for _, opts := range []*airnest.Options{{CheckpointPages: -2}, {WALSizeLimit: -5}} {
		s := airnest.NewStore()
		err := s.Open(bg, filepath.Join(t.TempDir(), "x.db"), opts)
		if !errors.Is(err, airnest.ErrInvalid) {
			t.Errorf("Open(%+v) = %v, want ErrInvalid", *opts, err)
		}
		if err == nil {
			s.Close()
		}
	}
}

// With NoCheckpoint the writer never checkpoints: 20 MiB of writes, more
// than the default interval of 4000 pages (16 MiB), all stay in the WAL.
func TestNoCheckpointLeavesTheWALToAnotherTool(t *testing.T) {
	t.Parallel()
	s, items, path := openWAL(t, &airnest.Options{CheckpointPages: airnest.NoCheckpoint})
	writeMiB(t, s, items, 20)
	if got := walSize(t, path); got < 20<<20 {
		t.Fatalf("WAL is %d bytes after 20 MiB of writes: the writer checkpointed", got)
	}
}

// A WAL that grew while a reader held it is cut back to WALSizeLimit at its
// next restart, instead of keeping its peak size for ever.
func TestWALShrinksToItsLimitAfterABurst(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	s, items, path := openWAL(t, &airnest.Options{CheckpointPages: 64, WALSizeLimit: limit})
	writeMiB(t, s, items, 1)

	// A snapshot held open keeps the checkpoint from restarting the WAL,
	// so it grows past the limit.
	inView, release, viewDone := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		viewDone <- s.View(bg, func(tx *airnest.Tx) error {
			_, err := items.In(tx).Count(bg)
			close(inView)
			<-release
			return err
		})
	}()
	<-inView
	writeMiB(t, s, items, 6)
	peak := walSize(t, path)
	close(release)
	if err := <-viewDone; err != nil {
		t.Fatal(err)
	}
	if peak < 5<<20 {
		t.Fatalf("WAL peaked at %d bytes under the held snapshot; the test needs it past 5 MiB", peak)
	}

	// The next commit checkpoints everything; the one after restarts the
	// WAL from its start and truncates the file to the limit.
	for range 4 {
		if err := items.Save(bg, &WALItem{Body: make([]byte, 100)}); err != nil {
			t.Fatal(err)
		}
		if walSize(t, path) <= limit {
			return
		}
	}
	t.Fatalf("WAL still %d bytes after the reader left (peak %d, limit %d)", walSize(t, path), peak, limit)
}

// The README's Litestream setting: the store's writer leaves checkpoints to
// Litestream.
func ExampleOptions_litestream() {
	dir, err := os.MkdirTemp("", "airnest-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ctx, path := context.Background(), filepath.Join(dir, "app.db")

	store, err := airnest.Open(ctx, path, &airnest.Options{
		CheckpointPages: airnest.NoCheckpoint, // Litestream checkpoints
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()

	db, err := store.DB()
	if err != nil {
		fmt.Println(err)
		return
	}
	var pages int
	if err := db.QueryRow("PRAGMA wal_autocheckpoint").Scan(&pages); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("the writer checkpoints every", pages, "pages (0: never)")
	// Output: the writer checkpoints every 0 pages (0: never)
}
