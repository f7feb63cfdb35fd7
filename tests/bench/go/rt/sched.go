// SPDX-License-Identifier: MIT

// Scheduling benchmarks: yield, channel, spawn+join, spawn all, skynet.  Each body runs in the
// main goroutine, as its C twin runs in a root task.
package main

import (
	"runtime"
	"sync"
	"time"
)

// Two goroutines alternating runtime.Gosched; ns per switch (2n switches).
func yieldPingpong(n int) result {
	var wg sync.WaitGroup
	wg.Add(2)
	start := time.Now()
	for i := 0; i < 2; i++ {
		go func() {
			for j := 0; j < n; j++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	return result{"yield_pingpong", float64(el.Nanoseconds()) / float64(2*n), "ns", nil}
}

// Unbuffered channel round trip: main sends on ping, an echo goroutine answers on pong.
func chanPingpong(n int) result {
	ping := make(chan int)
	pong := make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
		close(pong)
	}()
	start := time.Now()
	sum := 0
	for i := 0; i < n; i++ {
		ping <- i
		sum += <-pong
	}
	el := time.Since(start)
	close(ping)
	<-pong
	if sum != n*(n-1)/2 {
		fail("chan_pingpong: sum %d, expected %d", sum, n*(n-1)/2)
	}
	return result{"chan_pingpong", float64(el.Nanoseconds()) / float64(n), "ns", nil}
}

// Spawn one goroutine, wait for it, repeat; ns per round trip.
func spawnJoinSeq(n int) result {
	var wg sync.WaitGroup
	count := 0
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			count++
			wg.Done()
		}()
		wg.Wait()
	}
	el := time.Since(start)
	if count != n {
		fail("spawn_join_seq: %d of %d ran", count, n)
	}
	return result{"spawn_join_seq", float64(el.Nanoseconds()) / float64(n), "ns", nil}
}

// Spawn n goroutines, then wait for all with one WaitGroup; ns per goroutine.
func spawnAll(n int) result {
	var wg sync.WaitGroup
	wg.Add(n)
	start := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			wg.Done()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	return result{"spawn_all_" + sizeName(n), float64(el.Nanoseconds()) / float64(n), "ns", nil}
}

// skynet: every goroutine of size > 1 spawns 10 children over an unbuffered channel and sums
// their answers; leaves answer their number.  https://github.com/atemerev/skynet
func skynetNode(c chan<- int64, num int64, size int64, div int64) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int64)
	var sum int64
	for i := int64(0); i < div; i++ {
		go skynetNode(rc, num+i*(size/div), size/div, div)
	}
	for i := int64(0); i < div; i++ {
		sum += <-rc
	}
	c <- sum
}

func skynet(n int) result {
	size := int64(n)
	for s := size; s > 1; s /= 10 {
		if s%10 != 0 {
			fail("skynet: -n must be a power of ten, got %d", n)
		}
	}
	c := make(chan int64)
	start := time.Now()
	go skynetNode(c, 0, size, 10)
	sum := <-c
	el := time.Since(start)
	if want := size * (size - 1) / 2; sum != want {
		fail("skynet: sum %d, expected %d", sum, want)
	}
	return result{"skynet_" + sizeName(n), float64(el.Nanoseconds()) / 1e6, "ms", nil}
}
