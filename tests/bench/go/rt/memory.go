// SPDX-License-Identifier: MIT

// Resident memory per goroutine parked on a channel.
package main

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// rssBytes reads the resident set size from /proc/self/statm (second field, in pages).
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		fail("/proc/self/statm: %v", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		fail("/proc/self/statm: unexpected content %q", string(b))
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		fail("/proc/self/statm: %v", err)
	}
	return pages * int64(os.Getpagesize())
}

func parkedMemory(n int) result {
	ch := make(chan struct{})
	var ready, done sync.WaitGroup
	ready.Add(n)
	done.Add(n)
	before := rssBytes()
	for i := 0; i < n; i++ {
		go func() {
			ready.Done()
			<-ch
			done.Done()
		}()
	}
	ready.Wait()
	/* Every goroutine has run; give the last ones time to reach the receive and park. */
	time.Sleep(20 * time.Millisecond)
	after := rssBytes()
	close(ch)
	done.Wait()
	return result{"parked_memory_" + sizeName(n), float64(after-before) / float64(n), "B", nil}
}
