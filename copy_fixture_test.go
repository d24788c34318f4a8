package airnest_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/airnest/airnest"
)

// The store Copy's tests copy: several collections, index columns of every
// SQL type (and NULLs in them), a Unique index and a composite one,
// unicode, large blobs, values written by an older shape of the struct
// (whose field keys only the key registry knows), a finished and an
// unfinished Migrate.

// CopyItemV1 is the first shape of CopyItem.
type CopyItemV1 struct {
	ID     airnest.ID[CopyItemV1]
	Name   string
	Count  int
	Legacy string // dropped later
}

// CopyItem is the current shape: Extra comes first, so without the key
// registry its field key would be Name's.
type CopyItem struct {
	ID    airnest.ID[CopyItem]
	Extra string
	Name  string
	Count int
	Score float64
	Done  bool
	At    time.Time
	Raw   []byte
	Owner *string
	Big   []byte // not indexed
	Tags  []string
	Meta  CopyMeta
}

// CopyMeta is a nested struct with an indexed field.
type CopyMeta struct{ Team string }

func declareCopyItem(s *airnest.Store) *airnest.Coll[CopyItem] {
	return airnest.Collection[CopyItem](s, airnest.Unique("name"),
		airnest.Index("count", "score", "done", "at", "raw", "owner", "count,score", "tags", "meta.team"))
}

// openCopyStore opens the store at dsn with the fixture's current types.
func openCopyStore(t testing.TB, dsn string) (*airnest.Store, *airnest.Coll[CopyItem], *airnest.Coll[CopyNote], *airnest.Coll[CopyTask]) {
	t.Helper()
	s := airnest.NewStore()
	items := declareCopyItem(s)
	notes := airnest.Collection[CopyNote](s, airnest.Name("Note"))
	tasks := airnest.Collection[CopyTask](s, airnest.Name("Task"))
	if err := s.Open(bg, dsn, nil); err != nil {
		t.Fatal(err)
	}
	return s, items, notes, tasks
}

// CopyNoteV1 and CopyNote: a migration that finished.
type CopyNoteV1 struct {
	ID   airnest.ID[CopyNoteV1]
	Body string
}

type CopyNote struct {
	ID   airnest.ID[CopyNote]
	Body []string
}

// CopyTaskV1 and CopyTask: a migration that stopped half way.
type CopyTaskV1 struct {
	ID   airnest.ID[CopyTaskV1]
	Tags string
}

type CopyTask struct {
	ID   airnest.ID[CopyTask]
	Tags []string
}

const (
	copyItems   = 1500 // more than one page of Copy's reads
	copyV1Items = 20
	copyTasks   = 12
)

var errStopMigration = errors.New("stop the migration here")

// fillCopyStore writes the fixture into the empty store at dsn.
func fillCopyStore(t testing.TB, dsn string) {
	t.Helper()
	s1 := airnest.NewStore()
	items1 := airnest.Collection[CopyItemV1](s1, airnest.Name("CopyItem"), airnest.Unique("name"))
	notes1 := airnest.Collection[CopyNoteV1](s1, airnest.Name("Note"))
	tasks1 := airnest.Collection[CopyTaskV1](s1, airnest.Name("Task"))
	if err := s1.Open(bg, dsn, nil); err != nil {
		t.Fatal(err)
	}
	err := s1.Tx(bg, func(tx *airnest.Tx) error {
		for i := range copyV1Items {
			if err := items1.In(tx).Save(bg, &CopyItemV1{Name: fmt.Sprintf("old %d", i), Count: -i, Legacy: "ancien régime"}); err != nil {
				return err
			}
		}
		for i := range 10 {
			if err := notes1.In(tx).Save(bg, &CopyNoteV1{Body: fmt.Sprintf("a,b,%d", i)}); err != nil {
				return err
			}
		}
		for i := range copyTasks {
			if err := tasks1.In(tx).Save(bg, &CopyTaskV1{Tags: fmt.Sprintf("x,%d", i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s1.Close()

	s, items, notes, tasks := openCopyStore(t, dsn)
	defer s.Close()
	big := []byte(strings.Repeat("0123456789abcdef", 1<<14)) // 256 KiB
	err = s.Tx(bg, func(tx *airnest.Tx) error {
		for i := range copyItems {
			it := CopyItem{
				Extra: "extra", Name: fmt.Sprintf("item %d ✓ 日本語 %c", i, rune(0x1F600+i%50)),
				Count: i*7919 - 5_000_000, Score: float64(i) / 3, Done: i%2 == 0,
			}
			if i%3 != 0 { // else At, Raw and Owner stay NULL
				it.At = time.Date(2026, 1, 1, 0, 0, i, 123456789, time.UTC)
				it.Raw = []byte{byte(i), 0, 0xff}
				owner := fmt.Sprintf("ówner %d", i%7)
				it.Owner = &owner
			}
			if i%500 == 1 {
				it.Big = big
			}
			if i%4 != 0 { // else no tags: a side table row for none
				it.Tags = []string{fmt.Sprintf("t%d", i%5), "all", "all"}
			}
			it.Meta.Team = []string{"red", "blue", "green"}[i%3]
			if err := items.In(tx).Save(bg, &it); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := airnest.Migrate(bg, notes, splitNote, &airnest.MigrateOptions{Name: "split notes"}); err != nil {
		t.Fatal(err)
	}
	n := 0
	_, err = airnest.Migrate(bg, tasks, func(old CopyTaskV1) (CopyTask, error) {
		if n++; n > 5 {
			return CopyTask{}, errStopMigration
		}
		return CopyTask{Tags: strings.Split(old.Tags, ",")}, nil
	}, &airnest.MigrateOptions{Name: "split tags", BatchSize: 5})
	if !errors.Is(err, errStopMigration) {
		t.Fatalf("the half-way migration returned %v", err)
	}
}

func splitNote(old CopyNoteV1) (CopyNote, error) {
	return CopyNote{Body: strings.Split(old.Body, ",")}, nil
}

// copyContents is what the typed API reads from a store holding the
// fixture.
type copyContents struct {
	items        []CopyItem
	notes        []CopyNote
	tasks        int
	done, owned  int // queried counts
	tagged, team int
}

// readCopyStore opens the store at dsn with the fixture's types, reads it,
// checks what must hold of any copy of it (the Unique index is enforced,
// the finished migration does not run again, the unfinished one resumes
// where it stopped), and returns what it read.
func readCopyStore(t testing.TB, dsn string) copyContents {
	t.Helper()
	s, items, notes, tasks := openCopyStore(t, dsn)
	defer s.Close()
	var c copyContents
	var err error
	if c.items, err = items.Scan(bg); err != nil {
		t.Fatal(err)
	}
	if c.notes, err = notes.Scan(bg); err != nil {
		t.Fatal(err)
	}
	if c.tasks, err = tasks.Count(bg); err != nil {
		t.Fatal(err)
	}
	if c.done, err = items.Where(airnest.Eq("done", true), airnest.Gt("count", 0)).Count(bg); err != nil {
		t.Fatal(err)
	}
	if c.owned, err = items.Where(airnest.Prefix("owner", "ówner 3")).Count(bg); err != nil {
		t.Fatal(err)
	}
	if c.tagged, err = items.Where(airnest.Contains("tags", "t3")).Count(bg); err != nil {
		t.Fatal(err)
	}
	if c.team, err = items.Where(airnest.Eq("meta.team", "blue"), airnest.ContainsAll("tags", "all", "t1")).Count(bg); err != nil {
		t.Fatal(err)
	}
	dup := CopyItem{Name: c.items[len(c.items)-1].Name}
	if err := items.Save(bg, &dup); !errors.Is(err, airnest.ErrConflict) {
		t.Fatalf("a second value with a taken name saved with %v, want ErrConflict (Unique)", err)
	}
	var progress [][2]int
	record := func(done, total int) { progress = append(progress, [2]int{done, total}) }
	n, err := airnest.Migrate(bg, notes, splitNote, &airnest.MigrateOptions{Name: "split notes", Progress: record})
	if n != 0 || err != nil || len(progress) != 0 {
		t.Fatalf("the finished migration ran again: %d values, %v, progress %v", n, err, progress)
	}
	n, err = airnest.Migrate(bg, tasks, func(old CopyTaskV1) (CopyTask, error) {
		return CopyTask{Tags: strings.Split(old.Tags, ",")}, nil
	}, &airnest.MigrateOptions{Name: "split tags", BatchSize: 5, Progress: record})
	if n != copyTasks-5 || err != nil || len(progress) == 0 || progress[0] != [2]int{10, copyTasks} {
		t.Fatalf("the unfinished migration converted %d values (%v) with progress %v, want the %d it had left, resuming after the first 5 of %d", n, err, progress, copyTasks-5, copyTasks)
	}
	return c
}

// sameContents fails unless two stores read alike.
func sameContents(t testing.TB, got, want copyContents) {
	t.Helper()
	if len(want.items) != copyItems+copyV1Items || want.done == 0 || want.owned == 0 || want.tagged == 0 || want.team == 0 {
		t.Fatalf("the original reads %d items, %d done, %d owned: the fixture is wrong", len(want.items), want.done, want.owned)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the copy reads %d items, %d notes, %d tasks, %d done, %d owned; the original %d, %d, %d, %d, %d (or their values differ)",
			len(got.items), len(got.notes), got.tasks, got.done, got.owned,
			len(want.items), len(want.notes), want.tasks, want.done, want.owned)
	}
}
