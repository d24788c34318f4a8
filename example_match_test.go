package airnest_test

import (
	"context"
	"fmt"
	"log"

	"github.com/airnest/airnest"
)

func ExampleQuery_Match() {
	ctx := context.Background()
	store, Jobs := openJobs(ctx, airnest.Index("status", "priority"))
	defer store.Close()

	// The status index narrows the rows; the function decides the rest, in Go.
	base := Jobs.Where(airnest.Ne("status", "failed"))
	odd, err := base.Where(airnest.Gte("priority", 1)).
		Match(func(j *Job) bool { return j.Priority%2 == 1 }).
		OrderBy("priority").Find(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, j := range odd {
		fmt.Println(j.Status, j.Priority)
	}
	// Output:
	// pending 1
	// done 3
	// pending 3
}

func ExampleSum() {
	ctx := context.Background()
	store, Jobs := openJobs(ctx, airnest.Index("status", "priority"))
	defer store.Close()

	total, err := airnest.Sum[int](ctx, Jobs.Where(airnest.Eq("status", "pending")), "priority")
	if err != nil {
		log.Fatal(err)
	}
	top, err := airnest.Max[int](ctx, Jobs.Where(), "priority")
	if err != nil {
		log.Fatal(err)
	}
	mean, err := airnest.Avg(ctx, Jobs.Where(), "priority")
	if err != nil {
		log.Fatal(err)
	}
	byStatus, err := airnest.CountBy[string](ctx, Jobs.Where(), "status")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d %d %.2f %v\n", total, top, mean, byStatus)
	// Output: 6 4 1.86 map[done:2 failed:1 pending:4]
}

func ExampleColl_LoadMany() {
	ctx := context.Background()
	store, Jobs := openJobs(ctx, airnest.Index("status"))
	defer store.Close()

	a, b := Job{Status: "new"}, Job{Status: "newer"}
	if err := Jobs.SaveAll(ctx, []*Job{&a, &b}); err != nil { // one transaction; assigns the IDs
		log.Fatal(err)
	}
	gone := airnest.NewID[Job]()
	vals, missing, err := Jobs.LoadMany(ctx, []airnest.ID[Job]{b.ID, gone, a.ID})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(vals[0].Status, vals[2].Status, missing[0] == gone)
	// Output: newer new true
}

func ExampleQuery_Update() {
	ctx := context.Background()
	store, Jobs := openJobs(ctx, airnest.Index("status", "priority"))
	defer store.Close()

	n, err := Jobs.Where(airnest.Eq("status", "pending")).Update(ctx, func(j *Job) (bool, error) {
		if j.Priority == 0 {
			return false, nil // leave it as it is
		}
		j.Status = "running"
		return true, nil
	})
	if err != nil {
		log.Fatal(err)
	}
	left, _ := Jobs.Where(airnest.Eq("status", "pending")).Count(ctx)
	fmt.Println(n, left)
	// Output: 3 1
}
