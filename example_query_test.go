package airnest_test

import (
	"context"
	"fmt"
	"log"

	"github.com/airnest/airnest"
)

// openJobs opens an in-memory store with a Job collection holding a few jobs.
func openJobs(ctx context.Context, opts ...airnest.Option) (*airnest.Store, *airnest.Coll[Job]) {
	store, err := airnest.OpenMemory(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	jobs := airnest.Collection[Job](store, opts...)
	for i, status := range []string{"pending", "done", "pending", "failed", "pending", "done", "pending"} {
		j := Job{Status: status, Priority: (i * 3) % 5}
		if err := jobs.Save(ctx, &j); err != nil {
			log.Fatal(err)
		}
	}
	return store, jobs
}

func ExampleColl_Where() {
	ctx := context.Background()
	store, Jobs := openJobs(ctx, airnest.Index("status", "priority"))
	defer store.Close()

	pending, err := Jobs.Where(airnest.Eq("status", "pending"), airnest.Gte("priority", 2)).
		OrderBy("priority").Limit(10).Find(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, j := range pending {
		fmt.Println(j.Status, j.Priority)
	}

	n, err := Jobs.Where(airnest.In("status", "done", "failed")).Count(ctx)
	fmt.Println(n, err)

	// Names and value types are checked: priority is an int.
	_, err = Jobs.Where(airnest.Eq("priority", "high")).Find(ctx)
	fmt.Println(err)
	// Output:
	// pending 2
	// pending 3
	// 3 <nil>
	// airnest: Job.Where: invalid: Eq("priority"): column "priority" is field Priority of type int; a string does not fit
}

func ExampleQuery_Page() {
	ctx := context.Background()
	store, Jobs := openJobs(ctx, airnest.Index("status,priority"))
	defer store.Close()

	// A server hands next to its client, which sends it back for the next page.
	q := Jobs.Where(airnest.Ne("status", "failed")).OrderByDesc("priority").Limit(4)
	cursor := ""
	for {
		page, next, err := q.After(cursor).Page(ctx)
		if err != nil {
			log.Fatal(err)
		}
		for _, j := range page {
			fmt.Print(j.Priority, " ")
		}
		fmt.Println("| more:", next != "")
		if next == "" {
			break
		}
		cursor = next
	}
	// Output:
	// 3 3 2 1 | more: true
	// 0 0 | more: false
}

func ExampleQuery_Explain() {
	ctx := context.Background()
	// "status,priority" is one composite index: SQLite finds the pending
	// jobs and reads them in priority order, with no sort.
	store, Jobs := openJobs(ctx, airnest.Index("status,priority"))
	defer store.Close()

	plan, err := Jobs.Where(airnest.Eq("status", "pending")).OrderBy("priority").Limit(10).Explain(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(plan)
	// Output:
	// QUERY PLAN
	// `--SEARCH Job USING INDEX Job__status__priority (status=?)
}

func ExampleQuery_All() {
	ctx := context.Background()
	store, Jobs := openJobs(ctx, airnest.Index("status", "priority"))
	defer store.Close()

	for j, err := range Jobs.Where(airnest.Prefix("status", "do")).OrderBy("priority").All(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(j.Status, j.Priority)
	}
	n, err := Jobs.Where(airnest.Eq("status", "done")).Delete(ctx)
	fmt.Println("deleted", n, err)
	// Output:
	// done 0
	// done 3
	// deleted 2 <nil>
}

func ExampleColl_QueryRaw() {
	ctx := context.Background()
	store, Jobs := openJobs(ctx, airnest.Index("status", "priority"))
	defer store.Close()

	// The table is named after the type; v is the stored value, and each
	// declared index is a column of its own.
	jobs, err := Jobs.QueryRaw(ctx, `SELECT v FROM "Job" WHERE "status" = ? AND "priority" % 2 = 0 ORDER BY "priority"`, "pending")
	if err != nil {
		log.Fatal(err)
	}
	for _, j := range jobs {
		fmt.Println(j.Status, j.Priority)
	}
	// Output:
	// pending 0
	// pending 2
}
