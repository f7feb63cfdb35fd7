/* SPDX-License-Identifier: MIT */
/*
 * The monotonic clock in nanoseconds, in one place (inline: the runtime reads it on hot paths).
 */
#pragma once

#include <errno.h>
#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in ns (cannot fail for this clock on Linux). */
static inline uint64_t ap_now_ns(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Any clock (a thread's or the process's CPU clock) in ns.  @retval 0  @retval -errno */
static inline int ap_clock_read_ns(clockid_t id, uint64_t *ret)
{
        struct timespec ts;

        if (clock_gettime(id, &ts) < 0)
                return -errno;
        *ret = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        return 0;
}

/* @ns as a struct timespec (for the *timedwait and futex calls). */
static inline struct timespec ap_ns_to_ts(uint64_t ns)
{
        return (struct timespec){ .tv_sec = (time_t)(ns / 1000000000u),
                                  .tv_nsec = (long)(ns % 1000000000u) };
}
