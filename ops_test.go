package airnest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/airnest/airnest"
)

func fillJobs(t testing.TB, jobs *airnest.Coll[Job], n int, status string) []airnest.ID[Job] {
	t.Helper()
	ids := make([]airnest.ID[Job], 0, n)
	for i := range n {
		j := Job{Status: status, Priority: i, Payload: []byte(strings.Repeat("x", 200))}
		if err := jobs.Save(bg, &j); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	return ids
}

// The Backup tests below are SQLite's (PostgreSQL refuses Backup: see
// TestBackupAndVacuumOnEachBackend).
func TestBackupWhileWriting(t *testing.T) {
	t.Parallel()
	s, jobs, _, path := testStore(t)
	old := fillJobs(t, jobs, 300, "old")

	ctx, stop := context.WithCancel(bg)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var acked []airnest.ID[Job] // saves that returned nil, in order
	enough := make(chan struct{})
	var once sync.Once
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			j := Job{Status: "new", Priority: i}
			if err := jobs.Save(bg, &j); err != nil {
				t.Error(err)
				once.Do(func() { close(enough) })
				return
			}
			mu.Lock()
			acked = append(acked, j.ID)
			mu.Unlock()
			if i == 20 {
				once.Do(func() { close(enough) })
			}
		}
	}()
	<-enough
	if t.Failed() {
		t.FailNow()
	}

	dest := filepath.Join(filepath.Dir(path), "copy.db")
	var calls, lastCopied, lastTotal int
	mu.Lock()
	before := append([]airnest.ID[Job](nil), acked...)
	mu.Unlock()
	err := s.Backup(bg, dest, &airnest.BackupOptions{StepPages: 8, Progress: func(copied, total int) {
		calls++
		lastCopied, lastTotal = copied, total
	}})
	stop()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if calls < 2 || lastCopied != lastTotal || lastTotal == 0 {
		t.Fatalf("progress: %d calls, last %d/%d; want several calls ending complete", calls, lastCopied, lastTotal)
	}

	// The copy is a sound store of its own holding every value
	// acknowledged before the backup started, and nothing else.
	c := airnest.NewStore()
	cjobs := airnest.Collection[Job](c, airnest.Index("status", "priority", "created_at", "owner"))
	if err := c.Open(bg, dest, nil); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if rep, err := c.Verify(bg); err != nil || !rep.OK() {
		t.Fatalf("Verify of the copy: %v\n%s", err, rep)
	}
	for i, id := range old {
		if j, err := cjobs.Load(bg, id); err != nil || j.Status != "old" || j.Priority != i {
			t.Fatalf("copy: old job %d: %+v, %v", i, j, err)
		}
	}
	for i, id := range before {
		if j, err := cjobs.Load(bg, id); err != nil || j.Status != "new" || j.Priority != i {
			t.Fatalf("copy: job %d, acknowledged before the backup started: %+v, %v", i, j, err)
		}
	}
	n, err := cjobs.Count(bg)
	if err != nil {
		t.Fatal(err)
	}
	if n < 300+len(before) || n > 300+len(acked) {
		t.Fatalf("copy holds %d jobs; want between %d and %d", n, 300+len(before), 300+len(acked))
	}
	for j, err := range cjobs.All(bg) {
		if err != nil {
			t.Fatal(err)
		}
		if j.Status != "old" && j.Status != "new" {
			t.Fatalf("copy holds %+v", j)
		}
	}

	if err := s.Backup(bg, dest, nil); !errors.Is(err, airnest.ErrInvalid) {
		t.Fatalf("Backup onto an existing file: %v, want ErrInvalid", err)
	}
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(dest), ".copy.db.tmp-*"))
	if len(matches) != 0 {
		t.Fatalf("temporary files left behind: %v", matches)
	}
}

func TestBackupCancelled(t *testing.T) {
	t.Parallel()
	s, jobs, _, path := testStore(t)
	fillJobs(t, jobs, 200, "x")
	ctx, cancel := context.WithCancel(bg)
	dest := filepath.Join(filepath.Dir(path), "copy.db")
	err := s.Backup(ctx, dest, &airnest.BackupOptions{StepPages: 1, Progress: func(copied, total int) {
		if copied > 3 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Backup: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*copy.db*"))
	if len(left) != 0 {
		t.Fatalf("a cancelled backup left %v", left)
	}
}

// TestBackupDestCreatedMeanwhile creates dest while the copy is being
// made: Backup must not replace it, and must leave no temporary file.
func TestBackupDestCreatedMeanwhile(t *testing.T) {
	t.Parallel()
	s, jobs, _, path := testStore(t)
	fillJobs(t, jobs, 200, "x")
	dest := filepath.Join(filepath.Dir(path), "copy.db")
	precious := []byte("someone else's file")
	err := s.Backup(bg, dest, &airnest.BackupOptions{StepPages: 1, Progress: func(copied, total int) {
		if copied == 1 {
			if err := os.WriteFile(dest, precious, 0o644); err != nil {
				t.Error(err)
			}
		}
	}})
	if !errors.Is(err, airnest.ErrInvalid) {
		t.Fatalf("Backup onto a file created meanwhile: %v, want ErrInvalid", err)
	}
	if b, err := os.ReadFile(dest); err != nil || string(b) != string(precious) {
		t.Fatalf("Backup replaced a file created meanwhile: %q, %v", b, err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(dest), ".copy.db.tmp-*")); len(left) != 0 {
		t.Fatalf("temporary files left behind: %v", left)
	}
}

// checkCollectionStats checks what Stats says about the collections of a
// testStoreAt store holding jobs Job values and one Session.
func checkCollectionStats(t *testing.T, st *airnest.Stats, jobs int64) {
	t.Helper()
	if len(st.Collections) != 2 {
		t.Fatalf("collections %+v", st.Collections)
	}
	js, ss := st.Collections[0], st.Collections[1]
	if js.Name != "Job" || js.Rows != jobs || js.BlobBytes < jobs*200 || js.GoType != "airnest_test.Job" || js.Created.IsZero() {
		t.Errorf("Job stats %+v", js)
	}
	var cols []string
	for _, c := range js.Columns {
		cols = append(cols, c.Name+" "+c.Type)
	}
	if got := strings.Join(cols, ", "); got != "status TEXT, priority INTEGER, created_at INTEGER, owner TEXT" {
		t.Errorf("Job columns %s", got)
	}
	if ss.Name != "Session" || ss.Rows != 1 || len(ss.Columns) != 1 || !ss.Columns[0].Unique {
		t.Errorf("Session stats %+v", ss)
	}
}

func TestStatsCollections(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, jobs, sessions := testStoreAt(t, dsn)
		fillJobs(t, jobs, 40, "pending")
		if err := sessions.Save(bg, &Session{User: "ann"}); err != nil {
			t.Fatal(err)
		}
		st, err := s.Stats(bg)
		if err != nil {
			t.Fatal(err)
		}
		checkCollectionStats(t, st, 40)
		if st.FileBytes <= 0 {
			t.Errorf("database size %d", st.FileBytes)
		}
	})
}

// maintenance is what Backup and Vacuum do on each backend: SQLite does
// both; PostgreSQL refuses both with ErrInvalid naming the tool to use.
var maintenance = map[string]struct{ backup, vacuum string }{
	"sqlite":   {"", ""},
	"postgres": {"pg_dump", "autovacuum"},
}

// unlessRefused is err, or nil when err is the refusal of op ("backup" or
// "vacuum") that maintenance documents for the backend of dsn.
func unlessRefused(dsn, op string, err error) error {
	m := maintenance[backendOf(dsn)]
	tool := map[string]string{"backup": m.backup, "vacuum": m.vacuum}[op]
	if tool != "" && errors.Is(err, airnest.ErrInvalid) && strings.Contains(err.Error(), tool) {
		return nil
	}
	return err
}

func TestBackupAndVacuumOnEachBackend(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, jobs, _ := testStoreAt(t, dsn)
		fillJobs(t, jobs, 5, "x")
		want := maintenance[backendOf(dsn)]
		check := func(op string, err error, tool string) {
			t.Helper()
			if tool == "" && err != nil {
				t.Fatalf("%s: %v", op, err)
			}
			if tool != "" && (!errors.Is(err, airnest.ErrInvalid) || !strings.Contains(fmt.Sprint(err), tool)) {
				t.Fatalf("%s: %v, want ErrInvalid naming %s", op, err, tool)
			}
		}
		check("Backup", s.Backup(bg, filepath.Join(t.TempDir(), "copy.db"), nil), want.backup)
		check("Vacuum", s.Vacuum(bg), want.vacuum)
		if n, err := jobs.Count(bg); n != 5 || err != nil {
			t.Fatalf("after Backup and Vacuum: %d jobs, %v", n, err)
		}
	})
}

// SQLite only: the file's pages, its WAL, and VACUUM.
func TestStatsAndVacuum(t *testing.T) {
	t.Parallel()
	s, jobs, sessions, path := testStore(t)
	ids := fillJobs(t, jobs, 400, "pending")
	sess := Session{User: "ann", Messages: []string{"hi"}}
	if err := sessions.Save(bg, &sess); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats(bg)
	if err != nil {
		t.Fatal(err)
	}
	if abs, _ := filepath.Abs(path); st.Path != abs {
		t.Errorf("Path %q, want %q", st.Path, abs)
	}
	if st.JournalMode != "wal" || st.PageSize <= 0 || st.PageCount <= 0 || st.FileBytes != st.PageSize*st.PageCount || st.WALBytes <= 0 {
		t.Errorf("file stats %+v", st)
	}
	checkCollectionStats(t, st, 400)

	for _, id := range ids[:350] {
		if err := jobs.Delete(bg, id); err != nil {
			t.Fatal(err)
		}
	}
	// Checkpoint so the deletions reach the main file's free list.
	if err := s.Vacuum(bg); err != nil {
		t.Fatal(err)
	}
	after, err := s.Stats(bg)
	if err != nil {
		t.Fatal(err)
	}
	if after.FreePages != 0 || after.PageCount >= st.PageCount || after.WALBytes != 0 {
		t.Errorf("after Vacuum: %d pages (%d free), WAL %d bytes; before: %d pages", after.PageCount, after.FreePages, after.WALBytes, st.PageCount)
	}
	if n, _ := jobs.Count(bg); n != 50 {
		t.Errorf("%d jobs after Vacuum, want 50", n)
	}
}

// SQLite only: an in-memory store.
func TestStatsMemory(t *testing.T) {
	t.Parallel()
	s := airnest.NewStore()
	jobs := airnest.Collection[Job](s)
	if err := s.Open(bg, ":memory:", nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fillJobs(t, jobs, 3, "x")
	st, err := s.Stats(bg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Path != "" || st.WALBytes != 0 || len(st.Collections) != 1 || st.Collections[0].Rows != 3 {
		t.Fatalf("%+v", st)
	}

	// An in-memory store backs up to a file like any other.
	dest := filepath.Join(t.TempDir(), "mem.db")
	if err := s.Backup(bg, dest, nil); err != nil {
		t.Fatal(err)
	}
	c := airnest.NewStore()
	cjobs := airnest.Collection[Job](c)
	if err := c.Open(bg, dest, nil); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n, err := cjobs.Count(bg); n != 3 || err != nil {
		t.Fatalf("copy of a memory store: %d jobs, %v", n, err)
	}
}

func TestOpsClosed(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, _, _ := testStoreAt(t, dsn)
		s.Close()
		if _, err := s.Stats(bg); !errors.Is(err, airnest.ErrClosed) {
			t.Errorf("Stats: %v", err)
		}
		if err := s.Backup(bg, filepath.Join(t.TempDir(), "copy.db"), nil); !errors.Is(err, airnest.ErrClosed) {
			t.Errorf("Backup: %v", err)
		}
		if err := s.Vacuum(bg); !errors.Is(err, airnest.ErrClosed) {
			t.Errorf("Vacuum: %v", err)
		}
	})
}

// TestStatsFileAndBackupFile reads and copies a file without opening it
// as a Store, while its store holds a write transaction open (SQLite only).
func TestStatsFileAndBackupFile(t *testing.T) {
	t.Parallel()
	s, jobs, _, path := testStore(t)
	ids := fillJobs(t, jobs, 50, "x")
	release, held := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Tx(bg, func(tx *airnest.Tx) error {
			if err := jobs.In(tx).Delete(bg, ids[0]); err != nil {
				return err
			}
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	st, err := airnest.StatsFile(bg, path)
	if err != nil || len(st.Collections) == 0 || st.Collections[0].Rows != 50 {
		t.Fatalf("StatsFile during a write transaction: %+v, %v", st, err)
	}
	dest := filepath.Join(filepath.Dir(path), "copy.db")
	if err := airnest.BackupFile(bg, path, dest, nil); err != nil {
		t.Fatalf("BackupFile during a write transaction: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c := airnest.NewStore()
	cjobs := airnest.Collection[Job](c, airnest.Index("status", "priority", "created_at", "owner"))
	if err := c.Open(bg, dest, nil); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n, err := cjobs.Count(bg); n != 50 || err != nil {
		t.Fatalf("the copy holds %d jobs (%v), want the 50 committed before", n, err)
	}
	if _, err := airnest.StatsFile(bg, path+".missing"); err == nil {
		t.Fatal("StatsFile of a missing file: no error")
	}
}

// StatsFile reads what Store.Stats reads, on every backend, without opening
// a Store; BackupFile of a server's database names the tool to use instead.
func TestStatsFileOnEveryBackend(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		s, jobs, _ := testStoreAt(t, dsn)
		fillJobs(t, jobs, 30, "x")
		want, err := s.Stats(bg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := airnest.StatsFile(bg, dsn)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Collections) != len(want.Collections) || got.Collections[0].Rows != 30 || got.Path != want.Path ||
			got.Collections[0].BlobBytes != want.Collections[0].BlobBytes || !got.Collections[0].Created.Equal(want.Collections[0].Created) {
			t.Fatalf("StatsFile: %+v\nStore.Stats: %+v", got, want)
		}
		if backendOf(dsn) != "postgres" {
			return
		}
		dest := filepath.Join(t.TempDir(), "copy.db")
		if err := airnest.BackupFile(bg, dsn, dest, nil); !errors.Is(err, airnest.ErrInvalid) || !strings.Contains(err.Error(), "pg_dump") {
			t.Fatalf("BackupFile of a PostgreSQL database: %v, want ErrInvalid naming pg_dump", err)
		}
		if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
			t.Fatal("BackupFile of a PostgreSQL database created a file")
		}
	})
}
