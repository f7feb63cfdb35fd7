/* SPDX-License-Identifier: MIT */
/*
 * The one policy that turns CPU facts into a processor count (autoprocs(1), "SIZING OPTIONS").
 * Q = quota/period, A = affinity CPUs:
 *   go125         no limit: A;  else min(A, max(2, ceil(Q)))   (A = 1 gives 1)
 *   ceil          no limit: A;  else min(A, max(1, ceil(Q)))
 *   floor         no limit: A;  else min(A, max(1, floor(Q)))
 *   automaxprocs  no limit: A;  else max(MIN, floor(Q)), MIN = min_procs or 1, not capped by A
 * min_procs raises the policy's own minimum (2 or 1); the affinity cap still applies to the first
 * three.  reserve_millicpus is subtracted from Q before rounding; a result <= 0 rounds to the
 * minimum.  Integers only: with R = reserve/1000, ceil(Q - R) = ceil((1000q - rp) / 1000p).
 * Never returns 0.  Pure: no I/O, thread-safe.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "autoprocs.h"

typedef struct ApPolicyInput {
        bool has_limit;
        uint64_t quota_us;            /* > 0 when has_limit */
        uint64_t period_us;           /* > 0 when has_limit */
        unsigned affinity;            /* A; 0 (unknown) is taken as 1 */
        autoprocs_policy policy;
        unsigned min_procs;           /* 0 = the policy's own minimum */
        uint64_t reserve_millicpus;
} ApPolicyInput;

/* The recommended processor count (>= 1). */
unsigned ap_policy_procs(const ApPolicyInput *in);

/* floor and ceil of (quota - reserve) / period, exact; 0 when the reserve swallows the quota.
 * Saturate at UINT64_MAX.  Exposed for tests. */
uint64_t ap_policy_floor(uint64_t quota_us, uint64_t period_us, uint64_t reserve_millicpus);
uint64_t ap_policy_ceil(uint64_t quota_us, uint64_t period_us, uint64_t reserve_millicpus);

/*
 * Whether to pace the runtime (autoprocs_pacing) given the binding limit and the affinity:
 *   auto  a limit that is fractional (quota not a multiple of period) and below A
 *   on    any limit below A
 *   off   never
 * A limit at or above A is not binding (the processors cannot spend it): no pacing.  A = 0
 * (unknown) counts as no cap.  Pure.
 */
bool ap_policy_pacing(autoprocs_pacing mode, bool has_limit, uint64_t quota_us, uint64_t period_us,
                      unsigned affinity);
