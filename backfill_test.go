package airnest_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/airnest/airnest"
)

// Code is indexed through MarshalText; in the crash helper, the value
// "crash" kills the process while Open back-fills the column.
type Code string

func (c Code) MarshalText() ([]byte, error) {
	if c == "crash" && os.Getenv("AIRNEST_BACKFILL_CRASH") != "" {
		os.Exit(9)
	}
	return []byte(c), nil
}

type BF struct {
	ID   airnest.ID[BF]
	Name string
	Big  uint64 // math.MaxUint64 cannot be an INTEGER column value
	Code Code
}

func openBF(dsn string, opts ...airnest.Option) (*airnest.Store, *airnest.Coll[BF], error) {
	s := airnest.NewStore()
	c := airnest.Collection[BF](s, opts...)
	return s, c, s.Open(bg, dsn, nil)
}

// writeBF stores values the original declaration (index on name) accepts:
// one has a Big that no INTEGER column holds, one a Code that crashes.
func writeBF(t *testing.T, path string) {
	t.Helper()
	s, c, err := openBF(path, airnest.Index("name"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 300 {
		v := BF{Name: fmt.Sprint("n", i%3), Big: uint64(i), Code: Code(fmt.Sprint("c", i))}
		switch i {
		case 250:
			v.Big = 1<<64 - 1
		case 260:
			v.Code = "crash"
		}
		if err := c.Save(bg, &v); err != nil {
			t.Fatal(err)
		}
	}
}

// checkOldSchema asserts the store at path (a dsn) is exactly as writeBF
// left it.
func checkOldSchema(t *testing.T, path string) {
	t.Helper()
	// Look before any declaration opens the file (and could repair it).
	bare, err := airnest.Open(bg, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	db, err := bare.DB()
	if err != nil {
		t.Fatal(err)
	}
	cols, idx := tableShape(t, db, path, "BF")
	if !slices.Equal(cols, []string{"id", "v", "_airnest_shape", "name"}) || !slices.Equal(idx, []string{"BF__name"}) {
		t.Fatalf("after the failed change: columns %v, indexes %v; want the old ones", cols, idx)
	}
	bare.Close()
	s, c, err := openBF(path, airnest.Index("name"))
	if err != nil {
		t.Fatalf("the original declaration no longer opens: %v", err)
	}
	defer s.Close()
	if n, err := c.Where(airnest.Eq("name", "n1")).Count(bg); err != nil || n != 100 {
		t.Fatalf("index on name: %d, %v", n, err)
	}
	if rep, err := s.Verify(bg); err != nil || !rep.OK() {
		t.Fatalf("Verify: %v\n%s", err, rep)
	}
}

// Adding an index whose back-fill fails on one value (and dropping another
// in the same Open) changes nothing: it is one transaction.
func TestBackfillFailureLeavesTheOldSchema(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, dsn string) {
		writeBF(t, dsn)
		s, _, err := openBF(dsn, airnest.Index("big"), airnest.DropIndex("name"))
		if !errors.Is(err, airnest.ErrInvalid) {
			s.Close()
			t.Fatalf("Open with an index no value can fill: %v, want ErrInvalid", err)
		}
		checkOldSchema(t, dsn)
	})
}

// backfillCrashChild is the process TestBackfillCrashLeavesTheOldSchema
// kills in the middle of a back-fill (dispatched from TestMain).
func backfillCrashChild(path string) {
	openBF(path, airnest.Index("code"), airnest.DropIndex("name"))
	fmt.Fprintln(os.Stderr, "the back-fill did not crash")
	os.Exit(2)
}

// SQLite only: a kill -9 mid back-fill tests the file's rollback journal.
func TestBackfillCrashLeavesTheOldSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bf.db")
	writeBF(t, path)
	cmd := exec.Command(os.Args[0]) // TestMain runs backfillCrashChild
	cmd.Env = append(os.Environ(), "AIRNEST_BACKFILL_CRASH="+path)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 9 {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	checkOldSchema(t, path)
	if rep, err := airnest.VerifyFile(bg, path); err != nil || !rep.OK() {
		t.Fatalf("VerifyFile: %v\n%s", err, rep)
	}
}
