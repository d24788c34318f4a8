package airnest_test

import (
	"context"
	"fmt"
	"log"

	"github.com/airnest/airnest"
)

func ExampleColl_Watch() {
	ctx := context.Background()
	store := airnest.NewStore()
	Jobs := airnest.Collection[Job](store, airnest.Index("status"), airnest.ChangeLog(airnest.Retention{Changes: 100_000}))
	if err := store.Open(ctx, ":memory:", nil); err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	job := Job{Status: "pending"}
	Jobs.Save(ctx, &job)
	job.Status = "done"
	Jobs.Save(ctx, &job)
	Jobs.Delete(ctx, job.ID)

	// Resume after Seq 0: every change in the log, then new ones as they
	// commit. Record ch.Seq to resume after it later.
	n := 0
	for ch, err := range Jobs.Watch(ctx, &airnest.WatchOptions{Resume: true, After: 0}) {
		if err != nil {
			log.Fatal(err) // errors.Is(err, airnest.ErrGap): the log no longer reaches back
		}
		fmt.Println(ch.Seq, ch.Op, ch.Value.Status)
		if n++; n == 3 {
			break // or cancel ctx
		}
	}
	// Output:
	// 1 Saved pending
	// 2 Saved done
	// 3 Deleted
}

func ExampleQuery_Watch() {
	ctx := context.Background()
	store := airnest.NewStore()
	Jobs := airnest.Collection[Job](store, airnest.Index("status"), airnest.ChangeLog(airnest.Retention{}))
	if err := store.Open(ctx, ":memory:", nil); err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	a, b := Job{Status: "pending"}, Job{Status: "done"}
	Jobs.Save(ctx, &a)
	Jobs.Save(ctx, &b)
	a.Status = "done" // a leaves the query
	Jobs.Save(ctx, &a)

	n := 0
	pending := Jobs.Where(airnest.Eq("status", "pending"))
	for ch, err := range pending.Watch(ctx, &airnest.WatchOptions{Resume: true}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(ch.Op, ch.ID == a.ID, ch.Value.Status)
		if n++; n == 3 {
			break
		}
	}
	// Output:
	// Saved true pending
	// Left false done
	// Left true done
}
