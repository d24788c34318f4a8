package airnest_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/airnest/airnest"
)

// TicketV1 is the shape the tasks were first stored in: tags in one string.
type TicketV1 struct {
	ID    airnest.ID[TicketV1]
	Title string
	Tags  string // "a,b,c"
	State string
}

// Ticket is the new shape: Tags became a list, a field was added. The stored
// field names are the same, so only Tags needs converting.
type Ticket struct {
	ID      airnest.ID[Ticket]
	Title   string
	Tags    []string
	State   string
	Version int
}

func toTicket(old TicketV1) (Ticket, error) {
	var tags []string
	if old.Tags != "" {
		tags = strings.Split(old.Tags, ",")
	}
	state := old.State
	if state == "open" {
		state = "todo" // the new program's name for it
	}
	return Ticket{ID: airnest.ID[Ticket](old.ID), Title: old.Title, Tags: tags, State: state, Version: 2}, nil
}

// writeTicketsV1 stores n tasks in the old shape and returns their IDs in order.
func writeTicketsV1(t testing.TB, dsn string, n int) []airnest.ID[TicketV1] {
	t.Helper()
	s := airnest.NewStore()
	tasks := airnest.Collection[TicketV1](s, airnest.Name("Ticket"), airnest.Index("state"))
	if err := s.Open(bg, dsn, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ids []airnest.ID[TicketV1]
	err := s.Tx(bg, func(tx *airnest.Tx) error {
		for i := range n {
			v := TicketV1{Title: fmt.Sprintf("task %d", i), Tags: fmt.Sprintf("t%d,even%v", i, i%2 == 0), State: "open"}
			if err := tasks.In(tx).Save(bg, &v); err != nil {
				return err
			}
			ids = append(ids, v.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// openTicketsV2 opens dsn with the new declaration. It declares no new
// index: Open back-fills a new index column from the stored values, which
// fails while they are still in the old shape.
func openTicketsV2(t testing.TB, dsn string) (*airnest.Store, *airnest.Coll[Ticket]) {
	t.Helper()
	s := airnest.NewStore()
	tasks := airnest.Collection[Ticket](s, airnest.Index("state"))
	if err := s.Open(bg, dsn, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, tasks
}

func checkMigrated(t *testing.T, s *airnest.Store, tasks *airnest.Coll[Ticket], ids []airnest.ID[TicketV1]) {
	t.Helper()
	for i, id := range ids {
		got, err := tasks.Load(bg, airnest.ID[Ticket](id))
		if err != nil {
			t.Fatalf("task %d: %v", i, err)
		}
		want := []string{fmt.Sprintf("t%d", i), fmt.Sprintf("even%v", i%2 == 0)}
		if got.Title != fmt.Sprintf("task %d", i) || !slices.Equal(got.Tags, want) || got.Version != 2 || got.State != "todo" || got.ID != airnest.ID[Ticket](id) {
			t.Fatalf("task %d migrated to %+v", i, got)
		}
	}
	// The index columns were rewritten with the values.
	db, err := s.DB()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM "Ticket" WHERE state = 'todo'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(ids) {
		t.Fatalf("%d rows have state = 'todo' in the index column, want %d", n, len(ids))
	}
}

func TestMigrateResumesAfterError(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		ids := writeTicketsV1(t, dsn, 1234)
		s, tasks := openTicketsV2(t, dsn)

		if _, err := tasks.Load(bg, airnest.ID[Ticket](ids[0])); !errors.Is(err, airnest.ErrSchema) {
			t.Fatalf("Load before Migrate: %v, want ErrSchema", err)
		}

		boom := errors.New("boom")
		calls := 0
		var progress [][2]int
		opts := &airnest.MigrateOptions{Progress: func(done, total int) { progress = append(progress, [2]int{done, total}) }}
		n, err := airnest.Migrate(bg, tasks, func(old TicketV1) (Ticket, error) {
			calls++
			if calls == 700 {
				return Ticket{}, boom
			}
			return toTicket(old)
		}, opts)
		if !errors.Is(err, boom) || n != 500 {
			t.Fatalf("interrupted Migrate: %d, %v; want 500, boom", n, err)
		}
		if !slices.Equal(progress, [][2]int{{500, 1234}}) {
			t.Fatalf("progress %v", progress)
		}
		if _, err := tasks.Load(bg, airnest.ID[Ticket](ids[499])); err != nil {
			t.Fatalf("a converted value: %v", err)
		}
		if _, err := tasks.Load(bg, airnest.ID[Ticket](ids[500])); !errors.Is(err, airnest.ErrSchema) {
			t.Fatalf("a value of the rolled back batch: %v, want ErrSchema", err)
		}

		// Saved after the migration started: already new, never touched.
		fresh := Ticket{Title: "fresh", Tags: []string{"z"}, Version: 3}
		if err := tasks.Save(bg, &fresh); err != nil {
			t.Fatal(err)
		}

		calls, progress = 0, nil
		n, err = airnest.Migrate(bg, tasks, func(old TicketV1) (Ticket, error) {
			calls++
			return toTicket(old)
		}, opts)
		if err != nil || n != 734 || calls != 734 {
			t.Fatalf("resumed Migrate: %d, %v, %d calls; want 734 each", n, err, calls)
		}
		if !slices.Equal(progress, [][2]int{{1000, 1234}, {1234, 1234}}) {
			t.Fatalf("progress %v", progress)
		}
		checkMigrated(t, s, tasks, ids)
		if got, err := tasks.Load(bg, fresh.ID); err != nil || got.Version != 3 {
			t.Fatalf("value saved during the migration: %+v, %v", got, err)
		}

		// Finished: a call at the next start does nothing.
		n, err = airnest.Migrate(bg, tasks, func(old TicketV1) (Ticket, error) {
			t.Fatal("conversion called after the migration finished")
			return Ticket{}, nil
		}, nil)
		if err != nil || n != 0 {
			t.Fatalf("Migrate after finishing: %d, %v", n, err)
		}
	})
}

// migrateCrashChild is the process TestMigrateResumesAfterCrash kills
// (dispatched from TestMain): it exits mid-batch, mid-transaction, as a
// crash would.
func migrateCrashChild(path string) {
	s := airnest.NewStore()
	defer s.Close()
	tasks := airnest.Collection[Ticket](s, airnest.Index("state"))
	if err := s.Open(bg, path, nil); err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	calls := 0
	airnest.Migrate(bg, tasks, func(old TicketV1) (Ticket, error) {
		calls++
		if calls == 1100 {
			os.Exit(7)
		}
		return toTicket(old)
	}, nil)
}

// SQLite only: a kill -9 mid-batch tests the file's rollback journal.
func TestMigrateResumesAfterCrash(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "m.db")
	ids := writeTicketsV1(t, path, 1234)

	cmd := exec.Command(os.Args[0]) // TestMain runs migrateCrashChild
	cmd.Env = append(os.Environ(), "AIRNEST_MIGRATE_CRASH="+path)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("helper: %v\n%s", err, out)
	}

	s, tasks := openTicketsV2(t, path)
	calls := 0
	n, err := airnest.Migrate(bg, tasks, func(old TicketV1) (Ticket, error) {
		calls++
		return toTicket(old)
	}, nil)
	// Two batches of 500 committed before the crash; the third was lost.
	if err != nil || n != 234 || calls != 234 {
		t.Fatalf("Migrate after the crash: %d, %v, %d calls; want 234", n, err, calls)
	}
	checkMigrated(t, s, tasks, ids)
}

func TestMigrateUndecodable(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		writeTicketsV1(t, dsn, 3)
		_, tasks := openTicketsV2(t, dsn)
		// An Old type that does not describe what was stored either.
		type Wrong struct {
			ID    airnest.ID[Ticket]
			Title int
		}
		_, err := airnest.Migrate(bg, tasks, func(Wrong) (Ticket, error) { return Ticket{}, nil }, nil)
		if !errors.Is(err, airnest.ErrSchema) || !strings.Contains(err.Error(), `"Title"`) {
			t.Fatalf("Migrate from a wrong Old type: %v", err)
		}
		_, err = airnest.Migrate(bg, tasks, func(old TicketV1) (Ticket, error) { return Ticket{ID: airnest.NewID[Ticket]()}, nil }, nil)
		if !errors.Is(err, airnest.ErrInvalid) {
			t.Fatalf("conversion that changes the ID: %v", err)
		}
	})
}

// ArticleV1 is how articles were first stored: tags in one string.
type ArticleV1 struct {
	ID    airnest.ID[ArticleV1]
	Title string
	Tags  string // "go,sqlite"
}

// Article is the current type: Tags became a list. Stored values still
// hold a string there, so Load fails with ErrSchema until they are
// converted.
type Article struct {
	ID    airnest.ID[Article]
	Title string
	Tags  []string
}

func ExampleMigrate() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "airnest-migrate")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "blog.db")

	// Last release: articles saved with the old type.
	{
		store := airnest.NewStore()
		articles := airnest.Collection[ArticleV1](store, airnest.Name("Article"))
		if err := store.Open(ctx, path, nil); err != nil {
			log.Fatal(err)
		}
		for _, title := range []string{"Hello", "WAL mode"} {
			if err := articles.Save(ctx, &ArticleV1{Title: title, Tags: "go,sqlite"}); err != nil {
				log.Fatal(err)
			}
		}
		store.Close()
	}

	// This release: declare the new type, convert once at start-up.
	store := airnest.NewStore()
	articles := airnest.Collection[Article](store)
	if err := store.Open(ctx, path, nil); err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	n, err := airnest.Migrate(ctx, articles, func(old ArticleV1) (Article, error) {
		return Article{Title: old.Title, Tags: strings.Split(old.Tags, ",")}, nil
	}, &airnest.MigrateOptions{
		Progress: func(done, total int) { fmt.Printf("converted %d of %d\n", done, total) },
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("migrated", n)

	all, _ := articles.Scan(ctx)
	for _, a := range all {
		fmt.Printf("%s %q\n", a.Title, a.Tags)
	}

	// At the next start the migration is recorded as done: nothing to do.
	n, _ = airnest.Migrate(ctx, articles, func(old ArticleV1) (Article, error) {
		return Article{}, errors.New("not called")
	}, nil)
	fmt.Println("migrated", n)
	// Output:
	// converted 2 of 2
	// migrated 2
	// Hello ["go" "sqlite"]
	// WAL mode ["go" "sqlite"]
	// migrated 0
}

// A release may change a field's type and add an index column at once:
// Open leaves the new column NULL for values in the old shape, and Migrate
// fills it as it converts them.
func TestMigrateWithANewIndexColumnInTheSameRelease(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		writeTicketsV1(t, dsn, 50)
		s := airnest.NewStore()
		tickets := airnest.Collection[Ticket](s, airnest.Index("state", "version"))
		if err := s.Open(bg, dsn, nil); err != nil {
			t.Fatalf("Open with a new index over values in the old shape: %v", err)
		}
		defer s.Close()
		if n, err := tickets.Where(airnest.IsNull("version")).Count(bg); err != nil || n != 50 {
			t.Fatalf("before Migrate: %d values with a NULL version (%v), want 50", n, err)
		}
		n, err := airnest.Migrate(bg, tickets, toTicket, nil)
		if err != nil || n != 50 {
			t.Fatalf("Migrate converted %d (%v), want 50", n, err)
		}
		if n, err := tickets.Where(airnest.Eq("version", 2)).Count(bg); err != nil || n != 50 {
			t.Fatalf("after Migrate: %d values with version 2 (%v), want 50", n, err)
		}
		rep, err := s.Verify(bg)
		if err != nil || !rep.OK() {
			t.Fatalf("Verify after Migrate: %v\n%v", err, rep)
		}
	})
}

// ChoreV1 and Chore are the shapes of issue 9 item 6: Priority changes type
// and Tags is new. A Chore saved with Priority 0 leaves Priority out of the
// blob, so it also decodes as a ChoreV1.
type ChoreV1 struct {
	ID       airnest.ID[ChoreV1]
	Title    string
	Priority string // "low", "high"
}

type Chore struct {
	ID       airnest.ID[Chore]
	Title    string
	Priority int
	Tags     []string
}

func toChore(old ChoreV1) (Chore, error) {
	p := 0
	if old.Priority == "high" {
		p = 9
	}
	return Chore{Title: old.Title, Priority: p, Tags: []string{"migrated"}}, nil
}

func writeChoresV1(t *testing.T, dsn string, n int) []airnest.ID[Chore] {
	t.Helper()
	s := airnest.NewStore()
	tasks := airnest.Collection[ChoreV1](s, airnest.Name("Chore"))
	if err := s.Open(bg, dsn, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ids []airnest.ID[Chore]
	for i := range n {
		v := ChoreV1{Title: fmt.Sprint("old ", i), Priority: "high"}
		if err := tasks.Save(bg, &v); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, airnest.ID[Chore](v.ID))
	}
	return ids
}

// The program saves values in the new shape before Migrate runs: Migrate
// must not take them for old ones and drop their Tags.
func TestMigrateKeepsValuesSavedAsNewBeforeItRan(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		ids := writeChoresV1(t, dsn, 10)
		s := airnest.NewStore()
		tasks := airnest.Collection[Chore](s)
		if err := s.Open(bg, dsn, nil); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		// A new value, and an old one rewritten, both with Priority 0.
		fresh := Chore{Title: "fresh", Tags: []string{"a", "b"}}
		if err := tasks.Save(bg, &fresh); err != nil {
			t.Fatal(err)
		}
		rewritten := Chore{ID: ids[3], Title: "rewritten", Tags: []string{"c"}}
		if err := tasks.Save(bg, &rewritten); err != nil {
			t.Fatal(err)
		}
		n, err := airnest.Migrate(bg, tasks, toChore, nil)
		if err != nil || n != 9 {
			t.Fatalf("Migrate converted %d (%v), want the 9 old values", n, err)
		}
		for _, want := range []Chore{fresh, rewritten} {
			got, err := tasks.Load(bg, want.ID)
			if err != nil || got.Title != want.Title || got.Priority != 0 || !slices.Equal(got.Tags, want.Tags) {
				t.Fatalf("saved as %+v before Migrate, now %+v (%v)", want, got, err)
			}
		}
		got, err := tasks.Load(bg, ids[0])
		if err != nil || got.Priority != 9 || !slices.Equal(got.Tags, []string{"migrated"}) {
			t.Fatalf("old value migrated to %+v (%v)", got, err)
		}
	})
}

// Writers save new-shape values while Migrate runs, some of them over old
// values it has not reached yet: none of their writes is lost.
func TestMigrateWithConcurrentWriters(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		ids := writeChoresV1(t, dsn, 600)
		s := airnest.NewStore()
		tasks := airnest.Collection[Chore](s)
		if err := s.Open(bg, dsn, nil); err != nil {
			t.Fatal(err)
		}
		defer s.Close()

		// written[i] is set by the writer of ids[i] once its Save returned.
		written := make([]bool, len(ids))
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		afterFirst := make(chan struct{})
		ahead := make(chan struct{}, 4)
		stop := make(chan struct{})
		for w := range 4 {
			wg.Go(func() {
				// Each writer owns the ids i with i%4 == w, from the end back,
				// so most of its writes land before Migrate's cursor.
				<-afterFirst
				n := 0
				for i := len(ids) - 1 - (3 - w); i >= 0; i -= 4 {
					if n == 5 {
						ahead <- struct{}{} // Migrate waits for these, then runs on
					}
					n++
					select {
					case <-stop:
						return
					default:
					}
					v := Chore{ID: ids[i], Title: "kept", Tags: []string{"writer", fmt.Sprint(w)}}
					if err := tasks.Save(bg, &v); err != nil {
						errs <- err
						if n <= 5 {
							ahead <- struct{}{} // never leave Migrate waiting
						}
						return
					}
					written[i] = true
				}
			})
		}
		batches := 0
		_, err := airnest.Migrate(bg, tasks, toChore, &airnest.MigrateOptions{BatchSize: 50, Progress: func(done, total int) {
			batches++
			if batches == 1 {
				// Let every writer save 5 values past Migrate's cursor before
				// it goes on; after that they race it.
				close(afterFirst)
				for range 4 {
					<-ahead
				}
			}
		}})
		close(stop)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if err != nil {
			t.Fatal(err)
		}
		kept := 0
		for i, id := range ids {
			got, err := tasks.Load(bg, id)
			if err != nil {
				t.Fatalf("id %d: %v", i, err)
			}
			switch {
			case written[i]:
				if got.Title != "kept" || got.Tags[0] != "writer" {
					t.Fatalf("id %d: saved by a writer, now %+v", i, got)
				}
				kept++
			default:
				if got.Priority != 9 || !slices.Equal(got.Tags, []string{"migrated"}) {
					t.Fatalf("id %d: %+v, want migrated", i, got)
				}
			}
		}
		if kept < 20 {
			t.Fatalf("only %d values written during Migrate", kept)
		}
	})
}
