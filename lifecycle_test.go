package airnest_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/airnest/airnest"
)

// Declared once, as a program (or a test package) declares its store.
var (
	reopenStore    = airnest.NewStore()
	reopenJobs     = airnest.Collection[Job](reopenStore, airnest.Index("status"))
	reopenSessions = airnest.Collection[Session](reopenStore, airnest.Unique("user"))
)

// TestOpenCloseOpen opens the one package-level store on each backend in
// turn (not in parallel), two databases each.
func TestOpenCloseOpen(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { openCloseOpen(t, b.dsn(t), b.dsn(t)) })
	}
}

func openCloseOpen(t *testing.T, a, b string) {
	s := reopenStore
	if err := s.Open(bg, a, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Open(bg, a, nil); !errors.Is(err, airnest.ErrInvalid) {
		t.Fatalf("Open of an open store: %v, want ErrInvalid", err)
	}
	j := Job{Status: "first"}
	if err := reopenJobs.Save(bg, &j); err != nil {
		t.Fatal(err)
	}
	// Declared while open: it must be set up again on every later Open.
	type Late struct {
		ID   airnest.ID[Late]
		Name string
	}
	late := airnest.Collection[Late](s, airnest.Index("name"), airnest.Name("Late_"+backendOf(a))) // one table name per run
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := reopenJobs.Load(bg, j.ID); !errors.Is(err, airnest.ErrClosed) {
		t.Fatalf("Load after Close: %v, want ErrClosed", err)
	}

	// The same database again: everything is there.
	if err := s.Open(bg, a, nil); err != nil {
		t.Fatalf("reopen on the same database: %v", err)
	}
	if got, err := reopenJobs.Load(bg, j.ID); err != nil || got.Status != "first" {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
	l := Late{Name: "x"}
	if err := late.Save(bg, &l); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Another database: the collections are made there, empty.
	if err := s.Open(bg, b, nil); err != nil {
		t.Fatalf("reopen on another database: %v", err)
	}
	defer s.Close()
	if n, err := reopenJobs.Count(bg); err != nil || n != 0 {
		t.Fatalf("Count on the new database: %d, %v", n, err)
	}
	if n, err := late.Where(airnest.Eq("name", "x")).Count(bg); err != nil || n != 0 {
		t.Fatalf("Late on the new database: %d, %v", n, err)
	}

	// Concurrent use after reopen.
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				j := Job{Status: fmt.Sprint("g", g)}
				if err := reopenJobs.Save(bg, &j); err != nil {
					errs <- err
					return
				}
				if _, err := reopenJobs.Load(bg, j.ID); err != nil {
					errs <- err
					return
				}
				u := Session{User: fmt.Sprint(g, "/", i)}
				if err := reopenSessions.Save(bg, &u); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n, _ := reopenJobs.Where(airnest.Eq("status", "g3")).Count(bg); n != 25 {
		t.Fatalf("status g3: %d values, want 25", n)
	}
	if n, _ := reopenSessions.Count(bg); n != 200 {
		t.Fatalf("%d sessions, want 200", n)
	}
	rep, err := s.Verify(bg)
	if err != nil || !rep.OK() {
		t.Fatalf("verify after reopen: %v\n%s", err, rep)
	}
}
