/* SPDX-License-Identifier: MIT */
/*
 * The processor-count policy (policy.h).  Why integers: Q = 150000/100000 must round to exactly 2
 * under ceil, and 300000/100000 to exactly 3, which a float division does not promise (the JDK's
 * ceilf, .NET's epsilon); all products fit in 128 bits for any u64 quota and period.
 */
#include "lib/policy.h"
#include "lib/util/macro.h"

typedef unsigned __int128 u128;

/* (1000q - rp) and 1000p; false when the reserve swallows the quota. */
static bool reserved(uint64_t q, uint64_t p, uint64_t r, u128 *ret_num, u128 *ret_den)
{
        u128 a = (u128)q * 1000u, b = (u128)r * p;

        if (p == 0 || a <= b)
                return false;
        *ret_num = a - b;
        *ret_den = (u128)p * 1000u;
        return true;
}

static uint64_t sat64(u128 v)
{
        return v > UINT64_MAX ? UINT64_MAX : (uint64_t)v;
}

uint64_t ap_policy_floor(uint64_t quota_us, uint64_t period_us, uint64_t reserve_millicpus)
{
        u128 num, den;

        if (!reserved(quota_us, period_us, reserve_millicpus, &num, &den))
                return 0;
        return sat64(num / den);
}

uint64_t ap_policy_ceil(uint64_t quota_us, uint64_t period_us, uint64_t reserve_millicpus)
{
        u128 num, den;

        if (!reserved(quota_us, period_us, reserve_millicpus, &num, &den))
                return 0;
        return sat64(num / den + (num % den != 0));
}

static unsigned clamp_uint(uint64_t v)
{
        return v > UINT32_MAX ? UINT32_MAX : (unsigned)v;
}

unsigned ap_policy_procs(const ApPolicyInput *in)
{
        uint64_t a = in->affinity ? in->affinity : 1, n, lo;

        if (!in->has_limit || in->period_us == 0 || in->quota_us == 0)
                return clamp_uint(a);
        switch (in->policy) {
        case AUTOPROCS_POLICY_CEIL:
                lo = AP_MAX(1u, in->min_procs);
                n = AP_MIN(a, AP_MAX(lo, ap_policy_ceil(in->quota_us, in->period_us, in->reserve_millicpus)));
                break;
        case AUTOPROCS_POLICY_FLOOR:
                lo = AP_MAX(1u, in->min_procs);
                n = AP_MIN(a, AP_MAX(lo, ap_policy_floor(in->quota_us, in->period_us, in->reserve_millicpus)));
                break;
        case AUTOPROCS_POLICY_AUTOMAXPROCS:
                /* automaxprocs: max(MIN, floor(Q)), deliberately not capped by the affinity. */
                lo = AP_MAX(1u, in->min_procs);
                n = AP_MAX(lo, ap_policy_floor(in->quota_us, in->period_us, in->reserve_millicpus));
                break;
        case AUTOPROCS_POLICY_GO125:
        default:
                /* The floor of 2 applies before the affinity cap: A = 1 gives 1. */
                lo = AP_MAX(2u, in->min_procs);
                n = AP_MIN(a, AP_MAX(lo, ap_policy_ceil(in->quota_us, in->period_us, in->reserve_millicpus)));
                break;
        }
        return clamp_uint(n ? n : 1);
}

bool ap_policy_pacing(autoprocs_pacing mode, bool has_limit, uint64_t quota_us, uint64_t period_us,
                      unsigned affinity)
{
        if (mode == AUTOPROCS_PACING_OFF || !has_limit || quota_us == 0 || period_us == 0)
                return false;
        if (affinity > 0 && (unsigned __int128)quota_us >= (unsigned __int128)affinity * period_us)
                return false;
        return mode == AUTOPROCS_PACING_ON || quota_us % period_us != 0;
}
