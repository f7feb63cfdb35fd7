/* SPDX-License-Identifier: MIT */
/* lib/policy.c: the four policies of autoprocs(1) on a table (expected values written by
 * hand from the contract, not computed), min, reserve, A = 1, Q < 1, huge Q, no limit. */
#include <stdint.h>

#include "lib/policy.h"
#include "lib/util/macro.h"
#include "tests/ap-test.h"

#define G AUTOPROCS_POLICY_GO125
#define C AUTOPROCS_POLICY_CEIL
#define F AUTOPROCS_POLICY_FLOOR
#define M AUTOPROCS_POLICY_AUTOMAXPROCS

START_TEST(test_table)
{
        static const struct {
                bool lim;
                uint64_t q, p;
                unsigned a;
                autoprocs_policy pol;
                unsigned min;
                uint64_t reserve;
                unsigned want;
        } t[] = {
                /* no limit: A for every policy */
                { false, 0, 0, 8, G, 0, 0, 8 },
                { false, 0, 0, 8, C, 0, 0, 8 },
                { false, 0, 0, 8, F, 0, 0, 8 },
                { false, 0, 0, 8, M, 0, 0, 8 },
                { false, 0, 0, 3, M, 5, 0, 3 },
                /* Q = 1.5 */
                { true, 150000, 100000, 8, G, 0, 0, 2 },
                { true, 150000, 100000, 8, C, 0, 0, 2 },
                { true, 150000, 100000, 8, F, 0, 0, 1 },
                { true, 150000, 100000, 8, M, 0, 0, 1 },
                /* Q = 0.5 */
                { true, 50000, 100000, 8, G, 0, 0, 2 },
                { true, 50000, 100000, 8, C, 0, 0, 1 },
                { true, 50000, 100000, 8, F, 0, 0, 1 },
                { true, 50000, 100000, 8, M, 0, 0, 1 },
                /* Q = 0.001 (1 ms per second) */
                { true, 1000, 1000000, 8, G, 0, 0, 2 },
                { true, 1000, 1000000, 8, F, 0, 0, 1 },
                /* exact integer Q = 3: ceil and floor agree */
                { true, 300000, 100000, 8, G, 0, 0, 3 },
                { true, 300000, 100000, 8, C, 0, 0, 3 },
                { true, 300000, 100000, 8, F, 0, 0, 3 },
                { true, 300000, 100000, 8, M, 0, 0, 3 },
                /* just above an integer: 3.00001 */
                { true, 300001, 100000, 8, C, 0, 0, 4 },
                { true, 300001, 100000, 8, F, 0, 0, 3 },
                /* A = 1: go125's floor of 2 is capped by A; automaxprocs is not */
                { true, 50000, 100000, 1, G, 0, 0, 1 },
                { true, 250000, 100000, 1, G, 0, 0, 1 },
                { true, 250000, 100000, 1, C, 0, 0, 1 },
                { true, 250000, 100000, 1, F, 0, 0, 1 },
                { true, 250000, 100000, 1, M, 0, 0, 2 },
                /* Q above A */
                { true, 2500000, 100000, 4, G, 0, 0, 4 },
                { true, 2500000, 100000, 4, M, 0, 0, 25 },
                /* huge Q */
                { true, UINT64_MAX, 1, 64, G, 0, 0, 64 },
                { true, UINT64_MAX, 1, 64, M, 0, 0, UINT32_MAX },
                { true, UINT64_MAX, UINT64_MAX, 64, C, 0, 0, 1 },
                { true, UINT64_MAX, UINT64_MAX - 1, 64, C, 0, 0, 2 },
                /* --min raises the floor (still capped by A except automaxprocs) */
                { true, 150000, 100000, 8, G, 4, 0, 4 },
                { true, 150000, 100000, 8, C, 4, 0, 4 },
                { true, 150000, 100000, 8, F, 3, 0, 3 },
                { true, 150000, 100000, 8, M, 3, 0, 3 },
                { true, 150000, 100000, 2, F, 3, 0, 2 },
                { true, 150000, 100000, 2, M, 3, 0, 3 },
                { true, 450000, 100000, 8, G, 1, 0, 5 },   /* min below the policy's own: no effect */
                /* --reserve: Q - R before rounding, never below the policy minimum */
                { true, 250000, 100000, 8, C, 0, 500, 2 },  /* 2.5 - 0.5 = 2 */
                { true, 250000, 100000, 8, C, 0, 499, 3 },  /* 2.001 */
                { true, 250000, 100000, 8, F, 0, 499, 2 },
                { true, 250000, 100000, 8, F, 0, 501, 1 },  /* 1.999 */
                { true, 250000, 100000, 8, M, 0, 1500, 1 },
                { true, 250000, 100000, 8, M, 0, 2500, 1 }, /* exactly 0 => minimum */
                { true, 250000, 100000, 8, G, 0, 9000, 2 }, /* negative => minimum */
                { true, 250000, 100000, 8, F, 0, 9000, 1 },
                { true, 250000, 100000, 8, M, 2, 9000, 2 },
                { true, 333333, 100000, 8, C, 0, 333, 4 },  /* 3.33333 - 0.333 = 3.00033 */
                { true, 333333, 100000, 8, C, 0, 3334, 1 }, /* -0.00067 => minimum */
                { true, 333333, 100000, 8, F, 0, 333, 3 },
                /* affinity unknown (0) taken as 1 */
                { false, 0, 0, 0, G, 0, 0, 1 },
        };
        for (size_t i = 0; i < AP_ELEMENTSOF(t); i++) {
                ApPolicyInput in = {
                        .has_limit = t[i].lim, .quota_us = t[i].q, .period_us = t[i].p, .affinity = t[i].a,
                        .policy = t[i].pol, .min_procs = t[i].min, .reserve_millicpus = t[i].reserve,
                };
                unsigned got = ap_policy_procs(&in);

                ck_assert_msg(got == t[i].want, "row %zu (%s q=%llu p=%llu A=%u min=%u r=%llu): %u != %u", i,
                              autoprocs_policy_to_string(t[i].pol), (unsigned long long)t[i].q,
                              (unsigned long long)t[i].p, t[i].a, t[i].min, (unsigned long long)t[i].reserve,
                              got, t[i].want);
        }
}
END_TEST

START_TEST(test_round)
{
        ck_assert_uint_eq(ap_policy_ceil(150000, 100000, 0), 2);
        ck_assert_uint_eq(ap_policy_floor(150000, 100000, 0), 1);
        ck_assert_uint_eq(ap_policy_ceil(100000, 100000, 0), 1);
        ck_assert_uint_eq(ap_policy_floor(99999, 100000, 0), 0);
        ck_assert_uint_eq(ap_policy_ceil(1, 100000, 0), 1);
        ck_assert_uint_eq(ap_policy_ceil(100000, 100000, 1000), 0);
        ck_assert_uint_eq(ap_policy_floor(UINT64_MAX, 1, 0), UINT64_MAX);
        ck_assert_uint_eq(ap_policy_ceil(UINT64_MAX, 1, 0), UINT64_MAX);
        ck_assert_uint_eq(ap_policy_ceil(UINT64_MAX, 2, 0), (UINT64_MAX / 2) + 1);
        ck_assert_uint_eq(ap_policy_floor(UINT64_MAX, UINT64_MAX, UINT64_C(1000000000)), 0);
        ck_assert_uint_eq(ap_policy_floor(5, 0, 0), 0);
}
END_TEST

/* When autoprocs_init() paces (lib/policy.c, ap_policy_pacing). */
START_TEST(test_pacing)
{
        static const struct {
                autoprocs_pacing mode;
                bool has_limit;
                uint64_t quota, period;
                unsigned affinity;
                bool want;
        } t[] = {
                { AUTOPROCS_PACING_AUTO, true, 50000, 100000, 2, true },     /* 0.5 of 2 */
                { AUTOPROCS_PACING_AUTO, true, 150000, 100000, 2, true },    /* 1.5 of 2 */
                { AUTOPROCS_PACING_AUTO, true, 100000, 100000, 2, false },   /* integer */
                { AUTOPROCS_PACING_AUTO, true, 250000, 100000, 2, false },   /* above A */
                { AUTOPROCS_PACING_AUTO, true, 200000, 100000, 2, false },   /* equal to A */
                { AUTOPROCS_PACING_AUTO, false, 0, 0, 2, false },            /* no limit */
                { AUTOPROCS_PACING_AUTO, true, 50000, 100000, 0, true },     /* A unknown */
                { AUTOPROCS_PACING_ON, true, 100000, 100000, 2, true },      /* integer, forced */
                { AUTOPROCS_PACING_ON, true, 300000, 100000, 2, false },     /* not binding */
                { AUTOPROCS_PACING_ON, false, 0, 0, 2, false },
                { AUTOPROCS_PACING_OFF, true, 50000, 100000, 2, false },
                { AUTOPROCS_PACING_AUTO, true, UINT64_MAX - 1, UINT64_MAX, 1, true }, /* no overflow */
        };

        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
                ck_assert_msg(ap_policy_pacing(t[i].mode, t[i].has_limit, t[i].quota, t[i].period,
                                               t[i].affinity) == t[i].want,
                              "case %zu", i);
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("policy");
        TCase *tc = tcase_create("policy");

        tcase_add_test(tc, test_table);
        tcase_add_test(tc, test_round);
        tcase_add_test(tc, test_pacing);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return ap_test_run(suite());
}
