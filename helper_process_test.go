package airnest_test

import (
	"fmt"
	"github.com/airnest/airnest/internal/pgtest"
	"os"
	"strconv"
	"testing"

	"github.com/airnest/airnest"
)

// TestMain runs the test binary as one of the child processes of the
// reliability tests when they re-execute it with an environment variable set;
// otherwise it runs the tests. Dispatching here, not from a test function,
// keeps the children out of the test list (no helper "test" skipped on every
// run) and starts them without the testing framework's flag parsing.
func TestMain(m *testing.M) {
	if path := os.Getenv("AIRNEST_MIGRATE_CRASH"); path != "" {
		migrateCrashChild(path)
		fmt.Fprintln(os.Stderr, "the migration was not interrupted")
		os.Exit(2)
	}
	if path := os.Getenv("AIRNEST_BACKFILL_CRASH"); path != "" {
		backfillCrashChild(path)
	}
	if path := os.Getenv("AIRNEST_VERSIONS_HELPER"); path != "" {
		if err := versionsChild(path); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if mode := os.Getenv("AIRNEST_PG_HELPER"); mode != "" {
		os.Exit(pgHelperChild(mode))
	}
	if dsn := os.Getenv("AIRNEST_WATCH_HELPER"); dsn != "" {
		os.Exit(watchChild(dsn))
	}
	if mode := os.Getenv("AIRNEST_HELPER"); mode != "" {
		helperChild(mode)
		os.Exit(0)
	}
	code := m.Run()
	pgtest.StopShared()
	os.Exit(code)
}

// helperChild runs the child program named by AIRNEST_HELPER (runKilled
// starts "crash", process_test.go starts "writer"): it writes until it is
// killed or its work is done.
func helperChild(mode string) {
	path := os.Getenv("AIRNEST_HELPER_PATH")
	sync, _ := strconv.Atoi(os.Getenv("AIRNEST_HELPER_SYNC"))
	switch mode {
	case "crash":
		crashChild(path, airnest.Sync(sync))
	case "writer":
		writerChild(path)
	default:
		fmt.Fprintln(os.Stderr, "unknown AIRNEST_HELPER", mode)
		os.Exit(2)
	}
}
