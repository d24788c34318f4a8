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

func workloads(cfg config) []workload {
	return []workload{
		{"single save", "saves/s", 0.90, func(im impl, d time.Duration, r *rand.Rand) (sample, error) {
			return timed(d, func() (int, error) { return 1, im.SaveNew(r.IntN(1 << 30)) })
		}},
		{"batched save (tx of 1,000)", "saves/s", 0.85, func(im impl, d time.Duration, r *rand.Rand) (sample, error) {
			return timed(d, func() (int, error) { return txSize, im.SaveBatch(r.IntN(1<<30), txSize) })
		}},
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
		{"scan into a slice (Scan)", "rows/s", 0.85, func(im impl, d time.Duration, r *rand.Rand) (sample, error) {
			return timed(d, im.Scan)
		}},
		{"scan streaming (All)", "rows/s", 0.85, func(im impl, d time.Duration, r *rand.Rand) (sample, error) {
			return timed(d, im.Stream)
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
	a, b   sample  // totals over all rounds
	med    float64 // median over rounds of airnest's rate ÷ the baseline's
	status string  // "" or "pending"
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
	if cfg.impls != "baseline" {
		a, err := openAirnest(ctx, filepath.Join(dir, "airnest-"+mode+".db"), sm, pool)
		if err != nil {
			return false, err
		}
		ims = append(ims, a)
	}
	if cfg.impls != "airnest" {
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
		s, ratio, err := measure(w, ims, cfg, uint64(wi))
		switch {
		case errors.Is(err, errPending):
			res.status = "pending"
		case err != nil:
			return false, fmt.Errorf("%s: %w", w.name, err)
		default:
			res.a, res.med = s[0], ratio
			if len(s) > 1 {
				res.b = s[1]
			}
		}
		rows = append(rows, res)
	}
	ok := printTable(cfg, mode, ims, rows)
	if len(ims) == 2 {
		ok = printSizes(cfg, disk, blob, pool) && ok
	}
	return ok, nil
}

// measure runs w on every implementation in alternating segments (A B,
// B A, ...). It returns the totals and the median over rounds of the
// ratio of the first implementation's rate to the second's in the same
// round: a burst of load from elsewhere on the machine moves one round,
// not the result.
func measure(w workload, ims []impl, cfg config, seed uint64) ([]sample, float64, error) {
	seg := cfg.dur / time.Duration(cfg.rounds)
	warm := min(seg/4, 200*time.Millisecond)
	rngs := make([]*rand.Rand, len(ims))
	for i := range ims {
		rngs[i] = rand.New(rand.NewPCG(seed, uint64(i)))
		if _, err := w.run(ims[i], warm, rngs[i]); err != nil {
			return nil, 0, fmt.Errorf("%s: %w", ims[i].Name(), err)
		}
	}
	out := make([]sample, len(ims))
	var ratios []float64
	for r := range cfg.rounds {
		round := make([]sample, len(ims))
		for k := range ims {
			i := k
			if r%2 == 1 {
				i = len(ims) - 1 - k
			}
			s, err := w.run(ims[i], seg, rngs[i])
			if err != nil {
				return nil, 0, fmt.Errorf("%s: %w", ims[i].Name(), err)
			}
			round[i] = s
			out[i].add(s)
		}
		if len(ims) == 2 && round[1].rate() > 0 {
			ratios = append(ratios, round[0].rate()/round[1].rate())
		}
	}
	return out, median(ratios), nil
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
	fmt.Fprintf(o, "## synchronous=%s, %d rows\n\n", mode, cfg.rows)
	if !both {
		fmt.Fprintf(o, "| workload | %s | allocs/op |\n|---|--:|--:|\n", ims[0].Name())
		for _, r := range rows {
			if r.status != "" {
				fmt.Fprintf(o, "| %s | %s | |\n", r.w.name, r.status)
				continue
			}
			fmt.Fprintf(o, "| %s | %s %s | %.1f |\n", r.w.name, num(r.a.rate()), r.w.unit, r.a.allocsPerOp())
		}
		fmt.Fprintln(o)
		return true
	}
	ok := true
	fmt.Fprintln(o, "| workload | airnest | baseline | airnest ÷ baseline (median of rounds) | target | allocs/op airnest / baseline |")
	fmt.Fprintln(o, "|---|--:|--:|--:|--:|--:|")
	for _, r := range rows {
		if r.status != "" {
			fmt.Fprintf(o, "| %s | %s | | | | |\n", r.w.name, r.status)
			continue
		}
		target := r.w.target
		if strings.HasSuffix(r.w.name, "concurrent savers") {
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
		fmt.Fprintf(o, "| %s | %s %s | %s | %.2f | %s | %.1f / %.1f |\n",
			r.w.name, num(r.a.rate()), r.w.unit, num(r.b.rate()), r.ratio(), verdict, r.a.allocsPerOp(), r.b.allocsPerOp())
		if r.a.extra > 0 || r.b.extra > 0 {
			fmt.Fprintf(o, "| ↳ the saver, meanwhile | %s saves/s | %s | %.2f | | |\n",
				num(r.a.extra/r.a.secs), num(r.b.extra/r.b.secs), (r.a.extra/r.a.secs)/(r.b.extra/r.b.secs))
		}
	}
	fmt.Fprintln(o)
	return ok
}

// printSizes reports bytes on disk per row and the blob size against JSON.
func printSizes(cfg config, disk [2]int64, blob [2]float64, pool []Job) bool {
	o := cfg.out
	var js, jsNoPayload float64
	for i := range pool {
		v := pool[i]
		v.ID = airnest.NewID[Job]()
		b, _ := json.Marshal(v)
		js += float64(len(b))
		v.Payload = nil
		b, _ = json.Marshal(v)
		jsNoPayload += float64(len(b))
	}
	js /= float64(len(pool))
	jsNoPayload /= float64(len(pool))
	diskRatio := float64(disk[0]) / float64(disk[1])
	blobRatio := blob[0] / js
	// The record without its payload: the blob less the payload's 259 bytes.
	noPayload := (blob[0] - payloadSize - 3) / jsNoPayload
	rows := float64(cfg.rows)
	fmt.Fprintln(o, "| size | airnest | baseline | ratio | target |")
	fmt.Fprintln(o, "|---|--:|--:|--:|--:|")
	fmt.Fprintf(o, "| bytes on disk per row (file + WAL after checkpoint) | %.0f | %.0f | %.3f | ≤ 1.05%s |\n",
		float64(disk[0])/rows, float64(disk[1])/rows, diskRatio, missed(diskRatio > 1.05))
	fmt.Fprintf(o, "| mean blob bytes (CBOR) | %.1f | %.1f | %.3f | |\n", blob[0], blob[1], blob[0]/blob[1])
	fmt.Fprintf(o, "| CBOR blob ÷ encoding/json of the same record | %.0f / %.0f | | %.3f | ≤ 0.5%s |\n",
		blob[0], js, blobRatio, missed(blobRatio > 0.5))
	fmt.Fprintf(o, "| the same without the 256 random payload bytes | %.0f / %.0f | | %.3f | |\n\n",
		blob[0]-payloadSize-3, jsNoPayload, noPayload)
	return diskRatio <= 1.05 || cfg.tiny
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
