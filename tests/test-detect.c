/* SPDX-License-Identifier: MIT */
/* lib/detect.c, facts.c, facts-json.c, util/json.c: autoprocs_detect() on small trees built here
 * (the big scenario set is tests/fixtures/, run by test-fixtures.py), the JSON rendering (every
 * field, escaping of any byte, exact decimals) and one host smoke test. */
#include <errno.h>
#include <string.h>

#include "autoprocs.h"
#include "lib/util/json.h"
#include "lib/util/macro.h"
#include "tests/ap-test.h"

static char *tree;

static void tree_setup(void)
{
        tree = ap_test_fixture_copy(NULL);
}

static void tree_teardown(void)
{
        ap_test_rmtree(tree);
}

static autoprocs_facts *detect(autoprocs_policy pol, unsigned min, uint64_t reserve, int pid, const char *cgdir)
{
        autoprocs_config *c = NULL;
        autoprocs_facts *f = NULL;

        ck_assert_int_eq(autoprocs_config_new(&c), 0);
        ck_assert_int_eq(autoprocs_config_set_root(c, tree), 0);
        ck_assert_int_eq(autoprocs_config_set_policy(c, pol), 0);
        ck_assert_int_eq(autoprocs_config_set_min(c, min), 0);
        ck_assert_int_eq(autoprocs_config_set_reserve_millicpus(c, reserve), 0);
        ck_assert_int_eq(autoprocs_config_set_pid(c, pid), 0);
        ck_assert_int_eq(autoprocs_config_set_cgroup_dir(c, cgdir), 0);
        ck_assert_int_eq(autoprocs_detect(c, &f), 0);
        autoprocs_config_free(c);
        return f;
}

static char *json(const autoprocs_facts *f)
{
        char *s = NULL;

        ck_assert_int_eq(autoprocs_facts_to_json(f, &s), 0);
        return s;
}

static void write_v2_tree(const char *proc)
{
        char p[128];

        snprintf(p, sizeof(p), "%s/cgroup", proc);
        ap_test_write(tree, p, "0::/kubepods/pod1/ctr\n");
        snprintf(p, sizeof(p), "%s/mountinfo", proc);
        ap_test_write(tree, p, "30 24 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n");
        snprintf(p, sizeof(p), "%s/status", proc);
        ap_test_write(tree, p, "Name:\tapp\nCpus_allowed_list:\t0-7\n");
        ap_test_write(tree, "sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n");
        ap_test_write(tree, "sys/fs/cgroup/kubepods/cpu.max", "max 100000\n");
        ap_test_write(tree, "sys/fs/cgroup/kubepods/pod1/cpu.max", "150000 100000\n");
        ap_test_write(tree, "sys/fs/cgroup/kubepods/pod1/cpu.stat",
                      "usage_usec 9\nnr_periods 40\nnr_throttled 3\nthrottled_usec 1500000\n");
        ap_test_write(tree, "sys/fs/cgroup/kubepods/pod1/ctr/cpu.max", "max 100000\n");
        ap_test_write(tree, "sys/fs/cgroup/kubepods/pod1/ctr/cpu.stat", "usage_usec 9\nnr_periods 1\nnr_throttled 0\nthrottled_usec 0\n");
        ap_test_write(tree, "sys/fs/cgroup/kubepods/pod1/ctr/cpu.pressure",
                      "some avg10=1.25 avg60=0.50 avg300=0.00 total=2500000\n"
                      "full avg10=0.10 avg60=0.00 avg300=0.00 total=1\n");
}

START_TEST(test_v2_tree)
{
        autoprocs_facts *f;
        autoprocs_throttling t;
        autoprocs_pressure p;
        char *s;

        write_v2_tree("proc/self");
        f = detect(AUTOPROCS_POLICY_GO125, 0, 0, 0, NULL);
        ck_assert_int_eq(autoprocs_facts_cgroup_version(f), 2);
        ck_assert_str_eq(autoprocs_facts_cgroup_path(f), "/kubepods/pod1/ctr");
        ck_assert(autoprocs_facts_has_limit(f));
        ck_assert_uint_eq(autoprocs_facts_quota_ns(f), 150000000);
        ck_assert_uint_eq(autoprocs_facts_period_ns(f), 100000000);
        ck_assert_double_eq_tol(autoprocs_facts_limit_cpus(f), 1.5, 1e-12);
        ck_assert_str_eq(autoprocs_facts_limit_cgroup(f), "/kubepods/pod1");
        ck_assert_str_eq(autoprocs_facts_limit_file(f), "/sys/fs/cgroup/kubepods/pod1/cpu.max");
        ck_assert_uint_eq(autoprocs_facts_affinity_cpus(f), 8);
        ck_assert_str_eq(autoprocs_facts_affinity_source(f), "affinity");
        ck_assert_uint_eq(autoprocs_facts_procs(f), 2);
        ck_assert_int_eq(autoprocs_facts_throttling(f, &t, sizeof(t)), 0);
        ck_assert_uint_eq(t.nr_throttled, 3); /* the binding cgroup's cpu.stat */
        ck_assert_int_eq(autoprocs_facts_pressure(f, &p, sizeof(p)), 0);
        ck_assert_double_eq_tol(p.some_avg10, 1.25, 1e-9);
        ck_assert(p.has_full);
        ck_assert_uint_eq(autoprocs_facts_warning_count(f), 0);
        ck_assert_ptr_null(autoprocs_facts_warning(f, 0));
        s = json(f);
        ck_assert_str_eq(s, "{\"cgroup_version\":2,\"cgroup_path\":\"/kubepods/pod1/ctr\","
                            "\"limit\":{\"quota_us\":150000,\"period_us\":100000,\"cpus\":1.5,\"cgroup\":\"/kubepods/pod1\"},"
                            "\"limit_file\":\"/sys/fs/cgroup/kubepods/pod1/cpu.max\","
                            "\"affinity_cpus\":8,\"affinity_source\":\"affinity\",\"procs\":2,\"policy\":\"go125\","
                            "\"throttling\":{\"nr_periods\":40,\"nr_throttled\":3,\"throttled_seconds\":1.5},"
                            "\"pressure\":{\"some_avg10\":1.25,\"some_avg60\":0.5,\"some_avg300\":0,"
                            "\"some_total_seconds\":2.5,\"full_avg10\":0.1,\"full_avg60\":0,\"full_avg300\":0,"
                            "\"full_total_seconds\":0.000001},\"warnings\":[],\"notes\":[]}");
        free(s);
        autoprocs_facts_free(f);

        f = detect(AUTOPROCS_POLICY_FLOOR, 0, 0, 0, NULL);
        ck_assert_uint_eq(autoprocs_facts_procs(f), 1);
        ck_assert_int_eq(autoprocs_facts_policy(f), AUTOPROCS_POLICY_FLOOR);
        autoprocs_facts_free(f);
        f = detect(AUTOPROCS_POLICY_CEIL, 5, 0, 0, NULL);
        ck_assert_uint_eq(autoprocs_facts_procs(f), 5);
        autoprocs_facts_free(f);
        f = detect(AUTOPROCS_POLICY_CEIL, 0, 600, 0, NULL);
        ck_assert_uint_eq(autoprocs_facts_procs(f), 1);
        autoprocs_facts_free(f);
}
END_TEST

START_TEST(test_pid_and_cgroup_dir)
{
        autoprocs_facts *f;

        write_v2_tree("proc/4242");
        f = detect(AUTOPROCS_POLICY_GO125, 0, 0, 4242, NULL);
        ck_assert_str_eq(autoprocs_facts_limit_cgroup(f), "/kubepods/pod1");
        ck_assert_uint_eq(autoprocs_facts_affinity_cpus(f), 8);
        autoprocs_facts_free(f);

        /* A cgroup directory given directly; the mount comes from proc/self/mountinfo. */
        ap_test_write(tree, "proc/self/mountinfo", "30 24 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
        ap_test_write(tree, "sys/devices/system/cpu/online", "0-3\n");
        f = detect(AUTOPROCS_POLICY_GO125, 0, 0, 0, "/sys/fs/cgroup/kubepods/pod1/ctr");
        ck_assert_int_eq(autoprocs_facts_cgroup_version(f), 2);
        ck_assert_str_eq(autoprocs_facts_limit_cgroup(f), "/kubepods/pod1");
        ck_assert_uint_eq(autoprocs_facts_affinity_cpus(f), 4);
        autoprocs_facts_free(f);
}
END_TEST

START_TEST(test_empty_tree)
{
        autoprocs_config *c = NULL;
        autoprocs_facts *f = NULL;
        char *s;

        /* Nothing at all: no CPU count => -ENOENT. */
        ck_assert_int_eq(autoprocs_config_new(&c), 0);
        ck_assert_int_eq(autoprocs_config_set_root(c, tree), 0);
        ck_assert_int_eq(autoprocs_detect(c, &f), -ENOENT);
        ck_assert_ptr_null(f);

        /* Only the online list: every fact null, warnings, still a count. */
        ap_test_write(tree, "sys/devices/system/cpu/online", "0-1\n");
        ck_assert_int_eq(autoprocs_detect(c, &f), 0);
        ck_assert_int_eq(autoprocs_facts_cgroup_version(f), 0);
        ck_assert_ptr_null(autoprocs_facts_cgroup_path(f));
        ck_assert(!autoprocs_facts_has_limit(f));
        ck_assert_ptr_null(autoprocs_facts_limit_cgroup(f));
        ck_assert_uint_eq(autoprocs_facts_procs(f), 2);
        ck_assert_uint_ge(autoprocs_facts_warning_count(f), 1);
        s = json(f);
        {
                static const char head[] = "{\"cgroup_version\":0,\"cgroup_path\":null,\"limit\":null,"
                                           "\"limit_file\":null,\"affinity_cpus\":2,\"affinity_source\":\"affinity\","
                                           "\"procs\":2,\"policy\":\"go125\",\"throttling\":null,\"pressure\":null,"
                                           "\"warnings\":[\"/proc/self/cgroup: ";

                ck_assert_msg(strncmp(s, head, sizeof(head) - 1) == 0, "%s", s);
        }
        free(s);
        autoprocs_facts_free(f);
        autoprocs_config_free(c);

        ck_assert_int_eq(autoprocs_detect(NULL, NULL), -EINVAL);
}
END_TEST

/* Independent check that @s is valid JSON-string content: UTF-8, no raw control bytes. */
static void check_json_text(const char *s)
{
        const unsigned char *u = (const unsigned char *)s;

        for (size_t i = 0; u[i];) {
                size_t n = u[i] < 0x80 ? 1 : (u[i] & 0xe0) == 0xc0 ? 2 : (u[i] & 0xf0) == 0xe0 ? 3 : (u[i] & 0xf8) == 0xf0 ? 4 : 0;

                ck_assert_msg(n > 0, "bad lead byte at %zu", i);
                ck_assert_msg(u[i] >= 0x20 && u[i] != 0x7f, "raw control byte at %zu", i);
                for (size_t k = 1; k < n; k++)
                        ck_assert_msg((u[i + k] & 0xc0) == 0x80, "bad continuation at %zu", i + k);
                i += n;
        }
}

START_TEST(test_affinity_source)
{
        autoprocs_facts *f;

        write_v2_tree("proc/self");
        ap_test_write(tree, "sys/devices/system/cpu/online", "0-7\n");
        /* The cgroup's cpuset (3 of 8 online CPUs) bounds the count. */
        ap_test_write(tree, "sys/fs/cgroup/kubepods/pod1/ctr/cpuset.cpus.effective", "0-2\n");
        f = detect(AUTOPROCS_POLICY_GO125, 0, 0, 0, NULL);
        ck_assert_uint_eq(autoprocs_facts_affinity_cpus(f), 3);
        ck_assert_str_eq(autoprocs_facts_affinity_source(f), "cpuset");
        autoprocs_facts_free(f);
        /* A cpuset of every CPU: the affinity mask is what there is. */
        ap_test_write(tree, "sys/fs/cgroup/kubepods/pod1/ctr/cpuset.cpus.effective", "0-7\n");
        f = detect(AUTOPROCS_POLICY_GO125, 0, 0, 0, NULL);
        ck_assert_str_eq(autoprocs_facts_affinity_source(f), "affinity");
        autoprocs_facts_free(f);
        /* A mask narrower than the cpuset: the mask bounds it. */
        ap_test_write(tree, "proc/self/status", "Name:\tapp\nCpus_allowed_list:\t0-1\n");
        ap_test_write(tree, "sys/fs/cgroup/kubepods/pod1/ctr/cpuset.cpus.effective", "0-2\n");
        f = detect(AUTOPROCS_POLICY_GO125, 0, 0, 0, NULL);
        ck_assert_uint_eq(autoprocs_facts_affinity_cpus(f), 2);
        ck_assert_str_eq(autoprocs_facts_affinity_source(f), "affinity");
        autoprocs_facts_free(f);
}
END_TEST

START_TEST(test_v1_usage_from_cpuacct_apart)
{
        /* cpu and cpuacct mounted apart, the process in /job and /acct/job: usage is
         * cpuacct/acct/job's 123456789 ns, not the decoys in cpu/job (999 ms) or cpuacct/job
         * (888 ms); the throttling counters are cpu/job's. */
        autoprocs_throttling t;
        autoprocs_facts *f;

        ap_test_rmtree(tree);
        tree = ap_test_fixture_copy("v1-cpu-cpuacct-apart");
        f = detect(AUTOPROCS_POLICY_GO125, 0, 0, 0, NULL);
        ck_assert_int_eq(autoprocs_facts_throttling(f, &t, sizeof(t)), 0);
        ck_assert_uint_eq(t.nr_periods, 12);
        ck_assert_uint_eq(t.nr_throttled, 3);
        ck_assert(t.has_usage);
        ck_assert_uint_eq(t.usage_ns, 123456000u);
        autoprocs_facts_free(f);
}
END_TEST

START_TEST(test_json_escaping)
{
        char all[256];
        char *s;
        ApBuf b = AP_BUF_NULL;

        for (int i = 0; i < 255; i++)
                all[i] = (char)(i + 1);
        all[255] = 0;
        ap_buf_json_string(&b, all, 255);
        ck_assert_int_eq(ap_buf_steal(&b, &s), 0);
        check_json_text(s);
        ck_assert(strstr(s, "\\\"") && strstr(s, "\\\\") && strstr(s, "\\n") && strstr(s, "\\u0001") &&
                  strstr(s, "\\u007f") && strstr(s, "\\u00ff") && strstr(s, "\\u0080"));
        free(s);

        /* Valid UTF-8 passes through; overlong, surrogate and truncated forms are escaped. */
        ap_buf_json_string(&b, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14);
        ap_buf_json_string(&b, "\xc0\xaf|\xed\xa0\x80|\xe2\x82", 9);
        ap_buf_json_string(&b, "a\0b", 3);
        ck_assert_int_eq(ap_buf_steal(&b, &s), 0);
        ck_assert_str_eq(s, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""
                            "\"\\u00c0\\u00af|\\u00ed\\u00a0\\u0080|\\u00e2\\u0082\""
                            "\"a\\u0000b\"");
        free(s);
}
END_TEST

START_TEST(test_decimal)
{
        static const struct {
                uint64_t n, d;
                unsigned dec;
                const char *want;
        } t[] = {
                { 150000, 100000, 6, "1.5" },   { 50000, 100000, 6, "0.5" }, { 100000, 300000, 6, "0.333333" },
                { 200000, 300000, 6, "0.666667" }, { 300000, 100000, 6, "3" }, { 1, 3000000, 6, "0" },
                { UINT64_MAX, 1, 6, "18446744073709551615" }, { 5, 0, 6, "0" }, { 1, 1000000, 6, "0.000001" },
                { 1234, 100, 2, "12.34" },      { 7, 2, 0, "4" },
        };
        for (size_t i = 0; i < AP_ELEMENTSOF(t); i++) {
                ApBuf b = AP_BUF_NULL;
                char *s;

                ap_buf_decimal(&b, t[i].n, t[i].d, t[i].dec);
                ck_assert_int_eq(ap_buf_steal(&b, &s), 0);
                ck_assert_str_eq(s, t[i].want);
                free(s);
        }
}
END_TEST

START_TEST(test_hostile_path_in_json)
{
        autoprocs_facts *f;
        char *s;

        /* A cgroup path with a quote, a backslash (mountinfo-escaped), a tab and a high byte. */
        ap_test_write(tree, "proc/self/cgroup", "0::/we\"ird\\x\t\xff:z\n");
        ap_test_write(tree, "proc/self/mountinfo", "30 24 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
        ap_test_write(tree, "sys/devices/system/cpu/online", "0\n");
        ap_test_write(tree, "sys/fs/cgroup/we\"ird\\x\t\xff:z/cpu.max", "50000 100000\n");
        f = detect(AUTOPROCS_POLICY_GO125, 0, 0, 0, NULL);
        ck_assert_str_eq(autoprocs_facts_limit_cgroup(f), "/we\"ird\\x\t\xff:z");
        s = json(f);
        check_json_text(s);
        ck_assert_msg(strstr(s, "\"cgroup_path\":\"/we\\\"ird\\\\x\\t\\u00ff:z\"") != NULL, "%s", s);
        ck_assert_uint_eq(autoprocs_facts_procs(f), 1); /* go125 with A = 1 */
        free(s);
        autoprocs_facts_free(f);
}
END_TEST

START_TEST(test_host)
{
        autoprocs_facts *f = NULL;
        char *s = NULL;

        /* Sanity only: the live system yields a count >= 1 and a JSON object. */
        ck_assert_int_eq(autoprocs_detect(NULL, &f), 0);
        ck_assert_uint_ge(autoprocs_facts_affinity_cpus(f), 1);
        ck_assert_uint_ge(autoprocs_facts_procs(f), 1);
        ck_assert_int_eq(autoprocs_facts_to_json(f, &s), 0);
        ck_assert(s[0] == '{' && s[strlen(s) - 1] == '}');
        check_json_text(s);
        free(s);
        autoprocs_facts_free(f);
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("detect");
        TCase *tc = tcase_create("trees");

        tcase_add_checked_fixture(tc, tree_setup, tree_teardown);
        tcase_add_test(tc, test_v2_tree);
        tcase_add_test(tc, test_pid_and_cgroup_dir);
        tcase_add_test(tc, test_empty_tree);
        tcase_add_test(tc, test_hostile_path_in_json);
        tcase_add_test(tc, test_affinity_source);
        tcase_add_test(tc, test_v1_usage_from_cpuacct_apart);
        suite_add_tcase(s, tc);
        tc = tcase_create("json");
        tcase_add_test(tc, test_json_escaping);
        tcase_add_test(tc, test_decimal);
        suite_add_tcase(s, tc);
        tc = tcase_create("host");
        tcase_add_test(tc, test_host);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return ap_test_run(suite());
}
