/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers of the C runtime benchmarks (tests/bench/rt/): argument parsing, clocks, RSS,
 * calibrated CPU work, running a body in a root task, and the one-line output
 *
 *     NAME VALUE UNIT [key=value ...]
 *
 * that tests/bench/compare-runtime parses.  Each benchmark has a Go twin in tests/bench/go/rt/
 * doing the same work.  Benchmarks use the runtime's private entry points (ap_rt_*) to fix the
 * processor count; they never call autoprocs_init().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autoprocs.h"

typedef struct BenchArgs {
        uint64_t n;        /* workload size (--n) */
        unsigned procs;    /* processors (--procs; default: CPUs in our affinity mask) */
} BenchArgs;

/* Parse "--n N" and "--procs P" (and --help).  On bad input prints one line naming the argument
 * and exits with status 2. */
void bench_parse_args(int argc, char **argv, const char *prog, uint64_t default_n, BenchArgs *ret);

/* CPUs in this process's affinity mask (>= 1). */
unsigned bench_host_cpus(void);

/* CLOCK_MONOTONIC in ns. */
uint64_t bench_now_ns(void);

/* Resident set size from /proc/self/statm, in bytes; exits 1 if it cannot be read. */
int64_t bench_rss_bytes(void);

/* "1eK" when @n is a power of ten >= 10, else the decimal number. */
void bench_size_name(uint64_t n, char *buf, size_t size);

/* @iters rounds of xorshift64 (the Go twin's spin()); returns the state so no round is elided. */
uint64_t bench_spin(uint64_t x, uint64_t iters);
/* Rounds of bench_spin() that take about @us microseconds on this CPU (measured ~2 ms). */
uint64_t bench_calibrate(unsigned us);

/* Start the runtime with @procs processors, run fn(arg) in a root task, join it, stop the
 * runtime.  Exits 1 with a message if the runtime cannot start or the task cannot be spawned. */
void bench_run_root(unsigned procs, autoprocs_task_fn fn, void *arg);

/* Start the runtime with @procs processors (exits 1 on failure). */
void bench_rt_start(unsigned procs);

/* Print "NAME VALUE UNIT [extra] procs=P" on stdout.  @extra may be NULL. */
void bench_print(const char *name, double value, const char *unit, const char *extra,
                 unsigned procs);

/* Print "PROG: message" on stderr and exit 1. */
__attribute__((noreturn, format(printf, 2, 3)))
void bench_fail(const char *prog, const char *fmt, ...);

/* qsort() comparator for doubles. */
int bench_cmp_double(const void *a, const void *b);
/* The @p quantile (0..1) of @n sorted values (nearest rank below). */
double bench_quantile(const double *sorted, size_t n, double p);
