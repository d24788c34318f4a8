package main

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// sample is what one implementation did in one workload: its operations,
// the wall time they took and the Go allocations they made.
type sample struct {
	ops     float64
	secs    float64
	mallocs uint64
	extra   float64 // a second count (the saver's saves in the mixed workload)
}

func (s *sample) add(o sample) {
	s.ops += o.ops
	s.secs += o.secs
	s.mallocs += o.mallocs
	s.extra += o.extra
}

func (s sample) rate() float64 {
	if s.secs == 0 {
		return 0
	}
	return s.ops / s.secs
}

func (s sample) allocsPerOp() float64 {
	if s.ops == 0 {
		return 0
	}
	return float64(s.mallocs) / s.ops
}

func mallocs() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.Mallocs
}

// timed calls step until d has passed; step returns how many operations it did.
func timed(d time.Duration, step func() (int, error)) (sample, error) {
	m0 := mallocs()
	start := time.Now()
	var ops int
	for {
		n, err := step()
		if err != nil {
			return sample{}, err
		}
		ops += n
		if time.Since(start) >= d {
			break
		}
	}
	secs := time.Since(start).Seconds()
	return sample{ops: float64(ops), secs: secs, mallocs: mallocs() - m0}, nil
}

// parallel runs g goroutines, each calling step(goroutine, iteration) until
// d has passed, and counts the operations of all of them.
func parallel(d time.Duration, g int, step func(g, i int) error) (sample, error) {
	var ops atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make([]error, g)
	m0 := mallocs()
	start := time.Now()
	for k := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				if err := step(k, i); err != nil {
					errs[k] = err
					stop.Store(true)
					return
				}
				ops.Add(1)
			}
		}()
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	secs := time.Since(start).Seconds()
	for _, err := range errs {
		if err != nil {
			return sample{}, err
		}
	}
	return sample{ops: float64(ops.Load()), secs: secs, mallocs: mallocs() - m0}, nil
}

// syncLatency is the mean time of a 12 KiB write plus fdatasync in dir,
// about what one small commit under synchronous=FULL asks of the disk.
func syncLatency(dir string, n int) (time.Duration, error) {
	f, err := os.CreateTemp(dir, "sync-probe")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 12<<10)
	start := time.Now()
	for i := range n {
		if _, err := f.WriteAt(buf, int64(i)*int64(len(buf))); err != nil {
			return 0, err
		}
		if err := f.Sync(); err != nil {
			return 0, err
		}
	}
	return time.Since(start) / time.Duration(n), nil
}

// procStatus reads a kB field of /proc/self/status (VmHWM, VmRSS) in bytes;
// 0 where there is no /proc.
func procStatus(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// resetPeakRSS makes VmHWM start again from the current RSS (Linux 4.0+).
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}
