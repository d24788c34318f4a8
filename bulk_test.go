package airnest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airnest/airnest"
)

func TestSaveAll(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, recs := recStoreAt(t, dsn)
		if err := recs.SaveAll(bg, nil); err != nil {
			t.Fatalf("SaveAll(nil): %v", err)
		}
		vs := make([]*Rec, 1500)
		for i := range vs {
			vs[i] = &Rec{Tag: fmt.Sprint(i, ","), N: i}
		}
		kept := airnest.NewID[Rec]()
		vs[7].ID = kept
		if err := recs.SaveAll(bg, vs); err != nil {
			t.Fatal(err)
		}
		if vs[7].ID != kept || vs[0].ID.IsZero() || vs[1499].ID.IsZero() {
			t.Fatalf("IDs: %s %s %s", vs[0].ID, vs[7].ID, vs[1499].ID)
		}
		got, err := recs.Scan(bg)
		if err != nil || len(got) != 1500 {
			t.Fatalf("Scan: %d, %v", len(got), err)
		}
		if n, _ := recs.Where(airnest.Gte("n", 1000)).Count(bg); n != 500 {
			t.Fatalf("index columns written: %d of 500", n)
		}

		// One value that cannot be indexed: nothing is written, the new
		// IDs are zero again, the error names the value.
		bad := []*Rec{{Tag: "x"}, {Tag: "y", ID: vs[3].ID, N: -1}, {Tag: "z", At: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}}
		err = recs.SaveAll(bg, bad)
		if !errors.Is(err, airnest.ErrInvalid) || !strings.Contains(err.Error(), "value 2 of 3") || !strings.Contains(err.Error(), "SaveAll") {
			t.Fatalf("SaveAll with a bad value: %v", err)
		}
		if !bad[0].ID.IsZero() || !bad[2].ID.IsZero() || bad[1].ID != vs[3].ID {
			t.Fatalf("IDs after a failed SaveAll: %s %s %s", bad[0].ID, bad[1].ID, bad[2].ID)
		}
		if v, _ := recs.Load(bg, vs[3].ID); v.N != 3 {
			t.Fatalf("a failed SaveAll changed a value: %+v", v)
		}
		if n, _ := recs.Count(bg); n != 1500 {
			t.Fatalf("a failed SaveAll left %d values, want 1500", n)
		}
		if err := recs.SaveAll(bg, []*Rec{{}, nil}); !errors.Is(err, airnest.ErrInvalid) || !strings.Contains(err.Error(), "value 1 of 2 is nil") {
			t.Fatalf("SaveAll with nil: %v", err)
		}

		// The same ID twice: the last wins.
		a, b := Rec{ID: vs[0].ID, Tag: "first"}, Rec{ID: vs[0].ID, Tag: "second"}
		if err := recs.SaveAll(bg, []*Rec{&a, &b}); err != nil {
			t.Fatal(err)
		}
		if v, _ := recs.Load(bg, vs[0].ID); v.Tag != "second" {
			t.Fatalf("duplicate IDs: %q", v.Tag)
		}

		// In a Tx a failed SaveAll leaves nothing of itself, and the Tx
		// goes on.
		err = s.Tx(bg, func(tx *airnest.Tx) error {
			in := recs.In(tx)
			ok := Rec{Tag: "in tx"}
			if err := in.SaveAll(bg, []*Rec{&ok}); err != nil {
				return err
			}
			half := []*Rec{{Tag: "half"}, {At: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}}
			if err := in.SaveAll(bg, half); !errors.Is(err, airnest.ErrInvalid) {
				return fmt.Errorf("bad SaveAll in a Tx: %v", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := recs.Where().Match(func(r *Rec) bool { return r.Tag == "half" || r.Tag == "in tx" }).Count(bg); n != 1 {
			t.Fatalf("after the Tx %d of its values are stored, want 1 (\"in tx\")", n)
		}
	})
}

func TestLoadMany(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, recs := recStoreAt(t, dsn)
		all := manyRecs(t, s, recs, 1200)
		absent := airnest.NewID[Rec]()
		ids := []airnest.ID[Rec]{all[5].ID, absent, all[0].ID, {}, all[5].ID, absent}
		for i := len(all) - 1; i >= 0; i-- {
			ids = append(ids, all[i].ID) // more than one statement's batch
		}
		vals, missing, err := recs.LoadMany(bg, ids)
		if err != nil {
			t.Fatal(err)
		}
		if len(vals) != len(ids) {
			t.Fatalf("%d values for %d ids", len(vals), len(ids))
		}
		for i, id := range ids {
			want := id
			if id == absent || id.IsZero() {
				want = airnest.ID[Rec]{}
			}
			if vals[i].ID != want {
				t.Fatalf("vals[%d].ID = %s, want %s", i, vals[i].ID, want)
			}
		}
		if vals[0].Tag != all[5].Tag || vals[4].Tag != all[5].Tag {
			t.Fatalf("repeated id: %q %q", vals[0].Tag, vals[4].Tag)
		}
		if len(missing) != 2 || missing[0] != absent || !missing[1].IsZero() {
			t.Fatalf("missing = %v, want [%s, zero]", missing, absent)
		}
		vals, missing, err = recs.LoadMany(bg, nil)
		if err != nil || len(vals) != 0 || len(missing) != 0 {
			t.Fatalf("LoadMany(nil): %v %v %v", vals, missing, err)
		}
		// In a View: the same, in one snapshot.
		err = s.View(bg, func(tx *airnest.Tx) error {
			vals, missing, err := recs.In(tx).LoadMany(bg, []airnest.ID[Rec]{absent, all[9].ID})
			if err != nil || vals[1].Tag != all[9].Tag || len(missing) != 1 {
				return fmt.Errorf("in a View: %v %v %v", vals, missing, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(bg)
		cancel()
		if _, _, err := recs.LoadMany(ctx, ids); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled LoadMany: %v", err)
		}
	})
}

func TestQueryUpdate(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, recs := recStoreAt(t, dsn)
		all := manyRecs(t, s, recs, 700)
		if _, err := recs.Where().Update(bg, nil); !errors.Is(err, airnest.ErrInvalid) {
			t.Fatalf("Update(nil): %v", err)
		}
		// Every value with n >= 0 whose U8 is even gets P set; the odd
		// ones are skipped by the function.
		q := recs.Where(airnest.Gte("n", 0))
		n, err := q.Update(bg, func(r *Rec) (bool, error) {
			if r.U8%2 == 1 {
				return false, nil
			}
			r.P = ptr(int(r.U8))
			return true, nil
		})
		want := keep(all, func(r Rec) bool { return r.N >= 0 && r.U8%2 == 0 })
		if err != nil || n != len(want) {
			t.Fatalf("Update: %d, %v; want %d", n, err, len(want))
		}
		got, err := recs.Where(airnest.Gte("p", 0)).Find(bg) // through the index column Update wrote
		if err != nil || tags(got) != tags(want) {
			t.Fatalf("after Update:\n got %s\nwant %s (%v)", tags(got), tags(want), err)
		}

		// Ordered by the column it changes, with a Limit: each of the first
		// 300 is changed once, none twice.
		n, err = recs.Where().OrderBy("u8").Limit(300).Update(bg, func(r *Rec) (bool, error) {
			r.U8 += 100
			r.N += 1000
			return true, nil
		})
		if err != nil || n != 300 {
			t.Fatalf("Update with Limit: %d, %v", n, err)
		}
		if c, _ := recs.Where(airnest.Gte("n", 900)).Count(bg); c != 300 {
			t.Fatalf("%d values changed, want 300", c)
		}
		if c, _ := recs.Where(airnest.Gte("n", 1900)).Count(bg); c != 0 {
			t.Fatalf("%d values changed twice", c)
		}

		// An error from fn stops it: its batch writes nothing.
		calls := 0
		stop := errors.New("stop here")
		n, err = recs.Where().Update(bg, func(r *Rec) (bool, error) {
			calls++
			if calls == 300 {
				return false, stop
			}
			r.S = "touched"
			return true, nil
		})
		if !errors.Is(err, stop) || n != 256 {
			t.Fatalf("Update stopped by fn: %d, %v; want the first batch (256) and the error", n, err)
		}
		if c, _ := recs.Where(airnest.Eq("s", "touched")).Count(bg); c != 256 {
			t.Fatalf("%d values touched, want 256", c)
		}
		if _, err := recs.Where().Update(bg, func(r *Rec) (bool, error) { r.ID = airnest.NewID[Rec](); return true, nil }); !errors.Is(err, airnest.ErrInvalid) {
			t.Fatalf("an fn that changes the ID: %v", err)
		}
	})
}

// Two Updates of the same values at once lose neither's change: each batch
// reads its values again under the write lock.
func TestQueryUpdateConcurrent(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, recs := recStoreAt(t, dsn)
		manyRecs(t, s, recs, 400)
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := recs.Where(airnest.Gte("n", -100)).Update(bg, func(r *Rec) (bool, error) {
					r.N += 10
					return true, nil
				})
				if err == nil && n != 400 {
					err = fmt.Errorf("updated %d of 400", n)
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		all, _ := recs.Scan(bg)
		for i, v := range all {
			if v.N != i%7-3+40 {
				t.Fatalf("value %s: N = %d, want %d (an update was lost)", v.Tag, v.N, i%7-3+40)
			}
		}
	})
}

// Inside a Tx, Match's Delete and Query.Update are part of it: a rollback
// undoes every batch; in a View they are refused.
func TestQueryWritesInTx(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, recs := recStoreAt(t, dsn)
		manyRecs(t, s, recs, 600)
		undo := errors.New("undo")
		err := s.Tx(bg, func(tx *airnest.Tx) error {
			in := recs.In(tx)
			n, err := in.Where().Match(func(r *Rec) bool { return r.N < 0 }).Delete(bg)
			if err != nil || n == 0 {
				return fmt.Errorf("Delete in a Tx: %d, %v", n, err)
			}
			if u, err := in.Where().Update(bg, func(r *Rec) (bool, error) { r.S = "tx"; return true, nil }); err != nil || u != 600-n {
				return fmt.Errorf("Update in a Tx: %d, %v; want %d", u, err, 600-n)
			}
			if c, _ := in.Where(airnest.Eq("s", "tx")).Count(bg); c != 600-n {
				return fmt.Errorf("inside the Tx %d values updated, want %d", c, 600-n)
			}
			return undo
		})
		if !errors.Is(err, undo) {
			t.Fatal(err)
		}
		if c, _ := recs.Count(bg); c != 600 {
			t.Fatalf("after the rollback %d values, want 600", c)
		}
		if c, _ := recs.Where(airnest.Eq("s", "tx")).Count(bg); c != 0 {
			t.Fatalf("after the rollback %d values still updated", c)
		}
		err = s.View(bg, func(tx *airnest.Tx) error {
			if _, err := recs.In(tx).Where().Update(bg, func(*Rec) (bool, error) { return true, nil }); !errors.Is(err, airnest.ErrInvalid) {
				return fmt.Errorf("Update in a View: %v", err)
			}
			if _, err := recs.In(tx).Where().Match(func(*Rec) bool { return true }).Delete(bg); !errors.Is(err, airnest.ErrInvalid) {
				return fmt.Errorf("Delete in a View: %v", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
