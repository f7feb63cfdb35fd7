/* SPDX-License-Identifier: MIT */
/*
 * `autoprocs run` on cgroup v2: mnt/autoprocs-run-N made and removed with mkdir, writes and rmdir
 * (Documentation/admin-guide/cgroup-v2.rst).  libcgroup is not used here: it removes a cgroup once
 * per controller (on v2 both are one directory: the second removal failed with ENOENT), enables
 * controllers in a parent's subtree_control without undoing it, and cannot move the child into a
 * container's root cgroup, which the "no internal processes" rule forbids.
 *
 * Rules followed (cgroup-v2.rst "Top-down Constraint", "No Internal Process Constraint"):
 * - a child gets cpu/cpuset files only when its parent's cgroup.subtree_control has them; in a
 *   non-root cgroup with processes of its own (a container's namespace root) enabling these
 *   threaded controllers succeeds but makes it a thread root, and then no process can join its
 *   domain children (EOPNOTSUPP): such a parent must be left empty first;
 * - a cgroup can be removed only without processes (EBUSY) and without children.
 * Touches only its own directory and the controllers it enabled itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/cli/run-cgroup2.h"
#include "lib/util/cleanup.h"
#include "lib/util/fileio.h"

#define AP_CG2_FILE_MAX (1024u * 1024u)

static int write_file(const char *dir, const char *file, const char *text)
{
        _cleanup_free_ char *path = NULL;
        size_t len = strlen(text);
        ssize_t n;
        int fd, r = 0;

        if (asprintf(&path, "%s/%s", dir, file) < 0)
                return -ENOMEM;
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = write(fd, text, len);
        if (n < 0)
                r = -errno;
        else if ((size_t)n != len)
                r = -EIO;
        close(fd);
        return r;
}

static int read_file(const char *dir, const char *file, char **ret)
{
        _cleanup_free_ char *path = NULL;
        size_t len;
        int fd, r;

        if (asprintf(&path, "%s/%s", dir, file) < 0)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = ap_pread_alloc(fd, AP_CG2_FILE_MAX, ret, &len);
        close(fd);
        return r;
}

static bool has_token(const char *list, const char *tok)
{
        size_t n = strlen(tok);

        for (const char *p = list; (p = strstr(p, tok)); p += n)
                if ((p == list || p[-1] == ' ') && (p[n] == 0 || p[n] == ' ' || p[n] == '\n'))
                        return true;
        return false;
}

/* Whether cgroup.procs of @dir lists only @pid.  @retval 1 yes  @retval 0 others too  @retval -errno */
static int only_member(const char *dir, pid_t pid)
{
        _cleanup_free_ char *procs = NULL;
        char *p, *end;
        bool seen = false;
        int r;

        r = read_file(dir, "cgroup.procs", &procs);
        if (r < 0)
                return r;
        for (p = procs; *p; p = end) {
                long v = strtol(p, &end, 10);

                if (end == p)
                        break;
                if (v != (long)pid)
                        return 0;
                seen = true;
                while (*end == '\n')
                        end++;
        }
        return seen;
}

/* Move every process of cgroup @from to cgroup @to.  @retval 0  @retval -errno the last failure */
static int move_all(const char *from, const char *to)
{
        _cleanup_free_ char *procs = NULL;
        char *line, *save = NULL;
        int r, ret = 0;

        r = read_file(from, "cgroup.procs", &procs);
        if (r < 0)
                return r == -ENOENT ? 0 : r;
        for (line = strtok_r(procs, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                r = write_file(to, "cgroup.procs", line);
                if (r < 0 && r != -ESRCH)
                        ret = r;
        }
        return ret;
}

/* rmdir, retried for a second while the last processes finish leaving (EBUSY). */
static int remove_dir(const char *dir)
{
        for (int i = 0; i < 100; i++) {
                if (rmdir(dir) == 0 || errno == ENOENT)
                        return 0;
                if (errno != EBUSY)
                        return -errno;
                (void)nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
        }
        return -EBUSY;
}

/*
 * Whether @dir is a non-root cgroup with processes of its own (the root of a container's cgroup
 * namespace): enabling cpu there would succeed (cpu and cpuset are threaded controllers) and make
 * it a thread root, into whose domain children no process can move (EOPNOTSUPP).  The hierarchy's
 * real root has no cgroup.type and is exempt.  @retval 1 yes  @retval 0 no  @retval -errno
 */
static int parent_has_processes(const char *dir)
{
        _cleanup_free_ char *type = NULL, *procs = NULL;
        int r;

        r = read_file(dir, "cgroup.type", &type);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = read_file(dir, "cgroup.procs", &procs);
        if (r < 0)
                return r;
        return procs[0] != 0;
}

/* The controllers @need ("cpu", "cpuset") that @dir's subtree_control lacks, as "+a +b". */
static int missing_controllers(const char *dir, const char *const *need, char *buf, size_t size)
{
        _cleanup_free_ char *have = NULL;
        int r;

        r = read_file(dir, "cgroup.subtree_control", &have);
        if (r < 0)
                return r;
        buf[0] = 0;
        for (size_t i = 0; need[i]; i++)
                if (!has_token(have, need[i]))
                        (void)snprintf(buf + strlen(buf), size - strlen(buf), "%s+%s", buf[0] ? " " : "",
                                       need[i]);
        return 0;
}

/* "+cpu +cpuset" -> "-cpu -cpuset" */
static void undo_of(const char *added, char *buf, size_t size)
{
        (void)snprintf(buf, size, "%s", added);
        for (char *p = buf; *p; p++)
                if (*p == '+' && (p == buf || p[-1] == ' '))
                        *p = '-';
}

int ap_run_cg2_create(const char *mnt, const char *own_path, const char *name, uint64_t quota_us,
                      uint64_t period_us, const char *cpuset, ApRunCg2 *ret, char *why, size_t why_size)
{
        const char *need[] = { "cpu", cpuset ? "cpuset" : NULL, NULL };
        ApRunCg2 cg = AP_RUN_CG2_NULL;
        char missing[32], max[64];
        int r;

        *ret = AP_RUN_CG2_NULL;
        why[0] = 0;
        cg.mnt = strdup(mnt);
        if (!cg.mnt || asprintf(&cg.dir, "%s/%s", mnt, name) < 0 ||
            asprintf(&cg.own, "%s%s", mnt, strcmp(own_path, "/") == 0 ? "" : own_path) < 0) {
                cg.dir = cg.own = NULL;
                r = -ENOMEM;
                goto fail;
        }
        r = missing_controllers(mnt, need, missing, sizeof(missing));
        if (r < 0) {
                (void)snprintf(why, why_size, "reading %s/cgroup.subtree_control", mnt);
                goto fail;
        }
        if (mkdir(cg.dir, 0755) < 0) {
                r = -errno;
                (void)snprintf(why, why_size, "creating %s", cg.dir);
                free(cg.dir);
                cg.dir = NULL; /* not ours: never removed */
                goto fail;
        }
        r = parent_has_processes(mnt);
        if (r < 0) {
                (void)snprintf(why, why_size, "reading %s/cgroup.procs", mnt);
                goto fail;
        }
        if (r > 0) {
                /* A container's root cgroup with processes in it.  If they are only us (a
                 * container's init, or a shell that exec'd us), we leave it for the new cgroup. */
                int only = strcmp(cg.own, mnt) == 0 ? only_member(mnt, getpid()) : 0;

                if (only < 0) {
                        r = only;
                        (void)snprintf(why, why_size, "reading %s/cgroup.procs", mnt);
                        goto fail;
                }
                if (!only) {
                        r = -EBUSY;
                        (void)snprintf(why, why_size, "%s holds other processes, and cgroup v2 lets a cgroup "
                                       "with processes of its own have no limited child (the \"no internal "
                                       "processes\" rule): run autoprocs as its only process, or move the "
                                       "others into a child cgroup first", mnt);
                        goto fail;
                }
                r = ap_run_cg2_attach(&cg, getpid());
                if (r < 0) {
                        (void)snprintf(why, why_size, "moving ourselves into %s", cg.dir);
                        goto fail;
                }
                cg.self_moved = true;
        }
        if (missing[0]) {
                r = write_file(mnt, "cgroup.subtree_control", missing);
                if (r < 0) {
                        (void)snprintf(why, why_size, "enabling %s in %s/cgroup.subtree_control", missing, mnt);
                        goto fail;
                }
                (void)snprintf(cg.added, sizeof(cg.added), "%s", missing);
        }
        (void)snprintf(max, sizeof(max), "%llu %llu", (unsigned long long)quota_us, (unsigned long long)period_us);
        r = write_file(cg.dir, "cpu.max", max);
        if (r < 0) {
                (void)snprintf(why, why_size, "writing \"%s\" to %s/cpu.max", max, cg.dir);
                goto fail;
        }
        if (cpuset) {
                r = write_file(cg.dir, "cpuset.cpus", cpuset);
                if (r < 0) {
                        (void)snprintf(why, why_size, "writing \"%s\" to %s/cpuset.cpus", cpuset, cg.dir);
                        goto fail;
                }
        }
        *ret = cg;
        return 0;
fail:
        (void)ap_run_cg2_remove(&cg);
        return r;
}

int ap_run_cg2_attach(const ApRunCg2 *cg, pid_t pid)
{
        char buf[32];

        (void)snprintf(buf, sizeof(buf), "%ld", (long)pid);
        return write_file(cg->dir, "cgroup.procs", buf);
}

int ap_run_cg2_remove(ApRunCg2 *cg)
{
        char undo[32];
        int r, ret = 0;

        if (!cg)
                return 0;
        /* Undo our controllers first when we sit in the new cgroup: the parent cannot take us back
         * while its subtree_control has them. */
        if (cg->self_moved && cg->added[0]) {
                undo_of(cg->added, undo, sizeof(undo));
                r = write_file(cg->mnt, "cgroup.subtree_control", undo);
                if (r < 0 && ret == 0)
                        ret = r;
                cg->added[0] = 0;
        }
        if (cg->dir) {
                /* Us (when moved) and whatever CMD left behind go to our own cgroup. */
                r = move_all(cg->dir, cg->own);
                if (r < 0 && ret == 0)
                        ret = r;
                r = remove_dir(cg->dir);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        if (cg->added[0]) {
                undo_of(cg->added, undo, sizeof(undo));
                r = write_file(cg->mnt, "cgroup.subtree_control", undo);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        free(cg->mnt);
        free(cg->own);
        free(cg->dir);
        *cg = AP_RUN_CG2_NULL;
        return ret;
}
