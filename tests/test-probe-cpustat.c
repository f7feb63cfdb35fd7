/* SPDX-License-Identifier: MIT */
/* probes/cpustat.c and psi.c: cpu.stat, cpuacct.usage and cpu.pressure on hostile strings, and the
 * readers on trees. */
#include <errno.h>
#include <string.h>

#include "probes/cpustat.h"
#include "probes/psi.h"
#include "tests/ap-test.h"

START_TEST(test_cpu_stat)
{
        static const char v2[] = "usage_usec 123\nuser_usec 100\nsystem_usec 23\nnr_periods 10\n"
                                 "nr_throttled 4\nthrottled_usec 2500000\nnr_bursts 0\nburst_usec 0\n";
        static const char v1[] = "nr_periods 7\nnr_throttled 3\nthrottled_time 1500000000\n";
        static const char v2_nocpu[] = "usage_usec 5\nuser_usec 5\nsystem_usec 0";
        static const char unknown_odd[] = "future_key x y z\nnr_periods 1\nnr_throttled 0\nthrottled_usec 0\n\n";
        static const char *const bad[] = {
                "nr_periods x\n", "nr_periods\n", "nr_periods 1 2\n", "nr_periods -1\n",
                "nr_periods 1\nnr_periods 2\n", "throttled_usec 99999999999999999999999\n",
                "usage_usec  5\n",
        };
        ApCpuStat s;

        ck_assert_int_eq(ap_cpu_stat_parse(v2, strlen(v2), &s), 0);
        ck_assert(s.has_throttling && s.has_usage);
        ck_assert_uint_eq(s.nr_periods, 10);
        ck_assert_uint_eq(s.nr_throttled, 4);
        ck_assert_uint_eq(s.throttled_usec, 2500000);
        ck_assert_uint_eq(s.usage_usec, 123);
        ck_assert_int_eq(ap_cpu_stat_parse(v1, strlen(v1), &s), 0);
        ck_assert(s.has_throttling && !s.has_usage);
        ck_assert_uint_eq(s.throttled_usec, 1500000);
        ck_assert_int_eq(ap_cpu_stat_parse(v2_nocpu, strlen(v2_nocpu), &s), 0);
        ck_assert(!s.has_throttling && s.has_usage);
        ck_assert_int_eq(ap_cpu_stat_parse(unknown_odd, strlen(unknown_odd), &s), 0);
        ck_assert(s.has_throttling);
        ck_assert_int_eq(ap_cpu_stat_parse("", 0, &s), 0);
        ck_assert(!s.has_throttling && !s.has_usage);
        ck_assert_int_eq(ap_cpu_stat_parse("nr_periods 1\0", 13, &s), -EINVAL);
        for (size_t i = 0; i < AP_ELEMENTSOF(bad); i++)
                ck_assert_msg(ap_cpu_stat_parse(bad[i], strlen(bad[i]), &s) == -EINVAL, "'%s'", bad[i]);
}
END_TEST

START_TEST(test_cpuacct_usage)
{
        uint64_t us;

        ck_assert_int_eq(ap_cpuacct_usage_parse("1234567\n", 8, &us), 0);
        ck_assert_uint_eq(us, 1234);
        ck_assert_int_eq(ap_cpuacct_usage_parse("", 0, &us), -EINVAL);
        ck_assert_int_eq(ap_cpuacct_usage_parse("-1\n", 3, &us), -EINVAL);
        ck_assert_int_eq(ap_cpuacct_usage_parse("12 34\n", 6, &us), -EINVAL);
}
END_TEST

START_TEST(test_psi)
{
        static const char both[] = "some avg10=1.50 avg60=0.25 avg300=100.00 total=123456\n"
                                   "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        static const char some_only[] = "some avg10=0.00 avg60=0.00 avg300=0.00 total=9";
        static const char reordered[] = "some total=5 avg300=0.1 avg60=2 avg10=3.04\n";
        static const char *const bad[] = {
                "", "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
                "some avg10=0.00 avg60=0.00 total=0\n",
                "some avg10=0.00 avg60=0.00 avg300=0.00 total=0 extra=1\n",
                "some avg10=0.001 avg60=0.00 avg300=0.00 total=0\n",
                "some avg10=100.01 avg60=0.00 avg300=0.00 total=0\n",
                "some avg10=-1.00 avg60=0.00 avg300=0.00 total=0\n",
                "some avg10=1. avg60=0.00 avg300=0.00 total=0\n",
                "some avg10=.5 avg60=0.00 avg300=0.00 total=0\n",
                "some avg10=0.00 avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
                "some avg10=0.00  avg60=0.00 avg300=0.00 total=0\n",
                "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nsome avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
                "some avg10=0.00 avg60=0.00 avg300=0.00 total=x\n",
        };
        ApPsi p;

        ck_assert_int_eq(ap_psi_parse(both, strlen(both), &p), 0);
        ck_assert_uint_eq(p.some.avg10, 150);
        ck_assert_uint_eq(p.some.avg60, 25);
        ck_assert_uint_eq(p.some.avg300, 10000);
        ck_assert_uint_eq(p.some.total_usec, 123456);
        ck_assert(p.has_full);
        ck_assert_int_eq(ap_psi_parse(some_only, strlen(some_only), &p), 0);
        ck_assert(!p.has_full);
        ck_assert_uint_eq(p.some.total_usec, 9);
        ck_assert_int_eq(ap_psi_parse(reordered, strlen(reordered), &p), 0);
        ck_assert_uint_eq(p.some.avg10, 304);
        ck_assert_uint_eq(p.some.avg60, 200);
        ck_assert_uint_eq(p.some.avg300, 10);
        for (size_t i = 0; i < AP_ELEMENTSOF(bad); i++)
                ck_assert_msg(ap_psi_parse(bad[i], strlen(bad[i]), &p) == -EINVAL, "'%s'", bad[i]);
}
END_TEST

START_TEST(test_readers)
{
        char *tree = ap_test_fixture_copy(NULL);
        ApProbeRoot root;
        ApWarnings w = AP_WARNINGS_NULL;
        ApCpuStat s;
        ApPsi p;

        ck_assert_int_eq(ap_probe_root_open(tree, 0, false, &root), 0);
        ck_assert_int_eq(ap_cpu_stat_read(&root, "cg", NULL, &s, &w), AP_PROBE_NOT_APPLICABLE);
        ck_assert_uint_eq(w.n, 1);
        ck_assert_int_eq(ap_psi_read(&root, "cg", &p, &w), AP_PROBE_NOT_APPLICABLE);
        ck_assert_uint_eq(w.n, 2);
        ap_warnings_done(&w);
        ap_test_write(tree, "cg/cpu.stat", "nr_periods 2\nnr_throttled 1\nthrottled_time 3000\n");
        ap_test_write(tree, "acct/cpuacct.usage", "5000\n");
        ap_test_write(tree, "cg/cpu.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=1\n");
        ck_assert_int_eq(ap_cpu_stat_read(&root, "cg", "acct", &s, &w), 0);
        ck_assert(s.has_throttling && s.has_usage);
        ck_assert_uint_eq(s.throttled_usec, 3);
        ck_assert_uint_eq(s.usage_usec, 5);
        ck_assert_int_eq(ap_psi_read(&root, "cg", &p, &w), 0);
        ck_assert_uint_eq(w.n, 0);
        ap_test_write(tree, "cg/cpu.pressure", "garbage\n");
        ck_assert_int_eq(ap_psi_read(&root, "cg", &p, &w), AP_PROBE_NOT_APPLICABLE);
        ck_assert_uint_eq(w.n, 1);
        ap_warnings_done(&w);
        ap_probe_root_done(&root);
        ap_test_rmtree(tree);
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("probe-cpustat");
        TCase *tc = tcase_create("all");

        tcase_add_test(tc, test_cpu_stat);
        tcase_add_test(tc, test_cpuacct_usage);
        tcase_add_test(tc, test_psi);
        tcase_add_test(tc, test_readers);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return ap_test_run(suite());
}
