/* SPDX-License-Identifier: MIT */
/* probes/probe-root.c and cgroup-view.c: which view of another process's cgroup is trusted.  A
 * directory found through our own mounts counts only when its cgroup.procs lists the pid; else the
 * process's own view through proc/PID/root; when that cannot be entered, an error, never the
 * files that sit at the same paths in our namespace (a sidecar once served its own limit so). */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "probes/cgroup-resolve.h"
#include "probes/probe-root.h"
#include "probes/warnings.h"
#include "tests/ap-test.h"

#define PID 4242
#define PID_S "4242"

static char *tree;

static void tree_setup(void)
{
        tree = ap_test_fixture_copy(NULL);
}

static void tree_teardown(void)
{
        ap_test_rmtree(tree);
}

START_TEST(test_procs_lists)
{
        ap_test_write(tree, "cg/cgroup.procs", "1\n12\n4242\n123");
        ap_test_write(tree, "empty/cgroup.procs", "");
        int fd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        ck_assert_int_ge(fd, 0);
        ck_assert(ap_cgroup_procs_lists(fd, "cg", 12));
        ck_assert(ap_cgroup_procs_lists(fd, "cg", 4242));
        ck_assert(ap_cgroup_procs_lists(fd, "cg", 123)); /* last line, no newline */
        ck_assert(!ap_cgroup_procs_lists(fd, "cg", 2));   /* a suffix of 12 is not 2 */
        ck_assert(!ap_cgroup_procs_lists(fd, "cg", 424)); /* nor a prefix */
        ck_assert(!ap_cgroup_procs_lists(fd, "empty", 1));
        ck_assert(!ap_cgroup_procs_lists(fd, "missing", 1));
        ck_assert(!ap_cgroup_procs_lists(fd, "cg", 0));
        close(fd);
}
END_TEST

/* A docker sidecar (host cgroup namespace, v1): our cpu mount is our own cgroup, the app is in
 * /docker/APP; the files at our mount point are ours (0.25 CPUs, other pids). */
static void sidecar_tree(void)
{
        ap_test_write(tree, "proc/self/mountinfo",
                      "30 25 0:29 /docker/SC /sys/fs/cgroup/cpu ro,nosuid - cgroup cgroup rw,cpu\n");
        ap_test_write(tree, "proc/" PID_S "/cgroup", "1:cpu:/docker/APP\n");
        ap_test_write(tree, "proc/" PID_S "/mountinfo",
                      "40 35 0:29 /docker/APP /sys/fs/cgroup/cpu ro,nosuid - cgroup cgroup rw,cpu\n");
        ap_test_write(tree, "sys/fs/cgroup/cpu/cgroup.procs", "7\n8\n");
        ap_test_write(tree, "sys/fs/cgroup/cpu/cpu.cfs_quota_us", "25000\n");
        ap_test_write(tree, "sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n");
}

START_TEST(test_closed_root_is_an_error)
{
        ApProbeRoot root = AP_PROBE_ROOT_NULL;
        ApCgroupModel m = { 0 };
        ApWarnings w = AP_WARNINGS_NULL;

        sidecar_tree();
        /* proc/PID/root that cannot be entered as a directory (live: EACCES for another uid). */
        ap_test_write(tree, "proc/" PID_S "/root", "");
        ck_assert_int_eq(ap_probe_root_open(tree, PID, true, &root), -ENOTDIR);
        ck_assert_int_eq(ap_cgroup_model_read_pid(tree, PID, &root, &m, &w), -ENOTDIR);
        ck_assert_int_eq(root.root_fd, -1);
        ap_warnings_done(&w);
}
END_TEST

START_TEST(test_same_path_elsewhere_is_not_verified)
{
        ApProbeRoot root = AP_PROBE_ROOT_NULL;
        ApCgroupModel m = { 0 };
        ApWarnings w = AP_WARNINGS_NULL;

        /* Our mount shows the whole hierarchy and /docker/APP exists, but its cgroup.procs does
         * not list the pid (another pid namespace's numbers, a stale tree): not the process's. */
        sidecar_tree();
        ap_test_write(tree, "proc/self/mountinfo",
                      "30 25 0:29 / /sys/fs/cgroup/cpu ro,nosuid - cgroup cgroup rw,cpu\n");
        ap_test_write(tree, "sys/fs/cgroup/cpu/docker/APP/cgroup.procs", "1\n");
        ap_test_write(tree, "sys/fs/cgroup/cpu/docker/APP/cpu.cfs_quota_us", "50000\n");
        ap_test_write(tree, "proc/" PID_S "/root", "");
        ck_assert_int_eq(ap_cgroup_model_read_pid(tree, PID, &root, &m, &w), -ENOTDIR);
        ap_warnings_done(&w);
}
END_TEST

START_TEST(test_own_view_when_verified)
{
        ApProbeRoot root = AP_PROBE_ROOT_NULL;
        ApCgroupModel m = { 0 };
        ApWarnings w = AP_WARNINGS_NULL;

        /* The host (or a node agent): our mount root "/" holds /docker/APP, which lists the pid;
         * proc/PID/root need not be open to us. */
        sidecar_tree();
        ap_test_write(tree, "proc/self/mountinfo",
                      "30 25 0:29 / /sys/fs/cgroup/cpu ro,nosuid - cgroup cgroup rw,cpu\n");
        ap_test_write(tree, "sys/fs/cgroup/cpu/docker/APP/cgroup.procs", "1\n" PID_S "\n");
        ap_test_write(tree, "proc/" PID_S "/root", "");
        ck_assert_int_eq(ap_cgroup_model_read_pid(tree, PID, &root, &m, &w), 0);
        ck_assert(root.own_mounts);
        ck_assert_str_eq(m.cpu.dir, "sys/fs/cgroup/cpu/docker/APP");
        ck_assert_str_eq(m.cpu.hier_path, "/docker/APP");
        ap_cgroup_model_done(&m);
        ap_probe_root_done(&root);
        ap_warnings_done(&w);
}
END_TEST

START_TEST(test_their_view_when_ours_fails)
{
        ApProbeRoot root = AP_PROBE_ROOT_NULL;
        ApCgroupModel m = { 0 };
        ApWarnings w = AP_WARNINGS_NULL;

        /* The sidecar that may enter proc/PID/root: the app's mount point there is the app's. */
        sidecar_tree();
        ap_test_write(tree, "proc/" PID_S "/root/sys/fs/cgroup/cpu/cgroup.procs", "1\n");
        ap_test_write(tree, "proc/" PID_S "/root/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "50000\n");
        ck_assert_int_eq(ap_cgroup_model_read_pid(tree, PID, &root, &m, &w), 0);
        ck_assert(!root.own_mounts);
        ck_assert_str_eq(m.cpu.dir, "sys/fs/cgroup/cpu");
        ck_assert_str_eq(m.cpu.mount_root, "/docker/APP");
        ap_cgroup_model_done(&m);
        ap_probe_root_done(&root);
        ap_warnings_done(&w);
}
END_TEST

START_TEST(test_no_such_process)
{
        ApProbeRoot root = AP_PROBE_ROOT_NULL;
        ApCgroupModel m = { 0 };

        ap_test_write(tree, "proc/self/mountinfo", "");
        ck_assert_int_eq(ap_cgroup_model_read_pid(tree, PID, &root, &m, NULL), -ESRCH);
        ck_assert_int_eq(ap_probe_root_open(tree, PID, true, &root), -ESRCH);
        ck_assert_int_eq(ap_probe_root_open_own(tree, PID, &root), -ESRCH);
}
END_TEST

static Suite *suite(void)
{
        Suite *s = suite_create("probe-root");
        TCase *tc = tcase_create("view");

        tcase_add_checked_fixture(tc, tree_setup, tree_teardown);
        tcase_add_test(tc, test_procs_lists);
        tcase_add_test(tc, test_closed_root_is_an_error);
        tcase_add_test(tc, test_same_path_elsewhere_is_not_verified);
        tcase_add_test(tc, test_own_view_when_verified);
        tcase_add_test(tc, test_their_view_when_ours_fails);
        tcase_add_test(tc, test_no_such_process);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return ap_test_run(suite());
}
