// SPDX-License-Identifier: MIT

// Duration of runtime.GOMAXPROCS(n) while CPU-bound goroutines run, each yielding about every
// 50 µs of work (the same load as the C twin's).
package main

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

var workSink uint64

// spin does @iters rounds of xorshift64; the C twin does the same rounds.
func spin(x uint64, iters int) uint64 {
	for i := 0; i < iters; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

// calibrate returns the number of rounds that take about @us microseconds.
func calibrate(us int) int {
	iters := 1000
	for {
		start := time.Now()
		workSink += spin(88172645463325252, iters)
		el := time.Since(start)
		if el >= 2*time.Millisecond {
			return int(float64(iters) * float64(us) * 1e3 / float64(el.Nanoseconds()))
		}
		iters *= 2
	}
}

func percentile(sorted []float64, p float64) float64 {
	i := int(p * float64(len(sorted)-1))
	return sorted[i]
}

func resizeLatency(n int) result {
	procs := runtime.GOMAXPROCS(0)
	other := 1
	if procs == 1 {
		other = 2
	}
	iters := calibrate(50)
	workers := 2 * procs
	if workers < 4 {
		workers = 4
	}
	var stop int32
	var wg sync.WaitGroup
	wg.Add(workers)
	for w := 0; w < workers; w++ {
		go func(seed uint64) {
			x := seed
			for atomic.LoadInt32(&stop) == 0 {
				x = spin(x, iters)
				runtime.Gosched()
			}
			atomic.AddUint64(&workSink, x)
			wg.Done()
		}(uint64(w + 1))
	}
	time.Sleep(10 * time.Millisecond)
	lat := make([]float64, 0, n)
	for i := 0; i < n; i++ {
		target := other
		if i%2 == 1 {
			target = procs
		}
		start := time.Now()
		runtime.GOMAXPROCS(target)
		lat = append(lat, float64(time.Since(start).Nanoseconds())/1e3)
		time.Sleep(2 * time.Millisecond)
	}
	runtime.GOMAXPROCS(procs)
	atomic.StoreInt32(&stop, 1)
	wg.Wait()
	sort.Float64s(lat)
	return result{"resize_latency", percentile(lat, 0.5), "us", []string{
		fmt.Sprintf("p99=%.6g", percentile(lat, 0.99)),
		fmt.Sprintf("max=%.6g", lat[len(lat)-1]),
		fmt.Sprintf("resizes=%d", n),
	}}
}
