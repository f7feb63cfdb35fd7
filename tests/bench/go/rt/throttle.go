// SPDX-License-Identifier: MIT

// Go twin of throttle-load's probe (not part of compare-runtime): 4 goroutines doing ~50 µs
// work units (30,000 xorshift rounds) between runtime.Gosched calls, and a probe sleeping
// 1 ms in a loop; -n is the run time in ms.  Prints the probe's median lateness in ms.
package main

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

func throttleProbe(n int) result {
	const workers = 4
	var stop int32
	var ops uint64
	var wg sync.WaitGroup
	wg.Add(workers)
	for w := 0; w < workers; w++ {
		go func(seed uint64) {
			x := seed
			var mine uint64
			for atomic.LoadInt32(&stop) == 0 {
				x = spin(x, 30000)
				mine++
				runtime.Gosched()
			}
			atomic.AddUint64(&workSink, x)
			atomic.AddUint64(&ops, mine)
			wg.Done()
		}(uint64(w + 1))
	}
	late := make([]float64, 0, n+100)
	deadline := time.Now().Add(time.Duration(n) * time.Millisecond)
	for time.Now().Before(deadline) {
		t0 := time.Now()
		time.Sleep(time.Millisecond)
		late = append(late, float64(time.Since(t0)-time.Millisecond)/1e6)
	}
	atomic.StoreInt32(&stop, 1)
	wg.Wait()
	sort.Float64s(late)
	return result{"throttle_late_p50", percentile(late, 0.5), "ms", []string{
		fmt.Sprintf("p99=%.6g", percentile(late, 0.99)),
		fmt.Sprintf("max=%.6g", late[len(late)-1]),
		fmt.Sprintf("work_ops=%d", ops),
	}}
}
