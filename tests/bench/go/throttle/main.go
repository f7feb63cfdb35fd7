// SPDX-License-Identifier: MIT

// The Go twin of tests/bench/throttle-load.c for tests/bench/compare-throttle: the same
// workload (4 goroutines doing ~50 µs work units of 30,000 xorshift rounds between
// runtime.Gosched calls, and a probe sleeping 1 ms in a loop recording its lateness) under a
// GOMAXPROCS chosen the way users choose it.  Built in GOPATH mode against Debian's
// golang-uber-automaxprocs-dev (no network).
//
//	throttle-go (-procs N | -automaxprocs) [-workers 4] [-seconds 5] [-outside-cpu F]
//
// Prints one JSON object like throttle-load --json: {"mode", "procs", "cpu_seconds",
// "work_ops", "late_p50_ms", "late_p99_ms", "late_max_ms"}.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/automaxprocs/maxprocs"
)

var sink uint64

func spin(x uint64, n int) uint64 {
	for i := 0; i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	i := int(q * float64(len(v)-1))
	return v[i]
}

// outside burns share of a CPU on a locked OS thread, outside the scheduler's accounting.
func outside(share float64, stop *int32, done *sync.WaitGroup) {
	runtime.LockOSThread()
	x := uint64(7)
	for atomic.LoadInt32(stop) == 0 {
		t0 := time.Now()
		for time.Since(t0) < time.Duration(share*10e6) {
			x = spin(x, 1000)
		}
		time.Sleep(time.Duration((1 - share) * 10e6))
	}
	atomic.AddUint64(&sink, x)
	done.Done()
}

func main() {
	procs := flag.Int("procs", 0, "GOMAXPROCS")
	amp := flag.Bool("automaxprocs", false, "let automaxprocs set GOMAXPROCS")
	workers := flag.Int("workers", 4, "CPU-bound goroutines")
	seconds := flag.Float64("seconds", 5, "run time")
	outsideCPU := flag.Float64("outside-cpu", 0, "a thread burning this share of a CPU")
	flag.Parse()
	mode := "procs"
	switch {
	case *amp && *procs == 0:
		mode = "automaxprocs"
		if _, err := maxprocs.Set(maxprocs.Logger(func(string, ...interface{}) {})); err != nil {
			fmt.Fprintln(os.Stderr, "throttle-go: automaxprocs:", err)
			os.Exit(1)
		}
	case !*amp && *procs > 0:
		runtime.GOMAXPROCS(*procs)
	default:
		fmt.Fprintln(os.Stderr, "throttle-go: one of -procs N, -automaxprocs is required")
		os.Exit(2)
	}
	cpu0 := cpuSeconds()
	var stop int32
	var ops uint64
	var wg sync.WaitGroup
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func(seed uint64) {
			x := seed
			var mine uint64
			for atomic.LoadInt32(&stop) == 0 {
				x = spin(x, 30000)
				mine++
				runtime.Gosched()
			}
			atomic.AddUint64(&sink, x)
			atomic.AddUint64(&ops, mine)
			wg.Done()
		}(uint64(w + 1))
	}
	if *outsideCPU > 0 {
		wg.Add(1)
		go outside(*outsideCPU, &stop, &wg)
	}
	late := make([]float64, 0, int(*seconds*1000)+100)
	deadline := time.Now().Add(time.Duration(*seconds * float64(time.Second)))
	for time.Now().Before(deadline) {
		t0 := time.Now()
		time.Sleep(time.Millisecond)
		late = append(late, float64(time.Since(t0)-time.Millisecond)/1e6)
	}
	atomic.StoreInt32(&stop, 1)
	wg.Wait()
	sort.Float64s(late)
	for i := range late {
		if late[i] < 0 {
			late[i] = 0
		}
	}
	out := map[string]interface{}{
		"mode": mode, "procs": runtime.GOMAXPROCS(0), "cpu_seconds": cpuSeconds() - cpu0,
		"work_ops": ops, "late_p50_ms": quantile(late, 0.5), "late_p99_ms": quantile(late, 0.99),
		"late_max_ms": late[len(late)-1],
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
}
