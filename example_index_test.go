package airnest_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/airnest/airnest"
)

// Issue is the README's example of nested, slice and computed index columns.
type Issue struct {
	ID       airnest.ID[Issue]
	Title    string
	Labels   []string // indexed by its elements
	Meta     IssueMeta
	Assignee *Person // nil: no assignee
}

type IssueMeta struct{ Severity int }

type Person struct{ Email string }

func ExampleContains() {
	ctx := context.Background()
	store, err := airnest.OpenMemory(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	Issues := airnest.Collection[Issue](store,
		airnest.Index("labels", "meta.severity", "assignee.email"),
		airnest.IndexFunc("assignee_domain", func(i *Issue) string {
			if i.Assignee == nil {
				return ""
			}
			_, domain, _ := strings.Cut(i.Assignee.Email, "@")
			return domain
		}),
	)
	for _, i := range []Issue{
		{Title: "crash on save", Labels: []string{"bug", "urgent"}, Meta: IssueMeta{Severity: 3}, Assignee: &Person{"ann@corp.example"}},
		{Title: "typo in docs", Labels: []string{"docs"}, Meta: IssueMeta{Severity: 1}},
		{Title: "slow query", Labels: []string{"bug", "perf"}, Meta: IssueMeta{Severity: 2}, Assignee: &Person{"bob@home.example"}},
		{Title: "new idea"},
	} {
		if err := Issues.Save(ctx, &i); err != nil {
			log.Fatal(err)
		}
	}

	bugs, err := Issues.Where(airnest.Contains("labels", "bug"), airnest.Gte("meta.severity", 2)).
		OrderByDesc("meta.severity").Find(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, i := range bugs {
		fmt.Println("bug:", i.Title)
	}
	n, err := Issues.Where(airnest.ContainsAny("labels", "docs", "perf")).Count(ctx)
	fmt.Println("docs or perf:", n, err)
	n, err = Issues.Where(airnest.ContainsAll("labels", "bug", "urgent")).Count(ctx)
	fmt.Println("bug and urgent:", n, err)
	n, err = Issues.Where(airnest.IsEmpty("labels")).Count(ctx)
	fmt.Println("no labels:", n, err)
	n, err = Issues.Where(airnest.IsNull("assignee.email")).Count(ctx)
	fmt.Println("unassigned:", n, err)
	n, err = Issues.Where(airnest.Eq("assignee_domain", "corp.example")).Count(ctx)
	fmt.Println("assigned at corp:", n, err)

	plan, err := Issues.Where(airnest.Contains("labels", "bug")).Explain(ctx)
	fmt.Println(plan, err)
	// Output:
	// bug: crash on save
	// bug: slow query
	// docs or perf: 2 <nil>
	// bug and urgent: 1 <nil>
	// no labels: 1 <nil>
	// unassigned: 2 <nil>
	// assigned at corp: 1 <nil>
	// QUERY PLAN
	// |--SEARCH Issue USING PRIMARY KEY (id=?)
	// `--LIST SUBQUERY 1
	//    `--SEARCH Issue__labels__elems USING PRIMARY KEY (elem=?)
	//  <nil>
}
