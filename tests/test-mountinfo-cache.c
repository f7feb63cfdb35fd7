/* SPDX-License-Identifier: MIT */
/*
 * lib/mountinfo-cache.c on the live system, inside private mount namespaces (root; the whole
 * suite is skipped, exit 77, where they cannot be made): a change of the mount table makes the
 * cache parse again, a fork() child neither gets its parent's table nor takes the parent's
 * change notification away, and a process that unshares its mount namespace gets the new one's.  The table keeps cgroup mounts only, so the mount made is cgroup2
 * (the one unified hierarchy, seen at one more place: nothing is rebound).
 */
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "lib/mountinfo-cache.h"
#include "tests/ap-test.h"

static char *dir;
static char why[512];

static void setup(void)
{
        dir = ap_test_fixture_copy(NULL);
}

static void teardown(void)
{
        ap_test_rmtree(dir);
        dir = NULL;
}

/* Whether the cached table (a copy taken now) has a mount at @dir.  -1: no copy. */
static int cache_has(const char *mp)
{
        ApMountTable mt = { 0 };
        int root_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int found = 0, r;

        if (root_fd < 0)
                return -1;
        r = ap_mountinfo_cache_copy(root_fd, &mt);
        close(root_fd);
        if (r != 0)
                return -1;
        for (size_t i = 0; i < mt.n; i++)
                found = found || strcmp(mt.v[i].mount_point, mp) == 0;
        ap_mount_table_done(&mt);
        return found;
}

/* NULL when the cache says @want about @mp, else why not (in why[]). */
static const char *expect(const char *mp, int want, const char *what)
{
        int has = cache_has(mp);

        if (has == want)
                return NULL;
        snprintf(why, sizeof(why), "%s: the cache %s a mount at %s", what,
                 has < 0 ? "gave no table, let alone" : has ? "still has" : "does not have", mp);
        return why;
}

static const char *mount_cgroup2(const char *mp)
{
        if (mount("autoprocs-test", mp, "cgroup2", 0, NULL) < 0) {
                snprintf(why, sizeof(why), "mount cgroup2 at %s: %s", mp, strerror(errno));
                return why;
        }
        return NULL;
}

static const char *invalidation(void *arg)
{
        const char *mp = arg, *e;

        if ((e = expect(mp, 0, "before the mount")) || (e = mount_cgroup2(mp)) ||
            (e = expect(mp, 1, "after the mount")) || (e = expect(mp, 1, "once more")))
                return e;
        if (umount(mp) < 0)
                return "umount failed";
        return expect(mp, 0, "after the unmount");
}

START_TEST(test_mount_change_reparses)
{
        ap_test_in_private_mounts(invalidation, dir);
}
END_TEST

/* Run @fn(@mp) in a fork() child of this process (the cache filled here is inherited). */
static const char *in_child(const char *(*fn)(const char *mp), const char *mp)
{
        int p[2], status = 0;
        char msg[512] = "";
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0)
                return "pipe or fork failed";
        if (pid == 0) {
                const char *e = fn(mp);

                close(p[0]);
                if (e)
                        (void)!write(p[1], e, strlen(e));
                _exit(e ? 1 : 0);
        }
        close(p[1]);
        ap_test_read_all(p[0], msg, sizeof(msg));
        close(p[0]);
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                snprintf(why, sizeof(why), "in the fork() child: %s", msg[0] ? msg : "it died");
                return why;
        }
        return NULL;
}

/* The child moves to a mount namespace of its own and mounts there: its table, not the
 * parent's (the inherited fd reads the parent's /proc/PID/mountinfo, which never changes). */
static const char *child_own_namespace(const char *mp)
{
        const char *e;

        if ((e = ap_test_unshare_mounts()) || (e = mount_cgroup2(mp)))
                return e;
        return expect(mp, 1, "the child's own mount");
}

static const char *fork_child_own_table(void *arg)
{
        const char *mp = arg, *e;

        if ((e = expect(mp, 0, "the parent, filled")) || (e = in_child(child_own_namespace, mp)))
                return e;
        return expect(mp, 0, "the parent after the child");
}

START_TEST(test_fork_child_reads_its_own_table)
{
        ap_test_in_private_mounts(fork_child_own_table, dir);
}
END_TEST

static const char *child_reads(const char *mp)
{
        return expect(mp, 1, "the child, same namespace");
}

/* The parent mounts, then a child reads first: the parent must still see the change (one open
 * file shared by both would hand the kernel's one notification to the child). */
static const char *fork_child_keeps_parent_event(void *arg)
{
        const char *mp = arg, *e;

        if ((e = expect(mp, 0, "the parent, filled")) || (e = mount_cgroup2(mp)) ||
            (e = in_child(child_reads, mp)))
                return e;
        return expect(mp, 1, "the parent after its child read");
}

START_TEST(test_fork_child_leaves_parent_notified)
{
        ap_test_in_private_mounts(fork_child_keeps_parent_event, dir);
}
END_TEST

/* The process itself moves to a new mount namespace (no fork: the same pid) and mounts there:
 * the cache must follow it (the kept fd reads the namespace it was opened in, which is the old
 * one and never notifies). */
static const char *unshare_same_process(void *arg)
{
        const char *mp = arg, *e;

        if ((e = expect(mp, 0, "filled")) || (e = ap_test_unshare_mounts()) || (e = mount_cgroup2(mp)))
                return e;
        return expect(mp, 1, "after unshare(CLONE_NEWNS) and a mount");
}

START_TEST(test_unshare_follows_namespace)
{
        ap_test_in_private_mounts(unshare_same_process, dir);
}
END_TEST

int main(void)
{
        Suite *s = suite_create("mountinfo-cache");
        TCase *tc = tcase_create("private-mounts");
        const char *skip = ap_test_private_mounts_why();

        if (skip) {
                fprintf(stderr, "SKIP: %s\n", skip);
                return 77;
        }
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_mount_change_reparses);
        tcase_add_test(tc, test_fork_child_reads_its_own_table);
        tcase_add_test(tc, test_fork_child_leaves_parent_notified);
        tcase_add_test(tc, test_unshare_follows_namespace);
        suite_add_tcase(s, tc);
        return ap_test_run(s);
}
