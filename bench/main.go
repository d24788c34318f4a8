// Command bench measures airnest against hand-written SQLite code on the
// same driver, schema and encoding, and prints the ratio airnest ÷ baseline
// for each workload, under synchronous=NORMAL and FULL (airnest's default).
//
//	go run ./bench                   # the comparison, 100,000 rows
//	go run ./bench -scale            # load, query and scan at 10k, 100k, 1M rows
//	go run ./bench -short            # a tiny run, seconds (CI)
//	go run ./bench -backend postgres # airnest on PostgreSQL against hand-written pgx
//	go run ./bench -postgres start   # airnest on SQLite against airnest on PostgreSQL
//
// -backend postgres starts a temporary server (as -postgres start does)
// unless -postgres names a database URL, in which case airnest and the
// baseline each get a schema of their own there. The pgx baseline uses the
// table airnest creates, the same CBOR encoding, pgx's prepared-statement
// cache and one pgxpool of -conns connections (airnest gets -conns writers
// and -conns readers); the server keeps its own durability settings, which
// the report prints.
//
// Each workload runs for -dur per implementation, split into -rounds
// segments run alternately (A B B A ...) so that a noisy machine hits both
// alike. The baseline is written directly on github.com/ncruces/go-sqlite3:
// prepared statements reused, a reused encode buffer, one write connection
// shared under a mutex (each single save its own autocommit transaction),
// and one connection per reader goroutine.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"
)

type config struct {
	rows    int
	dur     time.Duration
	rounds  int
	syncs   []string
	scale   bool
	sizes   []int
	scaleD  time.Duration
	dir     string
	only    *regexp.Regexp
	impls   string // "both", "airnest" or "baseline"
	check   bool
	out     io.Writer
	tiny    bool
	workers int // concurrent savers
	// postgres, when set, is the URL of a PostgreSQL database: the
	// comparison is then airnest on SQLite against airnest on it, or, with
	// pgBase set (-backend postgres), airnest on it against hand-written
	// pgx code on pgBase.
	postgres string
	pgBase   string
	conns    int // -backend postgres: connections in each pool
}

func main() {
	var (
		cfg     config
		short   = flag.Bool("short", false, "tiny sizes and durations: a smoke test that runs in seconds")
		syncs   = flag.String("sync", "NORMAL,FULL", "synchronous modes to compare, in order")
		sizes   = flag.String("sizes", "10000,100000,1000000", "row counts of the -scale table")
		only    = flag.String("only", "", "run only the workloads whose name matches this regexp")
		cpuprof = flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	)
	flag.IntVar(&cfg.rows, "rows", 100000, "rows preloaded before the workloads")
	flag.DurationVar(&cfg.dur, "dur", 3*time.Second, "time each implementation spends on each workload")
	flag.IntVar(&cfg.rounds, "rounds", 10, "alternating segments each workload's time is split into")
	flag.BoolVar(&cfg.scale, "scale", false, "run the scale table instead of the comparison")
	flag.DurationVar(&cfg.scaleD, "scaledur", time.Second, "time each scale measurement runs")
	flag.StringVar(&cfg.dir, "dir", "", "directory for the database files (default: a temporary one)")
	flag.StringVar(&cfg.impls, "impl", "both", "run airnest, baseline or both")
	flag.BoolVar(&cfg.check, "check", false, "exit with status 1 when a target is missed")
	flag.IntVar(&readers, "readers", 0, "airnest Options.Readers (0: the default)")
	flag.IntVar(&cfg.workers, "savers", 8, "goroutines of the concurrent-savers workload")
	flag.StringVar(&cfg.postgres, "postgres", "", "compare airnest on SQLite with airnest on PostgreSQL: a database URL, or \"start\" for a temporary server (needs PostgreSQL's binaries); with -backend postgres, the server to use (default start)")
	backendName := flag.String("backend", "sqlite", "sqlite: airnest against hand-written SQLite code; postgres: airnest on PostgreSQL against hand-written pgx code")
	flag.IntVar(&cfg.conns, "conns", 8, "-backend postgres: connections in each pool, airnest's and pgx's")
	flag.Parse()

	cfg.syncs = strings.Split(strings.ToUpper(*syncs), ",")
	for _, s := range strings.Split(*sizes, ",") {
		var n int
		if _, err := fmt.Sscan(s, &n); err != nil || n <= 0 {
			fatal(fmt.Errorf("-sizes: bad size %q", s))
		}
		cfg.sizes = append(cfg.sizes, n)
	}
	if *only != "" {
		re, err := regexp.Compile(*only)
		if err != nil {
			fatal(err)
		}
		cfg.only = re
	}
	if *short {
		cfg = cfg.tinyConfig()
	}
	cfg.out = os.Stdout
	var pgVsPgx bool
	switch *backendName {
	case "sqlite":
	case "postgres":
		pgVsPgx = true
		if cfg.postgres == "" {
			cfg.postgres = "start"
		}
		// airnest's pools as large as the baseline's one.
		writers, readers = cfg.conns, cfg.conns
	default:
		fatal(fmt.Errorf("-backend: %q is neither sqlite nor postgres", *backendName))
	}
	if cfg.postgres != "" {
		air, base, stop, err := pgServer(context.Background(), cfg.postgres, pgVsPgx)
		defer stop()
		if err != nil {
			stop()
			fatal(err)
		}
		cfg.postgres, cfg.pgBase = air, base
	}
	if cfg.postgres != "" {
		// PostgreSQL commits by its own settings: one round, SQLite in the
		// last mode asked for (FULL by default), like for like.
		cfg.syncs = cfg.syncs[len(cfg.syncs)-1:]
	}
	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		if err != nil {
			fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	ok, err := run(context.Background(), cfg)
	if err != nil {
		pprof.StopCPUProfile()
		fatal(err)
	}
	if cfg.check && !ok {
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(2)
}

// tinyConfig shrinks c to a smoke test.
func (c config) tinyConfig() config {
	c.tiny = true
	c.rows = 2000
	c.dur = 40 * time.Millisecond
	c.rounds = 2
	c.sizes = []int{500, 1000, 2000}
	c.scaleD = 30 * time.Millisecond
	return c
}

// run does what cfg says and reports whether every target held.
func run(ctx context.Context, cfg config) (bool, error) {
	dir := cfg.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "airnest-bench")
		if err != nil {
			return false, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	fmt.Fprintf(cfg.out, "# airnest benchmark, %s, %s, %s/%s, GOMAXPROCS=%d\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0))
	if cfg.scale || cfg.tiny {
		if err := runScale(ctx, cfg, dir); err != nil {
			return false, err
		}
		if !cfg.tiny {
			return true, nil
		}
	}
	return runCompare(ctx, cfg, dir)
}
