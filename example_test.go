package airnest_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/airnest/airnest"
)

// The README's first example: declare once, save, load.
type Task struct {
	ID       airnest.ID[Task] // assigned by the first Save
	Title    string
	Status   string
	Priority int
	Due      time.Time
	Notes    []Note // plain nested structs: no airnest markup
}

type Note struct {
	Text string
	At   time.Time
}

type Settings struct {
	ID    airnest.ID[Settings]
	Theme string
}

func ExampleCollection() {
	ctx := context.Background()
	store := airnest.NewStore()
	tasks := airnest.Collection[Task](store, airnest.Index("status", "priority"))
	if err := store.Open(ctx, ":memory:", nil); err != nil { // or a file path
		log.Fatal(err)
	}
	defer store.Close()

	t := Task{Title: "write README", Status: "open", Priority: 2}
	if err := tasks.Save(ctx, &t); err != nil {
		log.Fatal(err)
	}
	got, err := tasks.Load(ctx, t.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.Title, got.Status, got.ID == t.ID)

	_, err = tasks.Load(ctx, airnest.NewID[Task]())
	fmt.Println(errors.Is(err, airnest.ErrNotFound))
	// Output:
	// write README open true
	// true
}

func ExampleColl_Update() {
	ctx := context.Background()
	store, _ := airnest.OpenMemory(ctx, nil)
	defer store.Close()
	tasks := airnest.Collection[Task](store)

	t := Task{Title: "ship", Status: "open"}
	tasks.Save(ctx, &t)
	// Load, change and save in one write transaction: concurrent Updates
	// of the same value never lose each other's changes.
	t, err := tasks.Update(ctx, t.ID, func(t *Task) error {
		t.Status = "done"
		t.Notes = append(t.Notes, Note{Text: "shipped"})
		return nil
	})
	fmt.Println(t.Status, len(t.Notes), err)
	// Output: done 1 <nil>
}

func ExampleStore_Tx() {
	ctx := context.Background()
	store, _ := airnest.OpenMemory(ctx, nil)
	defer store.Close()
	tasks := airnest.Collection[Task](store)
	settings := airnest.Collection[Settings](store)

	err := store.Tx(ctx, func(tx *airnest.Tx) error {
		t := Task{Title: "in a transaction"}
		if err := tasks.In(tx).Save(ctx, &t); err != nil {
			return err
		}
		s := Settings{Theme: "dark"}
		if err := settings.In(tx).Save(ctx, &s); err != nil {
			return err
		}
		return errors.New("changed my mind") // rolls back both saves
	})
	nt, _ := tasks.Count(ctx)
	ns, _ := settings.Count(ctx)
	fmt.Println(err, nt, ns)
	// Output: changed my mind 0 0
}

func ExampleStore_View() {
	ctx := context.Background()
	store, _ := airnest.OpenMemory(ctx, nil)
	defer store.Close()
	tasks := airnest.Collection[Task](store)
	settings := airnest.Collection[Settings](store)
	tasks.Save(ctx, &Task{Title: "a"})
	settings.Save(ctx, &Settings{Theme: "light"})

	// One consistent snapshot across collections, while writers go on.
	store.View(ctx, func(tx *airnest.Tx) error {
		nt, _ := tasks.In(tx).Count(ctx)
		ns, _ := settings.In(tx).Count(ctx)
		fmt.Println(nt, ns)
		return nil
	})
	// Output: 1 1
}

func ExampleStore_DB() {
	ctx := context.Background()
	store, _ := airnest.OpenMemory(ctx, nil)
	defer store.Close()
	tasks := airnest.Collection[Task](store, airnest.Index("status", "priority"))
	for i, status := range []string{"open", "done", "open"} {
		tasks.Save(ctx, &Task{Status: status, Priority: i})
	}

	// Index columns are real SQL columns: the table is "Task" with
	// id (16-byte UUIDv7), v (the CBOR blob), status TEXT, priority INTEGER.
	db, err := store.DB()
	if err != nil {
		log.Fatal(err)
	}
	var n int
	db.QueryRowContext(ctx, `SELECT count(*) FROM "Task" WHERE "status" != ?`, "done").Scan(&n)
	fmt.Println(n)
	// Output: 2
}

func ExampleID() {
	id := airnest.NewID[Task]()
	parsed, err := airnest.ParseID[Task](id.String())
	fmt.Println(parsed == id, err, len(id.Bytes()), id.IsZero(), airnest.ID[Task]{}.IsZero())
	// var s airnest.ID[Settings] = id // does not compile: ID[Task] is not ID[Settings]
	// Output: true <nil> 16 false true
}
