// SPDX-License-Identifier: MIT

// tcp_echo_N: the Go twin of tests/bench/rt/tcp-echo.c.  N loopback TCP connections, each
// driven by a client goroutine doing 64-byte request/response round trips against an echo
// goroutine per connection in a child process (this binary re-executed as tcp_echo_server, so
// each side needs N fds); ns per round trip over about 200,000 in total, at least 4 per
// connection.  Extra field peak_threads: the client process's OS threads at the end (Go never
// gives threads back, so the count at the end is the peak).
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

func threadCount() int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if strings.HasPrefix(s.Text(), "Threads:") {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(s.Text(), "Threads:")))
			return n
		}
	}
	return 0
}

// The child: accept n connections from the listener passed as fd 3, echo each.
func tcpEchoServer(n int) result {
	ln, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		fail("tcp_echo_server: %v", err)
	}
	for i := 0; i < n; i++ {
		c, err := ln.Accept()
		if err != nil {
			fail("tcp_echo_server: accept: %v", err)
		}
		go func(c net.Conn) {
			buf := make([]byte, 64)
			for {
				k, err := c.Read(buf)
				if err != nil {
					break
				}
				if _, err := c.Write(buf[:k]); err != nil {
					break
				}
			}
			c.Close()
		}(c)
	}
	select {}
}

func tcpEcho(n int) result {
	rounds := 200000 / n
	if rounds < 4 {
		rounds = 4
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("tcp_echo: listen: %v", err)
	}
	lf, err := ln.(*net.TCPListener).File()
	if err != nil {
		fail("tcp_echo: %v", err)
	}
	cmd := exec.Command(os.Args[0], "tcp_echo_server", "-n", strconv.Itoa(n),
		"-procs", strconv.Itoa(runtime.GOMAXPROCS(0)))
	cmd.ExtraFiles = []*os.File{lf}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		fail("tcp_echo: server: %v", err)
	}
	lf.Close()
	addr := ln.Addr().String()
	ln.Close()
	defer func() { cmd.Process.Kill(); cmd.Wait() }()

	var ready, done sync.WaitGroup
	ready.Add(n + 1)
	done.Add(n)
	var mu sync.Mutex
	errs := 0
	for i := 0; i < n; i++ {
		go func() {
			defer done.Done()
			c, err := net.Dial("tcp", addr)
			ready.Done()
			if err != nil {
				mu.Lock()
				errs++
				mu.Unlock()
				return
			}
			defer c.Close()
			ready.Wait()
			msg := make([]byte, 64)
			back := make([]byte, 64)
			for r := 0; r < rounds; r++ {
				if _, err := c.Write(msg); err != nil {
					mu.Lock()
					errs++
					mu.Unlock()
					return
				}
				if _, err := io.ReadFull(c, back); err != nil {
					mu.Lock()
					errs++
					mu.Unlock()
					return
				}
			}
		}()
	}
	ready.Done()
	ready.Wait()
	start := time.Now()
	done.Wait()
	el := time.Since(start)
	if errs > 0 {
		fail("tcp_echo: %d connections failed", errs)
	}
	return result{fmt.Sprintf("tcp_echo_%d", n), float64(el.Nanoseconds()) / float64(n*rounds), "ns",
		[]string{fmt.Sprintf("peak_threads=%d", threadCount())}}
}

// blocking_reads_N: the Go twin of tests/bench/rt/blocking-reads.c: n goroutines each read a
// 64 KiB file of their own (written just before); ms for all; peak_threads as above.
func blockingReads(n int) result {
	dir, err := os.MkdirTemp("", "autoprocs-bench-reads-go-")
	if err != nil {
		fail("blocking_reads: %v", err)
	}
	defer os.RemoveAll(dir)
	block := make([]byte, 64*1024)
	for i := 0; i < n; i++ {
		if err := os.WriteFile(fmt.Sprintf("%s/%d", dir, i), block, 0600); err != nil {
			fail("blocking_reads: %v", err)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	wg.Add(n)
	start := time.Now()
	for i := 0; i < n; i++ {
		go func(i int) {
			defer wg.Done()
			b, err := os.ReadFile(fmt.Sprintf("%s/%d", dir, i))
			if err != nil {
				fail("blocking_reads: %v", err)
			}
			mu.Lock()
			total += len(b)
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	el := time.Since(start)
	if total != n*len(block) {
		fail("blocking_reads: read %d bytes, expected %d", total, n*len(block))
	}
	return result{"blocking_reads_" + sizeName(n), float64(el.Nanoseconds()) / 1e6, "ms",
		[]string{fmt.Sprintf("peak_threads=%d", threadCount())}}
}
