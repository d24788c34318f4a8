package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airnest/airnest"
)

// workload is one line of the comparison table.
type workload struct {
	name   string
	unit   string  // what one operation is
	target float64 // least acceptable ratio airnest ÷ baseline; 0: none
	run    func(im impl, d time.Duration, r *rand.Rand) (sample, error)
}

const txSize = 1000

// workloads lists the reads first, so that they run on exactly the preloaded
// rows; the writes after them grow the tables (the table reports the rows
// each implementation held when a workload began).
func workloads(cfg config) []workload {
	return []workload{
		{"load by id", "loads/s", 0.85, func(im impl, d time.Duration, r *rand.Rand) (sample, error) {
			load, err := im.Loader(0)
			if err != nil {
				return sample{}, err
			}
			return timed(d, func() (int, error) { return 1, load(r.IntN(1 << 30)) })
		}},
		{"query status=? ORDER BY priority LIMIT 50", "queries/s", 0.85, func(im impl, d time.Duration, r *rand.Rand) (sample, error) {
			return timed(d, func() (int, error) {
				n, err := im.Query(statuses[r.IntN(len(statuses))])
				if err == nil && n == 0 {
					err = errors.New("query found nothing")
				}
				return 1, err
			})
		}},
		{"count by status", "counts/s", 0.90, func(im impl, d time.Duration, r *rand.Rand) (sample, error) {
			return timed(d, func() (int, error) {
				_, err := im.Count(statuses[r.IntN(len(statuses))])
				return 1, err
			})
		}},
		membershipWorkload(cfg),
		{"scan into a slice (Scan)", "rows/s", 0.85, func(im impl, d time.Duration, r *rand.Rand) (sample, error) {
			return timed(d, im.Scan)
		}},
		{"scan streaming (All)", "rows/s", 0.85, func(im impl, d time.Duration, r *rand.Rand) (sample, error) {
			return timed(d, im.Stream)
		}},
		{"single save", "saves/s", 0.90, func(im impl, d time.Duration, r *rand.Rand) (sample, error) {
			return timed(d, func() (int, error) { return 1, im.SaveNew(r.IntN(1 << 30)) })
		}},
		{"batched save (tx of 1,000)", "saves/s", 0.85, func(im impl, d time.Duration, r *rand.Rand) (sample, error) {
			return timed(d, func() (int, error) { return txSize, im.SaveBatch(r.IntN(1<<30), txSize) })
		}},
		{"update (read-modify-write)", "updates/s", 0.85, func(im impl, d time.Duration, r *rand.Rand) (sample, error) {
			return timed(d, func() (int, error) { return 1, im.Update(r.IntN(1 << 30)) })
		}},
		{fmt.Sprintf("%d concurrent savers", cfg.workers), "saves/s", 0, func(im impl, d time.Duration, r *rand.Rand) (sample, error) {
			base := r.IntN(1 << 20)
			return parallel(d, cfg.workers, func(g, i int) error { return im.SaveNew(base + g*7919 + i) })
		}},
		{"mixed: 4 loaders + 1 saver (loads)", "loads/s", 0.90, mixed},
	}
}

// mixed runs 4 loader goroutines and 1 saver; ops are the loads, extra the saves.
func mixed(im impl, d time.Duration, r *rand.Rand) (sample, error) {
	const loaders = 4
	var loads []func(int) error
	for g := range loaders {
		l, err := im.Loader(1 + g)
		if err != nil {
			return sample{}, err
		}
		loads = append(loads, l)
	}
	seed := r.Uint64()
	var saves atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	var saveErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			if err := im.SaveNew(i); err != nil {
				saveErr = err
				return
			}
			saves.Add(1)
		}
	}()
	s, err := parallel(d, loaders, func(g, i int) error {
		return loads[g](int((uint64(i)*0x9E3779B97F4A7C15 + seed + uint64(g)) >> 33))
	})
	stop.Store(true)
	wg.Wait()
	if err == nil {
		err = saveErr
	}
	s.extra = float64(saves.Load())
	return s, err
}

// rowResult is one measured workload of one sync mode.
type rowResult struct {
	w      workload
	a, b   sample     // totals over all rounds (for allocations per operation)
	rate   [2]float64 // median over rounds of each implementation's rate
	extra  [2]float64 // the same for the second count (the saver's saves/s)
	rows   [2]int     // rows in each implementation's table when the workload began
	med    float64    // median over rounds of airnest's rate ÷ the baseline's
	status string     // "" or why the workload did not run
}

func (r rowResult) ratio() float64 { return r.med }

func runCompare(ctx context.Context, cfg config, dir string) (bool, error) {
	pool := makePool(4096)
	okAll := true
	if d, err := syncLatency(dir, 200); err == nil {
		// Group commit saves one sync per writer in a batch: the longer a
		// sync takes next to the CPU cost of an insert, the larger its gain.
		fmt.Fprintf(cfg.out, "A 12 KiB write + fsync in the data directory takes %v.\n\n", d.Round(time.Microsecond))
	}
	for _, mode := range cfg.syncs {
		ok, err := compareMode(ctx, cfg, dir, mode, pool)
		if err != nil {
			return false, fmt.Errorf("synchronous=%s: %w", mode, err)
		}
		okAll = okAll && ok
	}
	fmt.Fprintf(cfg.out, "Peak RSS of the whole run (VmHWM): %s\n", mib(procStatus("VmHWM")))
	return okAll, nil
}

func makePool(n int) []Job {
	r := rand.New(rand.NewPCG(1, 2))
	pool := make([]Job, n)
	for i := range pool {
		pool[i] = gen(r)
	}
	return pool
}

func syncOf(mode string) (airnest.Sync, error) {
	switch mode {
	case "NORMAL":
		return airnest.SyncNormal, nil
	case "FULL":
		return airnest.SyncFull, nil
	case "EXTRA":
		return airnest.SyncExtra, nil
	}
	return 0, fmt.Errorf("unknown synchronous mode %q", mode)
}

func compareMode(ctx context.Context, cfg config, dir, mode string, pool []Job) (bool, error) {
	sm, err := syncOf(mode)
	if err != nil {
		return false, err
	}
	var ims []impl
	defer func() {
		for _, im := range ims {
			im.Close()
		}
	}()
	if cfg.pgBase != "" {
		// airnest on PostgreSQL against hand-written pgx on the same server.
		if err := pgSettings(ctx, cfg.out, cfg.postgres, cfg.conns); err != nil {
			return false, err
		}
		a, err := openAirnest(ctx, cfg.postgres, sm, pool)
		if err != nil {
			return false, err
		}
		ims = append(ims, a)
		b, err := openPGBaseline(ctx, cfg.pgBase, cfg.conns, pool)
		if err != nil {
			return false, err
		}
		ims = append(ims, b)
	} else if cfg.postgres != "" {
		// airnest on SQLite against airnest on PostgreSQL: what each
		// operation costs on either database, in one process.
		a, err := openAirnest(ctx, filepath.Join(dir, "airnest-"+mode+".db"), sm, pool)
		if err != nil {
			return false, err
		}
		a.name = "airnest on SQLite"
		ims = append(ims, a)
		p, err := openAirnest(ctx, cfg.postgres, sm, pool)
		if err != nil {
			return false, err
		}
		p.name = "airnest on PostgreSQL"
		ims = append(ims, p)
	} else if cfg.impls != "baseline" {
		a, err := openAirnest(ctx, filepath.Join(dir, "airnest-"+mode+".db"), sm, pool)
		if err != nil {
			return false, err
		}
		ims = append(ims, a)
	}
	if cfg.impls != "airnest" && cfg.postgres == "" {
		b, err := openBaseline(filepath.Join(dir, "baseline-"+mode+".db"), mode, pool)
		if err != nil {
			return false, err
		}
		ims = append(ims, b)
	}
	for _, im := range ims {
		if err := im.Preload(cfg.rows, txSize); err != nil {
			return false, fmt.Errorf("%s: preload: %w", im.Name(), err)
		}
		// PostgreSQL: vacuum and analyze, as autovacuum would before long,
		// so the reads measure index-only scans, not a fresh bulk load.
		if s, ok := im.(interface{ Settle() error }); ok {
			if err := s.Settle(); err != nil {
				return false, fmt.Errorf("%s: vacuum: %w", im.Name(), err)
			}
		}
	}
	// Sizes first, while every table holds exactly cfg.rows rows.
	var disk [2]int64
	var blob [2]float64
	for i, im := range ims {
		if disk[i], err = im.Disk(); err != nil {
			return false, fmt.Errorf("%s: disk: %w", im.Name(), err)
		}
		if blob[i], err = im.AvgBlob(); err != nil {
			return false, fmt.Errorf("%s: blob size: %w", im.Name(), err)
		}
	}

	var rows []rowResult
	for wi, w := range workloads(cfg) {
		if cfg.only != nil && !cfg.only.MatchString(w.name) {
			continue
		}
		res := rowResult{w: w}
		for i, im := range ims {
			if res.rows[i], err = im.Rows(); err != nil {
				return false, fmt.Errorf("%s: rows: %w", im.Name(), err)
			}
		}
		m, err := measure(w, ims, cfg, uint64(wi))
		switch {
		case errors.Is(err, errPending):
			res.status = "not run here (no implementation for this backend)"
		case err != nil:
			return false, fmt.Errorf("%s: %w", w.name, err)
		default:
			res.a, res.rate, res.extra, res.med = m.total[0], m.rate, m.extra, m.ratio
			if len(ims) > 1 {
				res.b = m.total[1]
			}
		}
		rows = append(rows, res)
	}
	ok := printTable(cfg, mode, ims, rows)
	if cfg.pgBase != "" {
		ok = saverScaling(cfg.out, rows, 3) && ok
	}
	if len(ims) == 2 && cfg.postgres == "" {
		sizesOK, err := printSizes(ctx, cfg, disk, blob, pool)
		if err != nil {
			return false, err
		}
		ok = sizesOK && ok
	}
	return ok, nil
}

// measured is what measure found for one workload.
type measured struct {
	total [2]sample  // totals over all rounds, per implementation
	rate  [2]float64 // median over rounds of each implementation's rate
	extra [2]float64 // the same for the second count
	ratio float64    // median over rounds of rate[0] ÷ rate[1] in the same round
}

// measure runs w on every implementation in alternating segments (A B,
// B A, ...). The ratio is the median over rounds of the first
// implementation's rate to the second's in the same round, and the rates
// printed beside it are medians over the same rounds (not totals, which
// one slow round can drag): a burst of load from elsewhere on the machine
// moves one round, not the result.
func measure(w workload, ims []impl, cfg config, seed uint64) (measured, error) {
	var m measured
	seg := cfg.dur / time.Duration(cfg.rounds)
	warm := min(seg/4, 200*time.Millisecond)
	rngs := make([]*rand.Rand, len(ims))
	for i := range ims {
		rngs[i] = rand.New(rand.NewPCG(seed, uint64(i)))
		if _, err := w.run(ims[i], warm, rngs[i]); err != nil {
			return m, fmt.Errorf("%s: %w", ims[i].Name(), err)
		}
	}
	var ratios []float64
	rates, extras := make([][]float64, len(ims)), make([][]float64, len(ims))
	for r := range cfg.rounds {
		round := make([]sample, len(ims))
		for k := range ims {
			i := k
			if r%2 == 1 {
				i = len(ims) - 1 - k
			}
			s, err := w.run(ims[i], seg, rngs[i])
			if err != nil {
				return m, fmt.Errorf("%s: %w", ims[i].Name(), err)
			}
			round[i] = s
			m.total[i].add(s)
			rates[i] = append(rates[i], s.rate())
			extras[i] = append(extras[i], s.extra/s.secs)
		}
		if len(ims) == 2 && round[1].rate() > 0 {
			ratios = append(ratios, round[0].rate()/round[1].rate())
		}
	}
	for i := range ims {
		m.rate[i], m.extra[i] = median(rates[i]), median(extras[i])
	}
	m.ratio = median(ratios)
	return m, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	xs = slices.Clone(xs)
	slices.Sort(xs)
	if n := len(xs); n%2 == 0 {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	return xs[len(xs)/2]
}

func printTable(cfg config, mode string, ims []impl, rows []rowResult) bool {
	o := cfg.out
	both := len(ims) == 2
	if cfg.pgBase != "" {
		fmt.Fprintf(o, "## PostgreSQL, %d rows preloaded\n\n", cfg.rows)
	} else {
		fmt.Fprintf(o, "## synchronous=%s, %d rows preloaded\n\n", mode, cfg.rows)
	}
	if !both {
		fmt.Fprintf(o, "| workload | rows | %s (median of rounds) | allocs/op |\n|---|--:|--:|--:|\n", ims[0].Name())
		for _, r := range rows {
			if r.status != "" {
				fmt.Fprintf(o, "| %s | | %s | |\n", r.w.name, r.status)
				continue
			}
			fmt.Fprintf(o, "| %s | %s | %s %s | %.1f |\n", r.w.name, num(float64(r.rows[0])), num(r.rate[0]), r.w.unit, r.a.allocsPerOp())
		}
		fmt.Fprintln(o)
		return true
	}
	ok := true
	a, b := ims[0].Name(), ims[1].Name()
	fmt.Fprintf(o, "Rates are medians over the rounds; the ratio is the median over rounds of %s ÷ %s in the same round.\n", a, b)
	fmt.Fprintf(o, "Rows: each table's row count when the workload began (%s / %s).\n", a, b)
	fmt.Fprintln(o)
	fmt.Fprintf(o, "| workload | rows | %s | %s | ratio | target | allocs/op |\n", a, b)
	fmt.Fprintln(o, "|---|--:|--:|--:|--:|--:|--:|")
	for _, r := range rows {
		if r.status != "" {
			fmt.Fprintf(o, "| %s | | %s | | | | |\n", r.w.name, r.status)
			continue
		}
		target := r.w.target
		if cfg.pgBase != "" {
			target = pgTarget(r.w.name)
		} else if cfg.postgres != "" {
			target = 0 // two databases: costs, not a target
		} else if strings.HasSuffix(r.w.name, "concurrent savers") {
			target = 1.2
			if mode != "NORMAL" {
				target = 3.0
			}
		}
		verdict := ""
		if target > 0 {
			verdict = fmt.Sprintf("≥ %.2f", target)
			if r.ratio() < target {
				verdict += " **missed**"
				if !cfg.tiny {
					ok = false
				}
			}
		}
		rowCount := num(float64(r.rows[0]))
		if r.rows[1] != r.rows[0] {
			rowCount += " / " + num(float64(r.rows[1]))
		}
		fmt.Fprintf(o, "| %s | %s | %s %s | %s | %.2f | %s | %.1f / %.1f |\n",
			r.w.name, rowCount, num(r.rate[0]), r.w.unit, num(r.rate[1]), r.ratio(), verdict, r.a.allocsPerOp(), r.b.allocsPerOp())
		if r.extra[0] > 0 || r.extra[1] > 0 {
			fmt.Fprintf(o, "| ↳ the saver, meanwhile | | %s saves/s | %s | %.2f | | |\n",
				num(r.extra[0]), num(r.extra[1]), r.extra[0]/r.extra[1])
		}
	}
	fmt.Fprintln(o)
	return ok
}

// printSizes reports bytes on disk per row and the blob size against JSON,
// for Job and for JobLite (Job without its payload), each measured.
func printSizes(ctx context.Context, cfg config, disk [2]int64, blob [2]float64, pool []Job) (bool, error) {
	o := cfg.out
	lite, err := liteBlob(ctx, pool)
	if err != nil {
		return false, fmt.Errorf("JobLite blob: %w", err)
	}
	var js, jsLite float64
	for i := range pool {
		v := pool[i]
		v.ID = airnest.NewID[Job]()
		b, _ := json.Marshal(v)
		js += float64(len(b))
		l := liteOf(&pool[i])
		l.ID = airnest.NewID[JobLite]()
		b, _ = json.Marshal(l)
		jsLite += float64(len(b))
	}
	js /= float64(len(pool))
	jsLite /= float64(len(pool))
	diskRatio := float64(disk[0]) / float64(disk[1])
	blobRatio := blob[0] / js
	rows := float64(cfg.rows)
	fmt.Fprintln(o, "| size | airnest | baseline | ratio | target |")
	fmt.Fprintln(o, "|---|--:|--:|--:|--:|")
	fmt.Fprintf(o, "| bytes on disk per row (file + WAL after checkpoint) | %.0f | %.0f | %.3f | ≤ 1.05%s |\n",
		float64(disk[0])/rows, float64(disk[1])/rows, diskRatio, missed(diskRatio > 1.05))
	fmt.Fprintf(o, "| mean blob bytes (CBOR) | %.1f | %.1f | %.3f | |\n", blob[0], blob[1], blob[0]/blob[1])
	fmt.Fprintf(o, "| CBOR blob ÷ encoding/json of the same record | %.0f / %.0f | | %.3f | ≤ 0.5%s |\n",
		blob[0], js, blobRatio, missed(blobRatio > 0.5))
	fmt.Fprintf(o, "| the same for JobLite, the record without its 256 random payload bytes | %.0f / %.0f | | %.3f | |\n\n",
		lite, jsLite, lite/jsLite)
	return diskRatio <= 1.05 || cfg.tiny, nil
}

// liteBlob saves every pool record as a JobLite in a scratch store and
// returns the mean stored blob length.
func liteBlob(ctx context.Context, pool []Job) (float64, error) {
	s := airnest.NewStore()
	lites := airnest.Collection[JobLite](s)
	if err := s.Open(ctx, ":memory:", nil); err != nil {
		return 0, err
	}
	defer s.Close()
	err := s.Tx(ctx, func(tx *airnest.Tx) error {
		for i := range pool {
			l := liteOf(&pool[i])
			if err := lites.In(tx).Save(ctx, &l); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	db, err := s.DB()
	if err != nil {
		return 0, err
	}
	var avg float64
	err = db.QueryRowContext(ctx, fmt.Sprintf(`SELECT avg(length(v)) FROM %q`, lites.Name())).Scan(&avg)
	return avg, err
}

func missed(b bool) string {
	if b {
		return " **missed**"
	}
	return ""
}

// num formats a rate with thousands separators.
func num(f float64) string {
	n := int64(f + 0.5)
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
