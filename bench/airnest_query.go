package main

import (
	"context"

	"github.com/airnest/airnest"
)

// airQuery is the README's query: an equality on status, ordered by priority.
func airQuery(ctx context.Context, jobs *airnest.Coll[Job], status string) (int, error) {
	got, err := jobs.Where(airnest.Eq("status", status)).OrderBy("priority").Limit(50).Find(ctx)
	return len(got), err
}

func airCount(ctx context.Context, jobs *airnest.Coll[Job], status string) (int, error) {
	return jobs.Where(airnest.Eq("status", status)).Count(ctx)
}
