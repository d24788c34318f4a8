package airnest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/airnest/airnest"
)

func TestTxAcrossCollections(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, jobs, sessions := testStoreAt(t, dsn)
		boom := errors.New("half-way")
		err := s.Tx(bg, func(tx *airnest.Tx) error {
			j := Job{Status: "in-tx"}
			if err := jobs.In(tx).Save(bg, &j); err != nil {
				return err
			}
			// Inside the tx its own writes are visible.
			if ok, err := jobs.In(tx).Exists(bg, j.ID); !ok || err != nil {
				return fmt.Errorf("own write not visible: %v %v", ok, err)
			}
			se := Session{User: "ann"}
			if err := sessions.In(tx).Save(bg, &se); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Tx returned %v", err)
		}
		if n, _ := jobs.Count(bg); n != 0 {
			t.Fatalf("%d jobs after rolled-back tx", n)
		}
		if n, _ := sessions.Count(bg); n != 0 {
			t.Fatalf("%d sessions after rolled-back tx", n)
		}

		var kept *airnest.Tx
		err = s.Tx(bg, func(tx *airnest.Tx) error {
			kept = tx
			j := Job{Status: "ok"}
			se := Session{User: "bob"}
			if err := jobs.In(tx).Save(bg, &j); err != nil {
				return err
			}
			return sessions.In(tx).Save(bg, &se)
		})
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := jobs.Count(bg); n != 1 {
			t.Fatalf("%d jobs after committed tx", n)
		}
		j := Job{}
		if err := jobs.In(kept).Save(bg, &j); !errors.Is(err, airnest.ErrTxDone) {
			t.Fatalf("use after tx: %v, want ErrTxDone", err)
		}
	})
}

func TestTxPanicRollsBack(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, jobs, _ := testStoreAt(t, dsn)
		func() {
			defer func() {
				if r := recover(); r != "tx panic" {
					t.Fatalf("recovered %v", r)
				}
			}()
			s.Tx(bg, func(tx *airnest.Tx) error {
				j := Job{}
				if err := jobs.In(tx).Save(bg, &j); err != nil {
					t.Errorf("Save inside the Tx: %v", err)
				}
				if n, err := jobs.In(tx).Count(bg); n != 1 || err != nil {
					t.Errorf("inside the Tx: %d jobs (%v), want the one saved", n, err)
				}
				panic("tx panic")
			})
		}()
		if n, _ := jobs.Count(bg); n != 0 {
			t.Fatalf("%d jobs after a panicking tx", n)
		}
		// The writer is usable again.
		j := Job{}
		if err := jobs.Save(bg, &j); err != nil {
			t.Fatal(err)
		}
	})
}

func TestTxCancelledContextRollsBack(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, jobs, _ := testStoreAt(t, dsn)
		ctx, cancel := context.WithCancel(bg)
		err := s.Tx(ctx, func(tx *airnest.Tx) error {
			j := Job{}
			if err := jobs.In(tx).Save(bg, &j); err != nil {
				return err
			}
			cancel()
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Tx with cancelled ctx: %v", err)
		}
		if n, _ := jobs.Count(bg); n != 0 {
			t.Fatalf("%d jobs after cancelled tx", n)
		}
		j := Job{}
		if err := jobs.Save(bg, &j); err != nil {
			t.Fatalf("store unusable after cancelled tx: %v", err)
		}
	})
}

func TestTxNestedIsSavepoint(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, jobs, _ := testStoreAt(t, dsn)
		inner := errors.New("inner")
		err := s.Tx(bg, func(tx *airnest.Tx) error {
			a := Job{Status: "outer"}
			if err := jobs.In(tx).Save(bg, &a); err != nil {
				return err
			}
			err := s.Tx(bg, func(tx2 *airnest.Tx) error {
				b := Job{Status: "inner"}
				if err := jobs.In(tx2).Save(bg, &b); err != nil {
					return err
				}
				return inner
			})
			if !errors.Is(err, inner) {
				return fmt.Errorf("nested tx returned %v", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		all, _ := jobs.Scan(bg)
		if len(all) != 1 || all[0].Status != "outer" {
			t.Fatalf("after nested rollback: %+v", all)
		}
	})
}

func TestWriteThroughStoreInsideTxDoesNotDeadlock(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, jobs, _ := testStoreAt(t, dsn)
		err := noHang(t, "Save through the store inside Tx", func() error {
			return s.Tx(bg, func(tx *airnest.Tx) error {
				j := Job{}
				return jobs.Save(bg, &j) // not In(tx): must not wait for itself
			})
		})
		if !errors.Is(err, airnest.ErrInvalid) {
			t.Fatalf("Save outside tx inside Tx: %v, want ErrInvalid", err)
		}
		// Same for an Update function that writes through the store.
		j := Job{}
		jobs.Save(bg, &j)
		err = noHang(t, "Save inside an Update function", func() error {
			_, err := jobs.Update(bg, j.ID, func(*Job) error {
				k := Job{}
				return jobs.Save(bg, &k)
			})
			return err
		})
		if !errors.Is(err, airnest.ErrInvalid) {
			t.Fatalf("Save inside Update fn: %v, want ErrInvalid", err)
		}
	})
}

func TestViewIsASnapshot(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, jobs, _ := testStoreAt(t, dsn)
		j := Job{Priority: 1}
		jobs.Save(bg, &j)
		err := s.View(bg, func(tx *airnest.Tx) error {
			before, err := jobs.In(tx).Count(bg)
			if err != nil {
				return err
			}
			k := Job{}
			if err := jobs.Save(bg, &k); err != nil { // another writer commits meanwhile
				return err
			}
			after, err := jobs.In(tx).Count(bg)
			if err != nil {
				return err
			}
			if before != 1 || after != 1 {
				return fmt.Errorf("snapshot saw %d then %d values", before, after)
			}
			if err := jobs.In(tx).Save(bg, &k); !errors.Is(err, airnest.ErrInvalid) {
				return fmt.Errorf("write in View: %v", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := jobs.Count(bg); n != 2 {
			t.Fatalf("count %d after view", n)
		}
	})
}

func TestUniqueConflict(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, _, sessions := testStoreAt(t, dsn)
		a := Session{User: "ann"}
		if err := sessions.Save(bg, &a); err != nil {
			t.Fatal(err)
		}
		b := Session{User: "ann"}
		err := sessions.Save(bg, &b)
		if !errors.Is(err, airnest.ErrConflict) {
			t.Fatalf("duplicate unique value: %v, want ErrConflict", err)
		}
		if !b.ID.IsZero() {
			t.Fatal("failed Save left an assigned ID behind")
		}
		// Re-saving the same value is an update, not a conflict.
		a.Messages = []string{"hi"}
		if err := sessions.Save(bg, &a); err != nil {
			t.Fatal(err)
		}
		// Inside a Tx, a conflict the closure catches undoes only that
		// write: the Tx goes on and commits the rest.
		err = s.Tx(bg, func(tx *airnest.Tx) error {
			before := Session{User: "before"}
			if err := sessions.In(tx).Save(bg, &before); err != nil {
				return err
			}
			dup := Session{User: "ann"}
			if err := sessions.In(tx).Save(bg, &dup); !errors.Is(err, airnest.ErrConflict) {
				return fmt.Errorf("duplicate inside Tx: %v, want ErrConflict", err)
			}
			after := Session{User: "after"}
			return sessions.In(tx).Save(bg, &after)
		})
		if err != nil {
			t.Fatalf("Tx after a caught conflict: %v", err)
		}
		var users []string
		for _, se := range mustScan(t, sessions) {
			users = append(users, se.User)
		}
		slices.Sort(users)
		if !slices.Equal(users, []string{"after", "ann", "before"}) {
			t.Fatalf("users %v after the Tx, want after, ann, before", users)
		}
	})
}
