// SPDX-License-Identifier: MIT

// Command bench-rt-go is the Go twin of the C runtime benchmarks in tests/bench/rt/.
// Each subcommand runs one workload, identical to its C twin, and prints one line on stdout:
//
//	NAME VALUE UNIT [key=value ...]
//
// Usage: bench-rt-go BENCH [-n N] [-procs P]
// BENCH is one of yield_pingpong, chan_pingpong, spawn_join_seq, spawn_all, skynet,
// parked_memory, resize_latency, hol.  -procs sets GOMAXPROCS (default: the GOMAXPROCS environment
// or Go's default).  Progress and diagnostics go to stderr; exit status 1 on a failed check,
// 2 on bad usage.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

type bench struct {
	defaultN int
	run      func(n int) result
}

type result struct {
	name  string
	value float64
	unit  string
	extra []string
}

var benches = map[string]bench{
	"yield_pingpong":  {1000000, yieldPingpong},
	"chan_pingpong":   {1000000, chanPingpong},
	"spawn_join_seq":  {1000000, spawnJoinSeq},
	"spawn_all":       {100000, spawnAll},
	"skynet":          {1000000, skynet},
	"parked_memory":   {100000, parkedMemory},
	"resize_latency":  {200, resizeLatency},
	"tcp_echo":        {100, tcpEcho},
	"tcp_echo_server": {100, tcpEchoServer},
	"blocking_reads":  {1000, blockingReads},
	"hol":             {200, hol},
}

func usage() {
	names := make([]string, 0, len(benches))
	for k := range benches {
		names = append(names, k)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: bench-rt-go BENCH [-n N] [-procs P]\nBENCH: %s\n",
		strings.Join(names, ", "))
}

// sizeName spells n as "1eK" when it is a power of ten (1e5), else in decimal.
func sizeName(n int) string {
	k := 0
	for m := n; m >= 10 && m%10 == 0; m /= 10 {
		k++
	}
	if k > 0 && pow10(k) == n {
		return "1e" + strconv.Itoa(k)
	}
	return strconv.Itoa(n)
}

func pow10(k int) int {
	p := 1
	for ; k > 0; k-- {
		p *= 10
	}
	return p
}

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "bench-rt-go: "+format+"\n", a...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	name := os.Args[1]
	b, ok := benches[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "bench-rt-go: unknown benchmark %q\n", name)
		usage()
		os.Exit(2)
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	n := fs.Int("n", b.defaultN, "workload size")
	procs := fs.Int("procs", 0, "GOMAXPROCS (0: leave as is)")
	if err := fs.Parse(os.Args[2:]); err != nil {
		os.Exit(2)
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "bench-rt-go: unexpected argument %q\n", fs.Arg(0))
		os.Exit(2)
	}
	if *n < 1 {
		fmt.Fprintf(os.Stderr, "bench-rt-go: -n must be >= 1, got %d\n", *n)
		os.Exit(2)
	}
	if *procs < 0 || *procs > 1024 {
		fmt.Fprintf(os.Stderr, "bench-rt-go: -procs must be 1..1024, got %d\n", *procs)
		os.Exit(2)
	}
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	r := b.run(*n)
	line := fmt.Sprintf("%s %.6g %s", r.name, r.value, r.unit)
	if len(r.extra) > 0 {
		line += " " + strings.Join(r.extra, " ")
	}
	line += fmt.Sprintf(" procs=%d", runtime.GOMAXPROCS(0))
	fmt.Println(line)
}
