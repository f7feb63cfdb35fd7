/* SPDX-License-Identifier: MIT */
/* probes/cpuset.c: CPU lists on hostile strings, Cpus_allowed_list, the affinity probe on trees,
 * and one host smoke test (sanity only). */
#include <errno.h>
#include <string.h>

#include "probes/cpuset.h"
#include "tests/ap-test.h"

START_TEST(test_cpu_list)
{
        static const struct {
                const char *s;
                int r;
                size_t count;
        } t[] = {
                { "0-3,8,10-11\n", 0, 7 },
                { "0", 0, 1 },
                { "0\n", 0, 1 },
                { "", 0, 0 },
                { "\n", 0, 0 },
                { "5-5", 0, 1 },
                { "0-1,1-2", 0, 3 },           /* overlaps count once */
                { "0-2047\n", 0, 2048 },
                { "65535", 0, 1 },
                { "65536", -EINVAL, 0 },
                { "0-65536", -EINVAL, 0 },
                { "99999999999999999999", -EINVAL, 0 },
                { "3-1", -EINVAL, 0 },
                { "1,", -EINVAL, 0 },
                { ",1", -EINVAL, 0 },
                { "1,,2", -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { "1-", -EINVAL, 0 },
                { "1-2-3", -EINVAL, 0 },
                { " 1", -EINVAL, 0 },
                { "1 ", -EINVAL, 0 },
                { "0-7:2/4", -EINVAL, 0 },
                { "a", -EINVAL, 0 },
                { "1\n\n", -EINVAL, 0 },
        };
        for (size_t i = 0; i < AP_ELEMENTSOF(t); i++) {
                ApCpuSet s = AP_CPU_SET_NULL;
                int r = ap_cpu_list_parse(t[i].s, strlen(t[i].s), &s);

                ck_assert_msg(r == t[i].r, "'%s': %d", t[i].s, r);
                if (r == 0)
                        ck_assert_msg(ap_cpu_set_count(&s) == t[i].count, "'%s': %zu", t[i].s, ap_cpu_set_count(&s));
                ap_cpu_set_done(&s);
        }
}
END_TEST

START_TEST(test_cpu_list_nul_and_and)
{
        static const char nul[] = "0-1\0,5";
        ApCpuSet a = AP_CPU_SET_NULL, b = AP_CPU_SET_NULL;

        ck_assert_int_eq(ap_cpu_list_parse(nul, sizeof(nul) - 1, &a), -EINVAL);
        ck_assert_int_eq(ap_cpu_list_parse("0-127", 5, &a), 0);
        ck_assert_int_eq(ap_cpu_list_parse("1,3,64", 6, &b), 0);
        ap_cpu_set_and(&a, &b);
        ck_assert_uint_eq(ap_cpu_set_count(&a), 3);
        ap_cpu_set_done(&a);
        ck_assert_int_eq(ap_cpu_list_parse("0-127", 5, &a), 0);
        ap_cpu_set_and(&b, &a); /* b shorter than a */
        ck_assert_uint_eq(ap_cpu_set_count(&b), 3);
        ap_cpu_set_done(&a);
        ap_cpu_set_done(&b);
}
END_TEST

START_TEST(test_status)
{
        static const char st[] = "Name:\tx\nCpus_allowed:\tff\nCpus_allowed_list:\t0-2,7\nMems_allowed_list:\t0\n";
        static const char none[] = "Name:\tx\nCpus_allowed:\tff\n";
        static const char bad[] = "Cpus_allowed_list:\tzz\n";
        static const char last[] = "Pid: 1\nCpus_allowed_list: 4";
        ApCpuSet s = AP_CPU_SET_NULL;

        ck_assert_int_eq(ap_status_cpus_allowed_parse(st, strlen(st), &s), 0);
        ck_assert_uint_eq(ap_cpu_set_count(&s), 4);
        ap_cpu_set_done(&s);
        ck_assert_int_eq(ap_status_cpus_allowed_parse(none, strlen(none), &s), -ENOENT);
        ck_assert_int_eq(ap_status_cpus_allowed_parse(bad, strlen(bad), &s), -EINVAL);
        ck_assert_int_eq(ap_status_cpus_allowed_parse(last, strlen(last), &s), 0);
        ck_assert_uint_eq(ap_cpu_set_count(&s), 1);
        ap_cpu_set_done(&s);
}
END_TEST

static char *tree;

static void tree_setup(void)
{
        tree = ap_test_fixture_copy(NULL);
}

static void tree_teardown(void)
{
        ap_test_rmtree(tree);
}

static int affinity(const char *cpuset_dir, int version, ApAffinity *a, ApWarnings *w)
{
        ApProbeRoot root;
        ApCgroupLoc loc = { .version = version, .dir = (char *)cpuset_dir };
        int r;

        ck_assert_int_eq(ap_probe_root_open(tree, 0, false, &root), 0);
        r = ap_affinity_read(&root, cpuset_dir ? &loc : NULL, a, w);
        ap_probe_root_done(&root);
        return r;
}

START_TEST(test_affinity_tree)
{
        ApAffinity a;
        ApWarnings w = AP_WARNINGS_NULL;

        /* Nothing at all: not applicable. */
        ck_assert_int_eq(affinity(NULL, 0, &a, &w), AP_PROBE_NOT_APPLICABLE);
        ck_assert_uint_eq(a.cpus, 0);
        ap_warnings_done(&w);

        /* online only */
        ap_test_write(tree, "sys/devices/system/cpu/online", "0-7\n");
        ck_assert_int_eq(affinity(NULL, 0, &a, &w), 0);
        ck_assert_uint_eq(a.cpus, 8);
        ck_assert_int_eq(a.source, AP_AFFINITY_ONLINE);
        ap_warnings_done(&w);

        /* status wins over online */
        ap_test_write(tree, "proc/self/status", "Cpus_allowed_list:\t0-3\n");
        ck_assert_int_eq(affinity(NULL, 0, &a, &w), 0);
        ck_assert_uint_eq(a.cpus, 4);
        ck_assert_int_eq(a.source, AP_AFFINITY_STATUS);
        ck_assert_uint_eq(w.n, 0);

        /* intersected with a v2 cpuset */
        ap_test_write(tree, "cg/cpuset.cpus.effective", "2-5\n");
        ck_assert_int_eq(affinity("cg", 2, &a, &w), 0);
        ck_assert_uint_eq(a.cpus, 2);
        ck_assert_uint_eq(a.mask_cpus, 4);
        ck_assert_uint_eq(a.cpuset_cpus, 4);

        /* v1 cpuset.cpus, disjoint: ignored with a warning */
        ap_test_write(tree, "cg1/cpuset.cpus", "6-7\n");
        ck_assert_int_eq(affinity("cg1", 1, &a, &w), 0);
        ck_assert_uint_eq(a.cpus, 4);
        ck_assert_uint_eq(w.n, 1);
        ap_warnings_done(&w);

        /* malformed status: warning, online used */
        ap_test_write(tree, "proc/self/status", "Cpus_allowed_list:\t0-\n");
        ck_assert_int_eq(affinity(NULL, 0, &a, &w), 0);
        ck_assert_uint_eq(a.cpus, 8);
        ck_assert_uint_eq(w.n, 1);
        ap_warnings_done(&w);

        /* empty cpuset: ignored */
        ap_test_write(tree, "cg/cpuset.cpus.effective", "\n");
        ck_assert_int_eq(affinity("cg", 2, &a, &w), 0);
        ck_assert_uint_eq(a.cpus, 8);
        ap_warnings_done(&w);
}
END_TEST

START_TEST(test_host_affinity)
{
        ApCpuSet s = AP_CPU_SET_NULL;
        ApProbeRoot root;
        ApAffinity a;

        /* Sanity only: the live system has at least one CPU, by both paths. */
        ck_assert_int_eq(ap_affinity_syscall(0, &s), 0);
        ck_assert_uint_ge(ap_cpu_set_count(&s), 1);
        ck_assert_uint_ge(s.nbits, 1024);
        ap_cpu_set_done(&s);
        ck_assert_int_eq(ap_probe_root_open("/", 0, true, &root), 0);
        ck_assert_int_eq(ap_affinity_read(&root, NULL, &a, NULL), 0);
        ck_assert_uint_ge(a.cpus, 1);
        ck_assert_int_eq(a.source, AP_AFFINITY_SYSCALL);
        ap_probe_root_done(&root);
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("probe-cpuset");
        TCase *tc = tcase_create("parse");

        tcase_add_test(tc, test_cpu_list);
        tcase_add_test(tc, test_cpu_list_nul_and_and);
        tcase_add_test(tc, test_status);
        suite_add_tcase(s, tc);
        tc = tcase_create("read");
        tcase_add_checked_fixture(tc, tree_setup, tree_teardown);
        tcase_add_test(tc, test_affinity_tree);
        suite_add_tcase(s, tc);
        tc = tcase_create("host");
        tcase_add_test(tc, test_host_affinity);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return ap_test_run(suite());
}
