/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the Check suites: fixture trees, temporary directories, running a suite.
 * Fixture trees live in tests/fixtures/<scenario>/ and are read in place (read-only) or copied to
 * a fresh temporary directory when a test rewrites files.
 */
#pragma once

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef AP_SOURCE_ROOT
#error "config.h (AP_SOURCE_ROOT) must be included"
#endif

#define AP_TEST_FIXTURES AP_SOURCE_ROOT "/tests/fixtures"

/* Path of fixture @name in a static buffer (not thread-safe; tests are forked). */
static inline const char *ap_test_fixture_path(const char *name)
{
        static char buf[4096];

        snprintf(buf, sizeof(buf), "%s/%s", AP_TEST_FIXTURES, name);
        return buf;
}

/* Open fixture @name read-only as a root directory fd. */
static inline int ap_test_fixture_open(const char *name)
{
        int fd = open(ap_test_fixture_path(name), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        ck_assert_msg(fd >= 0, "cannot open fixture %s: %s", name, strerror(errno));
        return fd;
}

/* Copy fixture @name (NULL: nothing) into a fresh temporary directory; returns its malloc'd path. */
static inline char *ap_test_fixture_copy(const char *name)
{
        char tmpl[] = "/tmp/autoprocs-test-XXXXXX";
        char cmd[8192];
        char *dir = mkdtemp(tmpl);

        ck_assert_msg(dir != NULL, "mkdtemp: %s", strerror(errno));
        if (name) {
                snprintf(cmd, sizeof(cmd), "cp -a '%s/.' '%s/'", ap_test_fixture_path(name), dir);
                ck_assert_msg(system(cmd) == 0, "copying fixture %s failed", name);
        }
        return strdup(dir);
}

/* Remove a directory made by ap_test_fixture_copy() and free its path. */
static inline void ap_test_rmtree(char *dir)
{
        char cmd[8192];

        if (!dir)
                return;
        if (strncmp(dir, "/tmp/autoprocs-test-", 20) == 0) {
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
                (void)!system(cmd);
        }
        free(dir);
}

/* Write @content to @dir/@rel (creating parent directories). */
static inline void ap_test_write(const char *dir, const char *rel, const char *content)
{
        char path[4096], cmd[8192];
        FILE *f;

        snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s/%s')\"", dir, rel);
        ck_assert(system(cmd) == 0);
        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        f = fopen(path, "we");
        ck_assert_msg(f != NULL, "fopen %s: %s", path, strerror(errno));
        fputs(content, f);
        ck_assert(fclose(f) == 0);
}

/* Path of the autoprocs CLI, passed by meson in AP_CLI. */
static inline const char *ap_test_cli(void)
{
        const char *p = getenv("AP_CLI");

        ck_assert_msg(p && *p, "AP_CLI (path of the autoprocs CLI) is not set");
        return p;
}

/* Read @fd until EOF (or @size - 1 bytes) into @buf, NUL-terminated. */
static inline void ap_test_read_all(int fd, char *buf, size_t size)
{
        size_t len = 0;
        ssize_t n;

        while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) != 0) {
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                len += (size_t)n;
        }
        buf[len] = 0;
}

/* In the calling (forked) process: a private mount namespace of its own, so that the mounts a
 * test makes are seen by nobody else and vanish with it.  NULL, or what failed. */
static inline const char *ap_test_unshare_mounts(void)
{
        if (unshare(CLONE_NEWNS) < 0)
                return errno == EPERM ? "unshare(CLONE_NEWNS): not permitted (not root?)"
                                      : "unshare(CLONE_NEWNS) failed";
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return "mount(\"/\", MS_REC|MS_PRIVATE) failed";
        return NULL;
}

/*
 * Run @fn(@arg) in a forked child inside a private mount namespace (ap_test_unshare_mounts);
 * @fn returns NULL when it passed, else what failed, which fails the calling test.
 */
static inline void ap_test_in_private_mounts(const char *(*fn)(void *arg), void *arg)
{
        char msg[1024] = "";
        int p[2], status = 0;
        pid_t pid;

        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                const char *why;

                close(p[0]);
                why = ap_test_unshare_mounts();
                if (!why)
                        why = fn(arg);
                if (why)
                        (void)!write(p[1], why, strlen(why));
                _exit(why ? 1 : 0);
        }
        close(p[1]);
        ap_test_read_all(p[0], msg, sizeof(msg));
        close(p[0]);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "in a private mount namespace: %s",
                      msg[0] ? msg : "the child died");
}

/* Why private mount namespaces cannot be made here (for a SKIP line), or NULL. */
static inline const char *ap_test_private_mounts_why(void)
{
        int status = 0;
        pid_t pid;

        if (geteuid() != 0)
                return "not root";
        pid = fork();
        if (pid < 0)
                return "fork failed";
        if (pid == 0)
                _exit(ap_test_unshare_mounts() ? 1 : 0);
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return "unshare(CLONE_NEWNS) or making / private failed";
        return NULL;
}

/* Exit status meson reports as SKIP. */
#define AP_TEST_SKIP 77

/*
 * Cases that some builds cannot run (a sanitizer or valgrind owns what they test) are not in the
 * suite's main run: each is its own meson test, `BINARY CASE` (tests/meson.build, 'cases'), so
 * that where it cannot run it says SKIP rather than passing unrun.  In main(), with @only the
 * case asked for: when it is @fn, run it alone, or return AP_TEST_SKIP when @skip_reason (why
 * not here, NULL when it can run) is set.
 */
#define AP_TEST_RUN_CASE(s, tc, only, fn, skip_reason)                                         \
        do {                                                                                   \
                if (strcmp((only), #fn) == 0) {                                                \
                        const char *why_ = (skip_reason);                                      \
                        if (why_) {                                                            \
                                printf("%s: skipped: %s\n", #fn, why_);                        \
                                srunner_free(srunner_create(s)); /* frees @s (LSan) */         \
                                return AP_TEST_SKIP;                                           \
                        }                                                                      \
                        tcase_add_test((tc), fn);                                              \
                        return ap_test_run(s);                                                 \
                }                                                                              \
        } while (0)

/* The v1 fixture's process cgroup (tests/fixtures/v1-cpu-cpuacct, cpu,cpuacct co-mounted). */
#define AP_TEST_V1_LEAF "sys/fs/cgroup/cpu,cpuacct/system.slice/foo.service"

/*
 * A writer finishing a v1 quota/period pair just after a watcher's first read of it (a confirm
 * hook, lib/watch.h): the first call writes the new period, later calls only count.  The lock:
 * the hook runs on the watcher's thread while the test reads @calls.
 */
typedef struct ApTestHalfWrite {
        pthread_mutex_t lock;
        const char *tree;
        const char *period;     /* the period to finish the pair with, e.g. "50000\n" */
        unsigned calls;
} ApTestHalfWrite;

static inline void ap_test_finish_pair(void *userdata)
{
        ApTestHalfWrite *h = userdata;

        pthread_mutex_lock(&h->lock);
        if (h->calls++ == 0)
                ap_test_write(h->tree, AP_TEST_V1_LEAF "/cpu.cfs_period_us", h->period);
        pthread_mutex_unlock(&h->lock);
}

static inline unsigned ap_test_half_write_calls(ApTestHalfWrite *h)
{
        unsigned n;

        pthread_mutex_lock(&h->lock);
        n = h->calls;
        pthread_mutex_unlock(&h->lock);
        return n;
}

/* Run @s with the default fork mode; exit status for main(). */
static inline int ap_test_run(Suite *s)
{
        SRunner *sr = srunner_create(s);
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
