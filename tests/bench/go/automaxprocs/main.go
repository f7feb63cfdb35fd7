// SPDX-License-Identifier: MIT

// The Go twin of tests/bench/detect/detect-cost.c: the cost of automaxprocs' maxprocs.Set()
// (Debian's golang-uber-automaxprocs-dev, built with Go from golang-go in GOPATH mode, no network).
//
//	automaxprocs-cost [--n N]   prints "maxprocs_set <median> us" (each call timed alone; the undo
//	                            function that restores GOMAXPROCS runs outside the timed part)
//	automaxprocs-cost --answer  prints {"procs": GOMAXPROCS after Set, "error": ..., "log": [...]}
//	                            (what automaxprocs decides for this process)
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"time"

	"go.uber.org/automaxprocs/maxprocs"
)

func main() {
	n := flag.Int("n", 1000, "timed calls")
	answer := flag.Bool("answer", false, "print what automaxprocs sets, as JSON")
	flag.Parse()

	if *answer {
		var log []string
		_, err := maxprocs.Set(maxprocs.Logger(func(f string, a ...interface{}) {
			log = append(log, fmt.Sprintf(f, a...))
		}))
		out := map[string]interface{}{"procs": runtime.GOMAXPROCS(0), "error": nil, "log": log,
			"num_cpu": runtime.NumCPU()}
		if err != nil {
			out["error"] = err.Error()
		}
		if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
			os.Exit(1)
		}
		return
	}

	if *n < 1 {
		fmt.Fprintln(os.Stderr, "automaxprocs-cost: --n must be >= 1")
		os.Exit(2)
	}
	quiet := maxprocs.Logger(func(string, ...interface{}) {})
	us := make([]float64, *n)
	for i := range us {
		t0 := time.Now()
		undo, err := maxprocs.Set(quiet)
		d := time.Since(t0)
		if err != nil {
			fmt.Fprintln(os.Stderr, "automaxprocs-cost: maxprocs.Set:", err)
			os.Exit(1)
		}
		undo()
		us[i] = float64(d.Nanoseconds()) / 1e3
	}
	sort.Float64s(us)
	fmt.Printf("maxprocs_set %.3f us p10=%.3f p90=%.3f n=%d\n", us[len(us)/2], us[len(us)/10],
		us[len(us)*9/10], len(us))
}
