package airnest_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/airnest/airnest"
)

// TestHelperProcess is not a test: the reliability tests re-execute the test
// binary with -test.run=^TestHelperProcess$ and AIRNEST_HELPER set to run
// one of the programs below as a separate process. It never returns then.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("AIRNEST_HELPER")
	if mode == "" {
		t.Skip("only runs as a child process of the reliability tests")
	}
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
	os.Exit(0)
}
