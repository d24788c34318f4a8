// Quickstart: declare a struct and a collection once, then save, load,
// update and scan typed values in one SQLite file.
//
//	go run ./examples/quickstart            # uses a temporary file
//	go run ./examples/quickstart -db app.db # or a file of yours
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/airnest/airnest"
)

// Job is a plain Go struct: the ID field is all airnest asks for.
type Job struct {
	ID        airnest.ID[Job]
	Status    string
	Priority  int
	CreatedAt time.Time
	Steps     []Step // nested structs need no markup
}

type Step struct {
	Name string
	Done bool
}

// Declared at package level, opened in main once the path is known.
var (
	store = airnest.NewStore()
	Jobs  = airnest.Collection[Job](store, airnest.Index("status", "priority"))
)

func main() {
	path := flag.String("db", "", "database file (default: a temporary file)")
	flag.Parse()
	if *path == "" {
		dir, err := os.MkdirTemp("", "airnest-quickstart")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
		*path = filepath.Join(dir, "app.db")
	}
	if err := run(context.Background(), *path); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, path string) error {
	if err := store.Open(ctx, path, nil); err != nil {
		return err
	}
	defer store.Close()

	job := Job{Status: "pending", Priority: 3, CreatedAt: time.Now(), Steps: []Step{{Name: "fetch"}}}
	if err := Jobs.Save(ctx, &job); err != nil { // assigns job.ID
		return err
	}
	fmt.Printf("saved job %s (created %s)\n", job.ID, job.ID.Time().Format(time.RFC3339))

	loaded, err := Jobs.Load(ctx, job.ID)
	if err != nil {
		return err
	}
	fmt.Printf("loaded: status=%s priority=%d steps=%d\n", loaded.Status, loaded.Priority, len(loaded.Steps))

	done, err := Jobs.Update(ctx, job.ID, func(j *Job) error {
		j.Status = "done"
		j.Steps[0].Done = true
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Printf("updated: status=%s step %q done=%v\n", done.Status, done.Steps[0].Name, done.Steps[0].Done)

	for i := range 3 {
		j := Job{Status: "pending", Priority: i, CreatedAt: time.Now()}
		if err := Jobs.Save(ctx, &j); err != nil {
			return err
		}
	}
	n, err := Jobs.Count(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("%d jobs in %s\n", n, filepath.Base(path))
	for j, err := range Jobs.All(ctx) {
		if err != nil {
			return err
		}
		fmt.Printf("  %s priority=%d\n", j.Status, j.Priority)
	}
	return nil
}
