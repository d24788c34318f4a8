package airnest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/airnest/airnest"
	"github.com/airnest/airnest/internal/pgtest"
)

// Update from several processes loses nothing: updateProcs processes of
// updateGoroutines goroutines each increment one value updateEach times.
const (
	updateProcs      = 2
	updateGoroutines = 16
	updateEach       = 200
)

// PGCounter is the value every process increments.
type PGCounter struct {
	ID airnest.ID[PGCounter]
	N  int
}

// updateChild opens the store, waits at the barrier, then runs its
// increments and prints, as JSON, the value of N each Update returned.
func updateChild(dsn, id string) error {
	s := airnest.NewStore()
	counters := airnest.Collection[PGCounter](s)
	ctx := context.Background()
	cid, err := airnest.ParseID[PGCounter](id)
	if err != nil {
		return err
	}
	if err := s.Open(ctx, dsn, nil); err != nil {
		return err
	}
	defer s.Close()
	awaitBarrier()
	seen := make([][]int, updateGoroutines)
	errs := make([]error, updateGoroutines)
	var wg sync.WaitGroup
	for g := range updateGoroutines {
		wg.Go(func() {
			for range updateEach {
				v, err := counters.Update(ctx, cid, func(c *PGCounter) error {
					c.N++
					return nil
				})
				if err != nil {
					errs[g] = fmt.Errorf("goroutine %d, after %d increments: %w", g, len(seen[g]), err)
					return
				}
				seen[g] = append(seen[g], v.N)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return json.NewEncoder(os.Stdout).Encode(slices.Concat(seen...))
}

func TestPGUpdateAcrossProcesses(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Database(t)
	ctx := context.Background()
	s := airnest.NewStore()
	counters := airnest.Collection[PGCounter](s)
	if err := s.Open(ctx, dsn, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := PGCounter{}
	if err := counters.Save(ctx, &c); err != nil {
		t.Fatal(err)
	}

	kids := startTogether(t, updateProcs, "update", dsn, func(int) []string {
		return []string{"AIRNEST_PG_ID=" + c.ID.String()}
	})
	start := time.Now()
	var seen []int
	for i, k := range kids {
		var got []int
		if err := json.Unmarshal([]byte(k.line(t)), &got); err != nil {
			t.Fatalf("child %d's report: %v", i, err)
		}
		k.wait(t)
		seen = append(seen, got...)
	}
	took := time.Since(start)

	const total = updateProcs * updateGoroutines * updateEach
	got, err := counters.Load(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.N != total {
		t.Errorf("after %d processes × %d goroutines × %d Updates, N = %d, want %d", updateProcs, updateGoroutines, updateEach, got.N, total)
	}
	// Each Update returned the value it wrote: every count from 1 to total
	// exactly once, or two Updates read the same value.
	slices.Sort(seen)
	for i, n := range seen {
		if n != i+1 {
			t.Fatalf("the Updates returned %d values; in order, value %d is %d, want %d (a count returned twice means an increment was lost)", len(seen), i, n, i+1)
		}
	}
	if len(seen) != total {
		t.Errorf("the Updates returned %d values, want %d", len(seen), total)
	}
	t.Logf("%d processes × %d goroutines × %d Updates of one value: N = %d in %v (%.0f Updates/s)",
		updateProcs, updateGoroutines, updateEach, got.N, took.Round(time.Millisecond), float64(total)/took.Seconds())
}
