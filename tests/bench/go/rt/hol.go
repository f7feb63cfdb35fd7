// SPDX-License-Identifier: MIT

// Head-of-line blocking, the twin of tests/bench/rt/hol.c.
package main

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// GOMAXPROCS goroutines spin 1 s without a scheduling point of their own; once they all run
// and 100 ms more have passed, the main goroutine starts n short goroutines, each noting when
// it starts.  p99 of the delay from go to start in ms; p50_ms, max_ms extra.
func hol(n int) result {
	procs := runtime.GOMAXPROCS(0)
	var started int32
	var hogs, shorts sync.WaitGroup
	hogs.Add(procs)
	for i := 0; i < procs; i++ {
		go func() {
			t0 := time.Now()
			atomic.AddInt32(&started, 1)
			for time.Since(t0) < time.Second {
			}
			hogs.Done()
		}()
	}
	for atomic.LoadInt32(&started) < int32(procs) {
		time.Sleep(100 * time.Microsecond)
	}
	time.Sleep(100 * time.Millisecond)
	spawned := make([]time.Time, n)
	starts := make([]time.Time, n)
	shorts.Add(n)
	for i := 0; i < n; i++ {
		spawned[i] = time.Now()
		go func(i int) {
			starts[i] = time.Now()
			shorts.Done()
		}(i)
	}
	shorts.Wait()
	hogs.Wait()
	lat := make([]float64, n)
	for i := range lat {
		lat[i] = float64(starts[i].Sub(spawned[i]).Nanoseconds()) / 1e6
	}
	sort.Float64s(lat)
	return result{fmt.Sprintf("hol_%dhogs_%d", procs, n), percentile(lat, 0.99), "ms",
		[]string{fmt.Sprintf("p50_ms=%.4g", percentile(lat, 0.5)),
			fmt.Sprintf("max_ms=%.4g", lat[n-1])}}
}
