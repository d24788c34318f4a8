package airnest_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/airnest/airnest"
)

// Copy a store from one file to another; a postgres:// URL on either side
// copies to or from PostgreSQL the same way.
func ExampleCopy() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "copy-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	src, dst := filepath.Join(dir, "app.db"), filepath.Join(dir, "copy.db")

	store := airnest.NewStore()
	tasks := airnest.Collection[Task](store, airnest.Index("status"))
	if err := store.Open(ctx, src, nil); err != nil {
		log.Fatal(err)
	}
	for _, title := range []string{"write", "test", "ship"} {
		if err := tasks.Save(ctx, &Task{Title: title, Status: "open"}); err != nil {
			log.Fatal(err)
		}
	}
	store.Close()

	rep, err := airnest.Copy(ctx, src, dst, nil) // or "postgres://user@host/db"
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range rep.Collections {
		fmt.Printf("copied %s: %d values\n", c.Name, c.Rows)
	}
	fmt.Println("verified:", rep.Verify.OK())
	// Output:
	// copied Task: 3 values
	// verified: true
}
