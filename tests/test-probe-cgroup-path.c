/* SPDX-License-Identifier: MIT */
/* probes/cgroup-path.c and cgroup-resolve.c: table tests of the parsers on hostile strings, and
 * resolution on small trees built in temporary directories. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/util/path.h"
#include "probes/cgroup-path.h"
#include "probes/cgroup-resolve.h"
#include "tests/ap-test.h"

START_TEST(test_proc_cgroup_lines)
{
        static const char text[] = "12:cpu,cpuacct:/kube/pod:1:x\n"
                                   "11:name=systemd:/init.scope\n"
                                   "10:cpuacct,cpu:/other\n"
                                   "0::/v2/path\n"
                                   "garbage line\n"
                                   "x:cpu:/bad-id\n"
                                   "3::/v1-without-controllers\n"
                                   "0:cpu:/v2-with-controllers\n"
                                   "4:cpuset:relative\n"
                                   "5:cpuset\n"
                                   "\n"
                                   "99999999999:cpu:/too-big-id\n"
                                   "6:cpuset:/no-newline-at-end";
        ApProcCgroup pc = { 0 };
        ApWarnings w = AP_WARNINGS_NULL;
        const ApCgroupLine *l;

        ck_assert_int_eq(ap_proc_cgroup_parse(text, strlen(text), "cg", &pc, &w), 0);
        ck_assert_uint_eq(pc.n, 5);
        ck_assert_uint_eq(w.n, 7);
        /* Split on the first two ':' only. */
        l = ap_proc_cgroup_find(&pc, "cpu");
        ck_assert_ptr_nonnull(l);
        ck_assert_str_eq(l->path, "/kube/pod:1:x");
        ck_assert_uint_eq(l->id, 12);
        ck_assert_str_eq(ap_proc_cgroup_find(&pc, "cpuacct")->path, "/kube/pod:1:x");
        ck_assert_str_eq(ap_proc_cgroup_find(&pc, NULL)->path, "/v2/path");
        ck_assert_str_eq(ap_proc_cgroup_find(&pc, "cpuset")->path, "/no-newline-at-end");
        ck_assert_ptr_null(ap_proc_cgroup_find(&pc, "systemd"));
        ck_assert_ptr_nonnull(ap_proc_cgroup_find(&pc, "name=systemd"));
        ck_assert_ptr_null(ap_proc_cgroup_find(&pc, "cpu,cpuacct"));
        ck_assert_ptr_null(ap_proc_cgroup_find(&pc, "memory"));
        ap_proc_cgroup_done(&pc);
        ap_warnings_done(&w);
}
END_TEST

START_TEST(test_proc_cgroup_hostile)
{
        char nul[] = "1:cpu:/a\0b\n0::/\n";
        char *big;
        ApProcCgroup pc = { 0 };
        ApWarnings w = AP_WARNINGS_NULL;
        size_t n = 1 << 20;

        /* A NUL byte inside a line rejects that line only. */
        ck_assert_int_eq(ap_proc_cgroup_parse(nul, sizeof(nul) - 1, "cg", &pc, &w), 0);
        ck_assert_uint_eq(pc.n, 1);
        ck_assert_ptr_null(ap_proc_cgroup_find(&pc, "cpu"));
        ck_assert_uint_eq(w.n, 1);
        ap_proc_cgroup_done(&pc);
        ap_warnings_done(&w);

        /* A very long path is kept whole. */
        big = malloc(n + 16);
        ck_assert_ptr_nonnull(big);
        memcpy(big, "4:cpu:/", 7);
        memset(big + 7, 'a', n);
        memcpy(big + 7 + n, "\n", 2);
        ck_assert_int_eq(ap_proc_cgroup_parse(big, strlen(big), "cg", &pc, NULL), 0);
        ck_assert_uint_eq(pc.n, 1);
        ck_assert_uint_eq(strlen(pc.v[0].path), n + 1);
        ap_proc_cgroup_done(&pc);
        free(big);

        /* Empty input: no lines, no warnings. */
        ck_assert_int_eq(ap_proc_cgroup_parse("", 0, "cg", &pc, &w), 0);
        ck_assert_uint_eq(pc.n, 0);
        ck_assert_uint_eq(w.n, 0);
}
END_TEST

START_TEST(test_tokens)
{
        ck_assert(ap_token_in_list("cpu,cpuacct", "cpu"));
        ck_assert(ap_token_in_list("cpuacct,cpu", "cpu"));
        ck_assert(ap_token_in_list("cpu", "cpu"));
        ck_assert(!ap_token_in_list("cpuacct", "cpu"));
        ck_assert(!ap_token_in_list("cpuset", "cpu"));
        ck_assert(!ap_token_in_list("name=cpu", "cpu"));
        ck_assert(!ap_token_in_list("", "cpu"));
        ck_assert(ap_token_in_list("rw,nosuid,cpu,cpuacct", "cpuacct"));
        ck_assert(!ap_token_in_list(",,", "cpu"));
}
END_TEST

START_TEST(test_unescape)
{
        static const struct {
                const char *in;
                int r;
                const char *out;
        } t[] = {
                { "/plain", 0, "/plain" },
                { "/with\\040space", 0, "/with space" },
                { "/tab\\011nl\\012bs\\134", 0, "/tab\tnl\nbs\\" },
                { "/trunc\\04", -EINVAL, NULL },
                { "/bad\\089", -EINVAL, NULL },
                { "/nul\\000", -EINVAL, NULL },
                { "/big\\777", -EINVAL, NULL },
                { "/lone\\", -EINVAL, NULL },
                { "", 0, "" },
        };
        for (size_t i = 0; i < AP_ELEMENTSOF(t); i++) {
                char *o = NULL;
                int r = ap_mountinfo_unescape(t[i].in, strlen(t[i].in), &o);

                ck_assert_msg(r == t[i].r, "'%s': %d", t[i].in, r);
                if (r == 0)
                        ck_assert_str_eq(o, t[i].out);
                free(o);
        }
}
END_TEST

START_TEST(test_mountinfo)
{
        static const char text[] =
                "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
                "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:5 master:2 - cgroup cgroup rw,cpu,cpuacct\n"
                "33 31 0:30 /kube\\040pods /sys/fs/cgroup/my\\040cpu rw - cgroup cgroup rw,cpu\n"
                "34 31 0:31 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate some opts with spaces\n"
                "35 31 0:32 / /x rw shared:9 cgroup cgroup rw,cpu\n"      /* no '-' */
                "36 31 0:33 / /y rw - cgroup\n"                             /* no source */
                "37 31 0:34 relative /z rw - cgroup cgroup rw,cpu\n"      /* root not absolute */
                "x 31 0:35 / /w rw - cgroup cgroup rw,cpu\n"              /* bad id */
                "38 31 0:36 / /bad\\9 rw - cgroup cgroup rw,cpu\n"        /* bad escape */
                "39 31 0:37 / /s rw  - cgroup cgroup rw,cpu\n"            /* empty field */
                "40 31 0:38 / /no-super - cgroup2 cgroup2\n"              /* 6 fields before '-'? no */
                /* A network namespace kept by `ip netns add`: not a cgroup mount, no warning. */
                "42 26 0:4 net:[4026532290] /run/netns/blue rw shared:610 - nsfs nsfs rw\n"
                "41 31 0:39 / /nl-end rw - cgroup2 cgroup2 rw";           /* no trailing newline */
        ApMountTable mt = { 0 };
        ApWarnings w = AP_WARNINGS_NULL;

        ck_assert_int_eq(ap_mountinfo_parse(text, strlen(text), "mi", &mt, &w), 0);
        /* ext4 is not kept; four good cgroup mounts. */
        ck_assert_uint_eq(mt.n, 4);
        ck_assert_str_eq(mt.v[0].mount_point, "/sys/fs/cgroup/cpu,cpuacct");
        ck_assert_str_eq(mt.v[0].super_opts, "rw,cpu,cpuacct");
        ck_assert_str_eq(mt.v[1].root, "/kube pods");
        ck_assert_str_eq(mt.v[1].mount_point, "/sys/fs/cgroup/my cpu");
        ck_assert_str_eq(mt.v[2].fstype, "cgroup2");
        ck_assert_str_eq(mt.v[2].super_opts, "rw,nsdelegate some opts with spaces");
        ck_assert_str_eq(mt.v[3].mount_point, "/nl-end");
        ck_assert_uint_eq(w.n, 7);
        for (size_t i = 0; i < w.n; i++)
                ck_assert_msg(strncmp(w.v[i], "mi: line ", 9) == 0, "%s", w.v[i]);
        ap_mount_table_done(&mt);
        ap_warnings_done(&w);
}
END_TEST

START_TEST(test_path_helpers)
{
        const char *rest;
        char *s;

        ck_assert(ap_path_comp_prefix("/", "/a/b", &rest));
        ck_assert_str_eq(rest, "a/b");
        ck_assert(ap_path_comp_prefix("/a", "/a/b", &rest));
        ck_assert_str_eq(rest, "b");
        ck_assert(ap_path_comp_prefix("/a/b", "/a/b", &rest));
        ck_assert_str_eq(rest, "");
        ck_assert(!ap_path_comp_prefix("/a", "/ab/c", &rest));
        ck_assert(!ap_path_comp_prefix("/a/b/c", "/a/b", &rest));
        ck_assert(ap_path_has_dotdot("/../x"));
        ck_assert(!ap_path_has_dotdot("/..x/y.."));
        ck_assert_uint_eq(ap_path_n_comps("//a//b/"), 2);
        s = ap_path_join_rel(".", "a");
        ck_assert_str_eq(s, "a");
        free(s);
        s = ap_path_join_rel("x", "");
        ck_assert_str_eq(s, "x");
        free(s);
        s = ap_path_join_rel("", "/");
        ck_assert_str_eq(s, ".");
        free(s);
        s = ap_path_join_abs("/", "a/b/");
        ck_assert_str_eq(s, "/a/b");
        free(s);
        s = ap_path_join_abs("/r/", "");
        ck_assert_str_eq(s, "/r");
        free(s);
        s = ap_path_seen_from("a/b", "a");
        ck_assert_str_eq(s, "/..");
        free(s);
        s = ap_path_seen_from("a/b", "");
        ck_assert_str_eq(s, "/../..");
        free(s);
        s = ap_path_seen_from("a/b", "a/b/c/d");
        ck_assert_str_eq(s, "/c/d");
        free(s);
        s = ap_path_seen_from("a", "a");
        ck_assert_str_eq(s, "/");
        free(s);
        s = ap_path_rel_of_abs("/");
        ck_assert_str_eq(s, ".");
        free(s);
}
END_TEST

/* ---- resolution on trees -------------------------------------------------------------------- */

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

static void tree_open(void)
{
        ck_assert_int_eq(ap_probe_root_open(tree, 0, false, &root), 0);
}

static void model(ApCgroupModel *m, ApWarnings *w)
{
        tree_open();
        ck_assert_int_eq(ap_cgroup_model_read(&root, m, w), 0);
}

static bool any_warning(const ApWarnings *w, const char *needle)
{
        for (size_t i = 0; i < w->n; i++)
                if (strstr(w->v[i], needle))
                        return true;
        return false;
}

static bool any_note(const ApWarnings *w, const char *needle)
{
        for (size_t i = 0; i < w->n_notes; i++)
                if (strstr(w->notes[i], needle))
                        return true;
        return false;
}

START_TEST(test_resolve_hybrid)
{
        ApCgroupModel m;
        ApWarnings w = AP_WARNINGS_NULL;

        /* This machine's layout: "0::/" and cgroup2 at unified without cpu; cpu on v1 wins. */
        ap_test_write(tree, "proc/self/cgroup", "0::/\n2:cpuacct:/acct\n1:cpu:/a/b\n3:cpuset:/\n");
        ap_test_write(tree, "proc/self/mountinfo",
                      "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
                      "33 31 0:30 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct\n"
                      "34 31 0:31 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n"
                      "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n");
        ap_test_write(tree, "sys/fs/cgroup/cpu/a/b/cpu.cfs_quota_us", "-1\n");
        ap_test_write(tree, "sys/fs/cgroup/cpuacct/acct/cpuacct.usage", "1\n");
        ap_test_write(tree, "sys/fs/cgroup/unified/cgroup.controllers", "\n");
        ap_test_write(tree, "sys/fs/cgroup/cpuset/cpuset.cpus", "0\n");
        model(&m, &w);
        ck_assert_int_eq(m.cpu.version, 1);
        ck_assert_str_eq(m.cpu.dir, "sys/fs/cgroup/cpu/a/b");
        ck_assert_str_eq(m.cpu.top, "sys/fs/cgroup/cpu");
        ck_assert_str_eq(m.cpu.hier_path, "/a/b");
        ck_assert_str_eq(m.cpu.path, "/a/b");
        ck_assert_str_eq(m.cpuacct.dir, "sys/fs/cgroup/cpuacct/acct");
        ck_assert_str_eq(m.cpuset.dir, "sys/fs/cgroup/cpuset");
        ck_assert_int_eq(m.unified.version, 2);
        ck_assert_str_eq(m.unified.dir, "sys/fs/cgroup/unified");
        ck_assert_uint_eq(w.n, 0);
        ap_cgroup_model_done(&m);
        ap_warnings_done(&w);
}
END_TEST

START_TEST(test_resolve_v2_no_cpu_controller)
{
        ApCgroupModel m;
        ApWarnings w = AP_WARNINGS_NULL;

        /* v2 only, cgroup.controllers readable and without cpu: no cpu hierarchy. */
        ap_test_write(tree, "proc/self/cgroup", "0::/x\n");
        ap_test_write(tree, "proc/self/mountinfo", "30 24 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
        ap_test_write(tree, "sys/fs/cgroup/cgroup.controllers", "cpuset io memory pids\n");
        ap_test_write(tree, "sys/fs/cgroup/x/cpu.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
        model(&m, &w);
        ck_assert_int_eq(m.cpu.version, 0);
        ck_assert_int_eq(m.unified.version, 2);
        ck_assert_str_eq(m.unified.dir, "sys/fs/cgroup/x");
        ck_assert(any_warning(&w, "no cpu controller"));
        ap_cgroup_model_done(&m);
        ap_warnings_done(&w);

        /* Listed (or unreadable): v2 is the cpu hierarchy. */
        ap_test_write(tree, "sys/fs/cgroup/cgroup.controllers", "cpuset cpu io\n");
        ap_probe_root_done(&root);
        model(&m, NULL);
        ck_assert_int_eq(m.cpu.version, 2);
        ck_assert_str_eq(m.cpu.dir, "sys/fs/cgroup/x");
        ap_cgroup_model_done(&m);
}
END_TEST

START_TEST(test_resolve_root_prefix_and_subtree)
{
        ApCgroupModel m;
        ApWarnings w = AP_WARNINGS_NULL;

        /* v1 without cgroupns: root = path => the mount point itself.  A second mount of the
         * whole hierarchy elsewhere loses to the longer root. */
        ap_test_write(tree, "proc/self/cgroup", "4:cpu,cpuacct:/kubepods/pod1/ctr\n");
        ap_test_write(tree, "proc/self/mountinfo",
                      "40 31 0:29 / /mnt/all rw - cgroup cgroup rw,cpu,cpuacct\n"
                      "41 31 0:29 /kubepods/pod1/ctr /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpuacct,cpu\n"
                      "42 31 0:29 /kubepods/pod1/ctrX /sys/fs/cgroup/other rw - cgroup cgroup rw,cpu\n");
        ap_test_write(tree, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
        ap_test_write(tree, "mnt/all/kubepods/pod1/ctr/cpu.cfs_quota_us", "-1\n");
        model(&m, &w);
        ck_assert_int_eq(m.cpu.version, 1);
        ck_assert_str_eq(m.cpu.dir, "sys/fs/cgroup/cpu,cpuacct");
        ck_assert_str_eq(m.cpu.top, "sys/fs/cgroup/cpu,cpuacct");
        ck_assert_str_eq(m.cpu.hier_path, "/kubepods/pod1/ctr");
        /* cpuacct co-mounted: the same directory. */
        ck_assert_str_eq(m.cpuacct.dir, "sys/fs/cgroup/cpu,cpuacct");
        ck_assert_uint_eq(w.n, 0);
        ap_cgroup_model_done(&m);
        ap_warnings_done(&w);
}
END_TEST

START_TEST(test_resolve_duplicates_prefer_sys_fs_cgroup)
{
        ApCgroupModel m;

        ap_test_write(tree, "proc/self/cgroup", "0::/a\n");
        ap_test_write(tree, "proc/self/mountinfo",
                      "30 24 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
                      "31 24 0:26 / /elsewhere rw - cgroup2 cgroup2 rw\n");
        ap_test_write(tree, "sys/fs/cgroup/a/cpu.max", "max 100000\n");
        ap_test_write(tree, "elsewhere/a/cpu.max", "max 100000\n");
        model(&m, NULL);
        ck_assert_str_eq(m.cpu.dir, "sys/fs/cgroup/a");
        ap_cgroup_model_done(&m);
}
END_TEST

START_TEST(test_resolve_escaped_mount_point)
{
        ApCgroupModel m;

        ap_test_write(tree, "proc/self/cgroup", "0::/my pod\n");
        ap_test_write(tree, "proc/self/mountinfo", "30 24 0:26 / /cg\\040root rw - cgroup2 cgroup2 rw\n");
        ap_test_write(tree, "cg root/my pod/cpu.max", "max 100000\n");
        model(&m, NULL);
        ck_assert_str_eq(m.cpu.dir, "cg root/my pod");
        ap_cgroup_model_done(&m);
}
END_TEST

START_TEST(test_resolve_dotdot)
{
        ApCgroupModel m;
        ApWarnings w = AP_WARNINGS_NULL;

        ap_test_write(tree, "proc/self/cgroup", "0::/\n");
        ap_test_write(tree, "proc/self/status", "Name:\tx\nPid:\t4242\n");
        ap_test_write(tree, "proc/self/mountinfo", "30 24 0:26 /../.. /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
        ap_test_write(tree, "sys/fs/cgroup/cgroup.procs", "1\n");
        ap_test_write(tree, "sys/fs/cgroup/other/cgroup.procs", "42\n424\n");
        ap_test_write(tree, "sys/fs/cgroup/pod/cgroup.procs", "");
        ap_test_write(tree, "sys/fs/cgroup/pod/ctr/cgroup.procs", "7\n4242\n");
        model(&m, &w);
        ck_assert_int_eq(m.cpu.version, 2);
        ck_assert_str_eq(m.cpu.dir, "sys/fs/cgroup/pod/ctr");
        ck_assert_str_eq(m.cpu.ns_rel, "pod/ctr");
        ck_assert_str_eq(m.cpu.hier_path, "/");
        ck_assert(m.cpu.flags & AP_LOC_SEARCHED);
        /* Found: a note, not a warning (nothing is missing or malformed). */
        ck_assert(any_note(&w, "outside the cgroup namespace"));
        ck_assert_uint_eq(w.n, 0);
        ap_cgroup_model_done(&m);
        ap_warnings_done(&w);

        /* Not listed anywhere: unknown (no directory), never the mount root. */
        ap_test_write(tree, "sys/fs/cgroup/pod/ctr/cgroup.procs", "7\n");
        ap_probe_root_done(&root);
        w = AP_WARNINGS_NULL;
        model(&m, &w);
        ck_assert_int_eq(m.cpu.version, 2);
        ck_assert_ptr_null(m.cpu.dir);
        ck_assert(any_warning(&w, "limit unknown"));
        ap_cgroup_model_done(&m);
        ap_warnings_done(&w);
}
END_TEST

START_TEST(test_resolve_suffix)
{
        ApCgroupModel m;
        ApWarnings w = AP_WARNINGS_NULL;

        /* Root not a prefix of the path (moved after the mount): the longest existing suffix. */
        ap_test_write(tree, "proc/self/cgroup", "3:cpu:/system.slice/app/task\n");
        ap_test_write(tree, "proc/self/mountinfo", "30 24 0:26 /other/root /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n");
        ap_test_write(tree, "sys/fs/cgroup/cpu/app/task/cpu.cfs_quota_us", "-1\n");
        ap_test_write(tree, "sys/fs/cgroup/cpu/task/cpu.cfs_quota_us", "-1\n");
        model(&m, &w);
        ck_assert_str_eq(m.cpu.dir, "sys/fs/cgroup/cpu/app/task");
        ck_assert(m.cpu.flags & AP_LOC_SUFFIX);
        ck_assert(any_note(&w, "longest existing suffix"));
        ck_assert(!any_warning(&w, "longest existing suffix"));
        ap_cgroup_model_done(&m);
        ap_warnings_done(&w);
}
END_TEST

START_TEST(test_resolve_missing_inputs)
{
        ApCgroupModel m;
        ApWarnings w = AP_WARNINGS_NULL;

        /* No proc at all: version 0, warnings, no failure. */
        model(&m, &w);
        ck_assert_int_eq(m.cpu.version, 0);
        ck_assert_int_eq(m.unified.version, 0);
        ck_assert_uint_ge(w.n, 1);
        ap_cgroup_model_done(&m);
        ap_warnings_done(&w);

        /* A cpu line but no mount for it. */
        ap_test_write(tree, "proc/self/cgroup", "3:cpu:/a\n");
        ap_test_write(tree, "proc/self/mountinfo", "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n");
        ap_probe_root_done(&root);
        model(&m, &w);
        ck_assert_int_eq(m.cpu.version, 0);
        ck_assert(any_warning(&w, "no cgroup mount"));
        ap_cgroup_model_done(&m);
        ap_warnings_done(&w);
}
END_TEST

START_TEST(test_fifo_never_blocks)
{
        ApCgroupModel m;
        ApWarnings w = AP_WARNINGS_NULL;
        char p[4096];

        /* A FIFO planted where a file is expected: a warning, not a hang. */
        ap_test_write(tree, "proc/self/status", "");
        snprintf(p, sizeof(p), "%s/proc/self/cgroup", tree);
        ck_assert_int_eq(mkfifo(p, 0600), 0);
        model(&m, &w);
        ck_assert_int_eq(m.cpu.version, 0);
        ck_assert(any_warning(&w, "/proc/self/cgroup"));
        ap_cgroup_model_done(&m);
        ap_warnings_done(&w);
}
END_TEST

START_TEST(test_model_for_dir)
{
        ApCgroupModel m;

        ap_test_write(tree, "proc/self/mountinfo",
                      "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
                      "33 31 0:30 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct\n"
                      "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n");
        ap_test_write(tree, "sys/fs/cgroup/cpu/g/h/cpu.cfs_quota_us", "-1\n");
        ap_test_write(tree, "sys/fs/cgroup/cpuacct/g/cpuacct.usage", "0\n");
        ap_test_write(tree, "sys/fs/cgroup/unified/z/cgroup.procs", "");
        tree_open();
        ck_assert_int_eq(ap_cgroup_model_for_dir(&root, "/sys/fs/cgroup/cpu/g/h", &m, NULL), 0);
        ck_assert_int_eq(m.cpu.version, 1);
        ck_assert_str_eq(m.cpu.top, "sys/fs/cgroup/cpu");
        ck_assert_str_eq(m.cpu.hier_path, "/g/h");
        ck_assert_str_eq(m.cpuacct.dir, "sys/fs/cgroup/cpuacct/g/h");
        ap_cgroup_model_done(&m);
        /* A directory of a hierarchy without cpu. */
        ck_assert_int_eq(ap_cgroup_model_for_dir(&root, "sys/fs/cgroup/cpuacct/g", &m, NULL), 0);
        ck_assert_int_eq(m.cpu.version, 0);
        ap_cgroup_model_done(&m);
        ck_assert_int_eq(ap_cgroup_model_for_dir(&root, "sys/fs/cgroup/unified/z", &m, NULL), 0);
        ck_assert_int_eq(m.cpu.version, 2);
        ck_assert_str_eq(m.unified.dir, "sys/fs/cgroup/unified/z");
        ap_cgroup_model_done(&m);
        /* The hierarchy path detect prints (limit.cgroup) names the same cgroup: the cpu
         * hierarchy's mount first. */
        ck_assert_int_eq(ap_cgroup_model_for_dir(&root, "/g/h", &m, NULL), 0);
        ck_assert_int_eq(m.cpu.version, 1);
        ck_assert_str_eq(m.cpu.dir, "sys/fs/cgroup/cpu/g/h");
        ck_assert_str_eq(m.cpu.hier_path, "/g/h");
        ap_cgroup_model_done(&m);
        /* Only the v2 hierarchy has /z. */
        ck_assert_int_eq(ap_cgroup_model_for_dir(&root, "/z", &m, NULL), 0);
        ck_assert_int_eq(m.cpu.version, 2);
        ck_assert_str_eq(m.unified.dir, "sys/fs/cgroup/unified/z");
        ap_cgroup_model_done(&m);
        /* Neither a directory nor a cgroup of any mounted hierarchy. */
        ck_assert_int_eq(ap_cgroup_model_for_dir(&root, "/nonexistent", &m, NULL), -ENOTDIR);
        ck_assert_int_eq(ap_cgroup_model_for_dir(&root, "/sys/fs/cgroup/cpu/nonexistent", &m, NULL), -ENOTDIR);
}
END_TEST

START_TEST(test_moved)
{
        ApCgroupModel m;
        int fd;

        ap_test_write(tree, "proc/self/cgroup", "0::/a\n");
        ap_test_write(tree, "proc/self/mountinfo", "30 24 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
        model(&m, NULL);
        fd = ap_proc_cgroup_open(&root);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(ap_cgroup_model_moved(&m, fd), 0);
        ap_test_write(tree, "proc/self/cgroup", "0::/b\n");
        ck_assert_int_eq(ap_cgroup_model_moved(&m, fd), 1);
        ap_test_write(tree, "proc/self/cgroup", "0::/a\n0::/a-much-longer-text-than-before\n");
        ck_assert_int_eq(ap_cgroup_model_moved(&m, fd), 1);
        close(fd);
        ap_cgroup_model_done(&m);
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("probe-cgroup-path");
        TCase *tc = tcase_create("parse");

        tcase_add_test(tc, test_proc_cgroup_lines);
        tcase_add_test(tc, test_proc_cgroup_hostile);
        tcase_add_test(tc, test_tokens);
        tcase_add_test(tc, test_unescape);
        tcase_add_test(tc, test_mountinfo);
        tcase_add_test(tc, test_path_helpers);
        suite_add_tcase(s, tc);
        tc = tcase_create("resolve");
        tcase_add_checked_fixture(tc, tree_setup, tree_teardown);
        tcase_add_test(tc, test_resolve_hybrid);
        tcase_add_test(tc, test_resolve_v2_no_cpu_controller);
        tcase_add_test(tc, test_resolve_root_prefix_and_subtree);
        tcase_add_test(tc, test_resolve_duplicates_prefer_sys_fs_cgroup);
        tcase_add_test(tc, test_resolve_escaped_mount_point);
        tcase_add_test(tc, test_resolve_dotdot);
        tcase_add_test(tc, test_resolve_suffix);
        tcase_add_test(tc, test_resolve_missing_inputs);
        tcase_add_test(tc, test_fifo_never_blocks);
        tcase_add_test(tc, test_model_for_dir);
        tcase_add_test(tc, test_moved);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return ap_test_run(suite());
}
