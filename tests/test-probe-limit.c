/* SPDX-License-Identifier: MIT */
/* probes/cgroup1.c, cgroup2.c, cgroup-limit.c: the cpu.max and CFS parsers on hostile strings, the
 * exact comparison, and the limit chain (walk to the mount root, lowest binds, pread re-read). */
#include <errno.h>
#include <string.h>

#include "probes/cgroup-limit.h"
#include "tests/ap-test.h"

START_TEST(test_cpu_max_parse)
{
        static const struct {
                const char *s;
                int r;
                bool limited;
                uint64_t q, p;
        } t[] = {
                { "max 100000\n", 0, false, 0, 0 },
                { "max 100000", 0, false, 0, 0 },
                { "max\n", 0, false, 0, 0 },
                { "50000 100000\n", 0, true, 50000, 100000 },
                { "150000 100000", 0, true, 150000, 100000 },
                { "50000\n", 0, true, 50000, 100000 },      /* one field: period 100000 */
                { "18446744073709551615 1\n", 0, true, UINT64_MAX, 1 },
                { "1 18446744073709551615\n", 0, true, 1, UINT64_MAX },
                { "18446744073709551616 100000\n", -ERANGE, false, 0, 0 },
                { "", -EINVAL, false, 0, 0 },
                { "\n", -EINVAL, false, 0, 0 },
                { "\n\n", -EINVAL, false, 0, 0 },
                { "0 100000\n", -EINVAL, false, 0, 0 },
                { "50000 0\n", -EINVAL, false, 0, 0 },
                { "max 0\n", -EINVAL, false, 0, 0 },
                { "-1 100000\n", -EINVAL, false, 0, 0 },
                { "50000 -100000\n", -EINVAL, false, 0, 0 },
                { "50000 100000 7\n", -EINVAL, false, 0, 0 },
                { "50000  100000\n", -EINVAL, false, 0, 0 },
                { " 50000 100000\n", -EINVAL, false, 0, 0 },
                { "50000 100000 \n", -EINVAL, false, 0, 0 },
                { "50000\t100000\n", -EINVAL, false, 0, 0 },
                { "MAX 100000\n", -EINVAL, false, 0, 0 },
                { "maxx 100000\n", -EINVAL, false, 0, 0 },
                { "1.5 100000\n", -EINVAL, false, 0, 0 },
                { "0x10 100000\n", -EINVAL, false, 0, 0 },
                { "+5 100000\n", -EINVAL, false, 0, 0 },
                { "garbage", -EINVAL, false, 0, 0 },
                { "50000 100000\r\n", -EINVAL, false, 0, 0 },
        };
        for (size_t i = 0; i < AP_ELEMENTSOF(t); i++) {
                ApCpuMax m = { .limited = true, .quota_us = 7, .period_us = 7 };
                int r = ap_cpu_max_parse(t[i].s, strlen(t[i].s), &m);

                ck_assert_msg(r == t[i].r, "'%s': %d != %d", t[i].s, r, t[i].r);
                if (r < 0) {
                        ck_assert(m.limited && m.quota_us == 7); /* untouched */
                        continue;
                }
                ck_assert_msg(m.limited == t[i].limited, "'%s'", t[i].s);
                if (m.limited) {
                        ck_assert_uint_eq(m.quota_us, t[i].q);
                        ck_assert_uint_eq(m.period_us, t[i].p);
                }
        }
}
END_TEST

START_TEST(test_cpu_max_nul)
{
        static const char s[] = "50000\0 100000\n";
        static const char s2[] = "max 100000\n\0";
        ApCpuMax m;

        ck_assert_int_eq(ap_cpu_max_parse(s, sizeof(s) - 1, &m), -EINVAL);
        ck_assert_int_eq(ap_cpu_max_parse(s2, sizeof(s2) - 1, &m), -EINVAL);
}
END_TEST

START_TEST(test_cfs_parse)
{
        static const struct {
                const char *s;
                int r;
                int64_t v;
        } q[] = {
                { "-1\n", 0, -1 },
                { "-1", 0, -1 },
                { "-5\n", 0, -5 },
                { "50000\n", 0, 50000 },
                { "9223372036854775807\n", 0, INT64_MAX },
                { "9223372036854775808\n", -ERANGE, 0 },
                { "0\n", -EINVAL, 0 },
                { "-0\n", -EINVAL, 0 },
                { "", -EINVAL, 0 },
                { "\n", -EINVAL, 0 },
                { "max\n", -EINVAL, 0 },
                { "50000 100000\n", -EINVAL, 0 },
                { "50000\n\n", -EINVAL, 0 },
                { "12345678901234567890123456789012345\n", -EINVAL, 0 },
        };
        static const struct {
                const char *s;
                int r;
                uint64_t v;
        } p[] = {
                { "100000\n", 0, 100000 },
                { "1000", 0, 1000 },
                { "0\n", -EINVAL, 0 },
                { "-100000\n", -EINVAL, 0 },
                { "", -EINVAL, 0 },
                { "1e5\n", -EINVAL, 0 },
        };
        ApCpuMax m;

        for (size_t i = 0; i < AP_ELEMENTSOF(q); i++) {
                int64_t v = 0;
                int r = ap_cfs_quota_parse(q[i].s, strlen(q[i].s), &v);

                ck_assert_msg(r == q[i].r, "quota '%s': %d", q[i].s, r);
                if (r == 0)
                        ck_assert(v == q[i].v);
        }
        for (size_t i = 0; i < AP_ELEMENTSOF(p); i++) {
                uint64_t v = 0;
                int r = ap_cfs_period_parse(p[i].s, strlen(p[i].s), &v);

                ck_assert_msg(r == p[i].r, "period '%s': %d", p[i].s, r);
                if (r == 0)
                        ck_assert_uint_eq(v, p[i].v);
        }
        ap_cfs_combine(-1, 100000, &m);
        ck_assert(!m.limited);
        ap_cfs_combine(-42, 100000, &m);
        ck_assert(!m.limited);
        ap_cfs_combine(25000, 50000, &m);
        ck_assert(m.limited && m.quota_us == 25000 && m.period_us == 50000);
}
END_TEST

START_TEST(test_lower_exact)
{
        ApCpuMax none = { .limited = false };
        ApCpuMax a = { true, 50000, 100000 }, b = { true, 25000, 50000 }, c = { true, 50001, 100000 };
        ApCpuMax big1 = { true, UINT64_MAX, UINT64_MAX - 1 }, big2 = { true, UINT64_MAX - 1, UINT64_MAX - 2 };
        ApCpuMax third = { true, 33333, 100000 }, third2 = { true, 1, 3 };

        ck_assert(ap_cpu_max_lower(&a, &none));
        ck_assert(!ap_cpu_max_lower(&none, &a));
        ck_assert(!ap_cpu_max_lower(&none, &none));
        ck_assert(!ap_cpu_max_lower(&a, &b)); /* equal ratios */
        ck_assert(!ap_cpu_max_lower(&b, &a));
        ck_assert(ap_cpu_max_lower(&a, &c));
        /* (2^64-1)/(2^64-2) vs (2^64-2)/(2^64-3): a double cannot tell them apart. */
        ck_assert(ap_cpu_max_lower(&big1, &big2));
        ck_assert(!ap_cpu_max_lower(&big2, &big1));
        ck_assert(ap_cpu_max_lower(&third, &third2));
}
END_TEST

/* ---- the chain on trees --------------------------------------------------------------------- */

static char *tree;
static ApProbeRoot root;

static void tree_setup(void)
{
        tree = ap_test_fixture_copy(NULL);
        root = AP_PROBE_ROOT_NULL;
}

static void tree_teardown(void)
{
        ap_probe_root_done(&root);
        ap_test_rmtree(tree);
}

static ApCgroupLoc loc(int version, const char *top, const char *dir, const char *mount_root)
{
        ck_assert_int_eq(ap_probe_root_open(tree, 0, false, &root), 0);
        return (ApCgroupLoc){ .version = version, .top = (char *)top, .dir = (char *)dir,
                              .mount_root = (char *)mount_root, .path = (char *)"/" };
}

START_TEST(test_chain_v2_nested_min)
{
        ApCgroupLoc l;
        ApLimitChain c;
        ApCpuLimit lim;
        ApWarnings w = AP_WARNINGS_NULL;
        size_t failed = 9;

        /* Root without cpu.max, a 2-CPU slice, a 0.5-CPU pod, an unlimited leaf. */
        ap_test_write(tree, "cg/slice/cpu.max", "200000 100000\n");
        ap_test_write(tree, "cg/slice/pod/cpu.max", "25000 50000\n");
        ap_test_write(tree, "cg/slice/pod/leaf/cpu.max", "max 100000\n");
        l = loc(2, "cg", "cg/slice/pod/leaf", "/");
        ck_assert_int_eq(ap_limit_chain_open(&root, &l, &c, &w), 0);
        ck_assert_uint_eq(c.n, 4);
        ck_assert_str_eq(c.levels[0].hier_path, "/slice/pod/leaf");
        ck_assert_str_eq(c.levels[3].hier_path, "/");
        ck_assert_int_eq(c.levels[3].fd_a, -1);
        ck_assert_uint_eq(w.n, 0);
        ck_assert_int_eq(ap_limit_chain_read(&c, &lim, &failed, &w), 0);
        ck_assert(lim.limited);
        ck_assert_uint_eq(lim.quota_us, 25000);
        ck_assert_uint_eq(lim.period_us, 50000);
        ck_assert_str_eq(lim.cgroup, "/slice/pod");
        ck_assert_str_eq(lim.file, "/cg/slice/pod/cpu.max");
        ck_assert_uint_eq(failed, 0);

        /* Re-read through the cached fds: a change shows; a malformed level is ignored. */
        ap_test_write(tree, "cg/slice/pod/cpu.max", "max 100000\n");
        ap_test_write(tree, "cg/slice/pod/leaf/cpu.max", "150000 100000");
        ck_assert_int_eq(ap_limit_chain_read(&c, &lim, &failed, NULL), 0);
        ck_assert_uint_eq(lim.quota_us, 150000);
        ck_assert_str_eq(lim.cgroup, "/slice/pod/leaf");
        ap_test_write(tree, "cg/slice/pod/leaf/cpu.max", "garbage\n");
        ck_assert_int_eq(ap_limit_chain_read(&c, &lim, &failed, &w), 0);
        ck_assert_uint_eq(failed, 1);
        ck_assert_uint_eq(lim.quota_us, 200000);
        ck_assert_str_eq(lim.cgroup, "/slice");
        ck_assert_uint_eq(w.n, 1);
        ck_assert_msg(strstr(w.v[0], "/cg/slice/pod/leaf/cpu.max") != NULL, "%s", w.v[0]);
        ap_limit_chain_done(&c);
        ap_warnings_done(&w);
}
END_TEST

START_TEST(test_chain_tie_keeps_deepest)
{
        ApCgroupLoc l;
        ApCpuLimit lim;
        char *cg = NULL, *file = NULL;

        ap_test_write(tree, "cg/a/cpu.max", "50000 100000\n");
        ap_test_write(tree, "cg/a/b/cpu.max", "25000 50000\n");
        l = loc(2, "cg", "cg/a/b", "/");
        ck_assert_int_eq(ap_limit_read(&root, &l, &lim, &cg, &file, NULL), 0);
        ck_assert_str_eq(cg, "/a/b");
        ck_assert_str_eq(file, "/cg/a/b/cpu.max");
        free(cg);
        free(file);
}
END_TEST

START_TEST(test_chain_v1)
{
        ApCgroupLoc l;
        ApCpuLimit lim;
        ApWarnings w = AP_WARNINGS_NULL;
        char *cg = NULL;

        /* Limited parent (mount root of a subtree mount "/kube"), child -1, leaf missing period. */
        ap_test_write(tree, "sys/fs/cgroup/cpu/cpu.cfs_quota_us", "250000\n");
        ap_test_write(tree, "sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n");
        ap_test_write(tree, "sys/fs/cgroup/cpu/pod/cpu.cfs_quota_us", "-1\n");
        ap_test_write(tree, "sys/fs/cgroup/cpu/pod/cpu.cfs_period_us", "100000\n");
        ap_test_write(tree, "sys/fs/cgroup/cpu/pod/ctr/cpu.cfs_quota_us", "1000\n");
        l = loc(1, "sys/fs/cgroup/cpu", "sys/fs/cgroup/cpu/pod/ctr", "/kube");
        ck_assert_int_eq(ap_limit_read(&root, &l, &lim, &cg, NULL, &w), 0);
        ck_assert(lim.limited);
        ck_assert_uint_eq(lim.quota_us, 250000);
        ck_assert_str_eq(cg, "/kube");
        ck_assert_uint_eq(w.n, 1);
        ck_assert_msg(strstr(w.v[0], "cpu.cfs_period_us") != NULL, "%s", w.v[0]);
        free(cg);
        ap_warnings_done(&w);

        /* Period 0 and a huge quota at the leaf. */
        ap_test_write(tree, "sys/fs/cgroup/cpu/pod/ctr/cpu.cfs_period_us", "0\n");
        ck_assert_int_eq(ap_limit_read(&root, &l, &lim, NULL, NULL, &w), 0);
        ck_assert_uint_eq(lim.quota_us, 250000);
        ck_assert_uint_eq(w.n, 1);
        ap_warnings_done(&w);
        ap_test_write(tree, "sys/fs/cgroup/cpu/pod/ctr/cpu.cfs_period_us", "1000");
        ap_test_write(tree, "sys/fs/cgroup/cpu/pod/ctr/cpu.cfs_quota_us", "9223372036854775807");
        ck_assert_int_eq(ap_limit_read(&root, &l, &lim, NULL, NULL, &w), 0);
        ck_assert_uint_eq(lim.quota_us, 250000);
        ck_assert_uint_eq(w.n, 0);
        ap_test_write(tree, "sys/fs/cgroup/cpu/pod/ctr/cpu.cfs_quota_us", "1500");
        ck_assert_int_eq(ap_limit_read(&root, &l, &lim, NULL, NULL, &w), 0);
        ck_assert_uint_eq(lim.quota_us, 1500);
        ck_assert_uint_eq(lim.period_us, 1000);
}
END_TEST

START_TEST(test_chain_nothing)
{
        ApCgroupLoc l;
        ApCpuLimit lim;
        ApWarnings w = AP_WARNINGS_NULL;

        ap_test_write(tree, "cg/x/cgroup.procs", "");
        l = loc(2, "cg", "cg/x", "/");
        ck_assert_int_eq(ap_limit_read(&root, &l, &lim, NULL, NULL, &w), 0);
        ck_assert(!lim.limited);
        ck_assert_uint_eq(w.n, 1); /* no cpu.max anywhere below the root */
        ap_warnings_done(&w);
        /* The v2 root alone never has cpu.max: no warning. */
        l.dir = (char *)"cg";
        ck_assert_int_eq(ap_limit_read(&root, &l, &lim, NULL, NULL, &w), 0);
        ck_assert_uint_eq(w.n, 0);
        /* Unknown directory / no hierarchy: not applicable. */
        l.dir = NULL;
        ck_assert_int_eq(ap_limit_read(&root, &l, &lim, NULL, NULL, &w), AP_PROBE_NOT_APPLICABLE);
        l.version = 0;
        ck_assert_int_eq(ap_limit_read(&root, &l, &lim, NULL, NULL, &w), AP_PROBE_NOT_APPLICABLE);
}
END_TEST

START_TEST(test_chain_top_is_root)
{
        ApCgroupLoc l;
        ApLimitChain c;
        ApCpuLimit lim;

        /* A mount point "/" (top "."): levels a/b, a, "." */
        ap_test_write(tree, "cpu.max", "100000 100000\n");
        ap_test_write(tree, "a/b/cpu.max", "max 100000\n");
        l = loc(2, ".", "a/b", "/");
        ck_assert_int_eq(ap_limit_chain_open(&root, &l, &c, NULL), 0);
        ck_assert_uint_eq(c.n, 3);
        ck_assert_str_eq(c.levels[2].dir, ".");
        ck_assert_int_eq(ap_limit_chain_read(&c, &lim, NULL, NULL), 0);
        ck_assert_str_eq(lim.file, "/cpu.max");
        ck_assert_str_eq(lim.cgroup, "/");
        ap_limit_chain_done(&c);
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("probe-limit");
        TCase *tc = tcase_create("parse");

        tcase_add_test(tc, test_cpu_max_parse);
        tcase_add_test(tc, test_cpu_max_nul);
        tcase_add_test(tc, test_cfs_parse);
        tcase_add_test(tc, test_lower_exact);
        suite_add_tcase(s, tc);
        tc = tcase_create("chain");
        tcase_add_checked_fixture(tc, tree_setup, tree_teardown);
        tcase_add_test(tc, test_chain_v2_nested_min);
        tcase_add_test(tc, test_chain_tie_keeps_deepest);
        tcase_add_test(tc, test_chain_v1);
        tcase_add_test(tc, test_chain_nothing);
        tcase_add_test(tc, test_chain_top_is_root);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return ap_test_run(suite());
}
