package airnest_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/airnest/airnest"
)

// hangLimit only tells a hang from an answer: every call below answers at
// once or never. It is no speed check.
const hangLimit = 2 * time.Minute

// noHang runs call on its own goroutine and returns its error, failing the
// test if it never returns (it waits for itself).
func noHang(t *testing.T, what string, call func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	ctx, cancel := context.WithTimeout(bg, hangLimit)
	defer cancel()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		t.Fatalf("%s never returned: it waits for itself", what)
		return nil
	}
}

// Every call that waits for work in flight or for a free reader returns
// ErrInvalid, or works, when the caller is that work: inside a View, a Tx,
// an Update function, an All loop, a Backup's progress function.
func TestSelfWaitingCallsDoNotHang(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		open := func(t *testing.T, readers int) (*airnest.Store, *airnest.Coll[Job], Job) {
			s := airnest.NewStore()
			jobs := airnest.Collection[Job](s, airnest.Index("status"))
			if err := s.Open(bg, anotherStore(t, dsn), &airnest.Options{Readers: readers}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			j := Job{Status: "a"}
			if err := jobs.Save(bg, &j); err != nil {
				t.Fatal(err)
			}
			return s, jobs, j
		}
		invalid := func(t *testing.T, what string, err error) {
			t.Helper()
			if !errors.Is(err, airnest.ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", what, err)
			}
		}
		ok := func(t *testing.T, what string, err error) {
			t.Helper()
			if err != nil {
				t.Errorf("%s: %v, want it to work", what, err)
			}
		}

		t.Run("CloseInView", func(t *testing.T) {
			s, _, _ := open(t, 0)
			invalid(t, "Close inside View", noHang(t, "Close inside View", func() error {
				var inner error
				err := s.View(bg, func(*airnest.Tx) error { inner = s.Close(); return nil })
				return errors.Join(inner, err)
			}))
		})
		t.Run("CloseInTxInUpdate", func(t *testing.T) {
			s, jobs, j := open(t, 0)
			invalid(t, "Close inside Tx", noHang(t, "Close inside Tx", func() error {
				return s.Tx(bg, func(*airnest.Tx) error { return s.Close() })
			}))
			invalid(t, "Close inside Update", noHang(t, "Close inside Update", func() error {
				_, err := jobs.Update(bg, j.ID, func(*Job) error { return s.Close() })
				return err
			}))
		})
		t.Run("CloseInBackupProgress", func(t *testing.T) {
			if maintenance[backendOf(dsn)].backup != "" {
				t.Skip("no Backup, so no progress function, on " + backendOf(dsn))
			}
			s, _, _ := open(t, 0)
			dest := filepath.Join(t.TempDir(), "copy.db")
			var inner error
			err := noHang(t, "Close inside a Backup progress function", func() error {
				return s.Backup(bg, dest, &airnest.BackupOptions{Progress: func(done, total int) {
					if inner == nil {
						inner = s.Close()
					}
				}})
			})
			ok(t, "Backup", err)
			invalid(t, "Close inside Backup's progress", inner)
		})
		t.Run("CloseInAllLoop", func(t *testing.T) {
			// All holds nothing while the body runs: Close works, and the
			// loop then ends with ErrClosed or simply ends.
			s, jobs, _ := open(t, 0)
			ok(t, "Close inside All", noHang(t, "Close inside All", func() error {
				for _, err := range jobs.All(bg) {
					if err != nil {
						return err
					}
					return s.Close()
				}
				return nil
			}))
		})
		t.Run("VacuumInView", func(t *testing.T) {
			s, _, _ := open(t, 0)
			invalid(t, "Vacuum inside View", noHang(t, "Vacuum inside View", func() error {
				return s.View(bg, func(*airnest.Tx) error { return s.Vacuum(bg) })
			}))
		})
		// With a single reader, held by the View, every read through the store
		// (not the Tx) would wait for it forever: it gets a reader of its own.
		t.Run("ReadsInViewWithOneReader", func(t *testing.T) {
			s, jobs, j := open(t, 1)
			ok(t, "reads inside View", noHang(t, "reads inside View", func() error {
				return s.View(bg, func(tx *airnest.Tx) error {
					if _, err := jobs.Load(bg, j.ID); err != nil {
						return err
					}
					if _, err := jobs.Where(airnest.Eq("status", "a")).Find(bg); err != nil {
						return err
					}
					for _, err := range jobs.Where().All(bg) {
						if err != nil {
							return err
						}
					}
					if _, err := s.Stats(bg); err != nil {
						return err
					}
					if _, err := s.Verify(bg); err != nil {
						return err
					}
					if err := unlessRefused(dsn, "backup", s.Backup(bg, filepath.Join(t.TempDir(), "b.db"), nil)); err != nil {
						return err
					}
					return s.View(bg, func(*airnest.Tx) error { return nil })
				})
			}))
			// Many nested reads leave the pool at its size: the next reads
			// still find the one reader.
			ok(t, "read after", noHang(t, "read after", func() error {
				_, err := jobs.Load(bg, j.ID)
				return err
			}))
		})
		t.Run("WritesInViewAndAll", func(t *testing.T) {
			s, jobs, j := open(t, 1)
			ok(t, "writes inside View", noHang(t, "writes inside View", func() error {
				return s.View(bg, func(tx *airnest.Tx) error {
					k := Job{Status: "b"}
					if err := jobs.Save(bg, &k); err != nil {
						return err
					}
					if _, err := jobs.Update(bg, j.ID, func(v *Job) error { v.Status = "c"; return nil }); err != nil {
						return err
					}
					if err := s.Tx(bg, func(tx *airnest.Tx) error { return jobs.In(tx).Delete(bg, k.ID) }); err != nil {
						return err
					}
					_, err := airnest.Migrate(bg, jobs, func(o Job) (Job, error) { return o, nil }, nil)
					return err
				})
			}))
			ok(t, "writes inside All", noHang(t, "writes inside All", func() error {
				for v, err := range jobs.Where(airnest.Eq("status", "c")).All(bg) {
					if err != nil {
						return err
					}
					if _, err := jobs.Update(bg, v.ID, func(v *Job) error { v.Status = "d"; return nil }); err != nil {
						return err
					}
					if err := unlessRefused(dsn, "vacuum", s.Vacuum(bg)); err != nil {
						return err
					}
				}
				return nil
			}))
		})
	})
}
