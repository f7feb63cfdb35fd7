/* SPDX-License-Identifier: MIT */
/*
 * Container cgroups: layout, walk, inotify, cheap reads (see discovery.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/autoprocsd/discovery.h"
#include "lib/util/macro.h"
#include "lib/util/parse.h"
#include "probes/cgroup-limit.h"
#include "probes/cpuset.h"
#include "probes/cpustat.h"
#include "probes/psi.h"

#define WATCH_MASK (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_ONLYDIR)
/* A file missing at open is tried again after 1, 2, 4 ... up to this many ticks. */
#define RETRY_MAX_TICKS 64u

/* One file of a cgroup directory, opened on first use and kept open. */
typedef struct CFile {
        int fd;                /* -1: not open */
        bool nocache;          /* could not keep it open (EMFILE): open, read, close each time */
        uint64_t retry_tick;   /* missing: do not try before this tick */
        unsigned backoff;
} CFile;

struct ApCgNode {
        ApCgNode *parent, *first_child, *next_sibling;
        char *name;
        char *rel;             /* below the tops: "" for the top */
        char *path;            /* "/" + rel: the hierarchy path */
        int wd;                /* inotify watch; -1 */
        size_t watched_index;
        bool container;
        bool walk;             /* watched and descended into (not: containers, PATH's ancestors) */
        ApKubePath kube;
        void *userdata;

        CFile limit_a, limit_b, stat, usage, pressure, cpuset;
        uint64_t limit_tick, stat_tick;
        int limit_err, stat_err;
        ApCpuMax limit;
        int64_t v1_quota;      /* the last cpu.cfs_quota_us read, and the period read with it */
        uint64_t v1_period;
        unsigned v1_period_age;
        ApCpuStat cpustat;
        unsigned cpuset_cpus, cpuset_age;
};

struct ApDiscovery {
        ApDiscoveryMode mode;
        char *dir;
        ApDiscoveryFn fn;
        void *userdata;

        bool started;
        int version;
        int cpu_fd, acct_fd, cpuset_fd, psi_fd;
        char *cpu_top;         /* the cpu hierarchy's top, for inotify_add_watch */
        char *walk_rel;        /* TREE: PATH below the top */
        int ifd;
        ApCgNode *top;
        ApCgNode *walk_root;   /* the top (kubepods) or PATH's node (cgroup-tree) */
        ApCgNode **watched;
        size_t n_watched, cap_watched;
        size_t n_containers, n_dirs;
        uint64_t events, rescans, overflows;
        unsigned online;
        char scratch[PATH_MAX];
};

#define CFILE_NULL ((CFile){ .fd = -1 })

/* ---------------------------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------------------------- */

static const char *file_path(ApDiscovery *d, const ApCgNode *n, const char *name)
{
        int k = snprintf(d->scratch, sizeof(d->scratch), "%s%s%s", n->rel, *n->rel ? "/" : "", name);

        return k > 0 && (size_t)k < sizeof(d->scratch) ? d->scratch : NULL;
}

static void cfile_close(CFile *f)
{
        if (f->fd >= 0)
                (void)close(f->fd);
        *f = CFILE_NULL;
}

/* Read file @name of @n below @top_fd into @buf (NUL-terminated).  @retval length  @retval -errno
 * (-ENODEV/-ENOENT: the directory or file is gone; -EAGAIN: missing, not tried this tick) */
static ssize_t cfile_read(ApDiscovery *d, int top_fd, const ApCgNode *n, CFile *f, const char *name,
                          uint64_t tick, char *buf, size_t size)
{
        ssize_t len;
        int fd = f->fd;

        if (top_fd < 0)
                return -ENOENT;
        if (fd < 0) {
                const char *p;

                if (tick < f->retry_tick)
                        return -EAGAIN;
                p = file_path(d, n, name);
                if (!p)
                        return -ENAMETOOLONG;
                fd = openat(top_fd, p, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (fd < 0) {
                        int r = AP_NEG_ERRNO();

                        if (r == -EMFILE || r == -ENFILE)
                                return r;
                        f->backoff = f->backoff ? AP_MIN(f->backoff * 2, RETRY_MAX_TICKS) : 1;
                        f->retry_tick = tick + f->backoff;
                        return r;
                }
                f->backoff = 0;
                if (!f->nocache)
                        f->fd = fd;
        }
        len = pread(fd, buf, size - 1, 0);
        if (len < 0) {
                len = AP_NEG_ERRNO();
                if (f->fd >= 0)
                        cfile_close(f);
        } else {
                buf[len] = '\0';
        }
        if (f->fd < 0 && fd >= 0)
                (void)close(fd);
        return len;
}

/* cfile_read, falling back to open-read-close when no fd can be kept (EMFILE). */
static ssize_t node_read(ApDiscovery *d, int top_fd, const ApCgNode *n, CFile *f, const char *name,
                         uint64_t tick, char *buf, size_t size)
{
        ssize_t r = cfile_read(d, top_fd, n, f, name, tick, buf, size);

        if ((r == -EMFILE || r == -ENFILE) && !f->nocache) {
                f->nocache = true;
                r = cfile_read(d, top_fd, n, f, name, tick, buf, size);
        }
        return r;
}

/* ---------------------------------------------------------------------------------------------
 * Layout
 * ------------------------------------------------------------------------------------------- */

static bool has_file(int dir_fd, const char *sub, const char *name)
{
        char p[512];

        (void)snprintf(p, sizeof(p), "%s/%s", sub, name);
        return faccessat(dir_fd, p, F_OK, 0) == 0;
}

static int open_dir_at(int dir_fd, const char *sub)
{
        return openat(dir_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void close_layout(ApDiscovery *d)
{
        int *fds[] = { &d->cpu_fd, &d->acct_fd, &d->cpuset_fd, &d->psi_fd };

        for (size_t i = 0; i < AP_ELEMENTSOF(fds); i++) {
                bool shared = false;

                for (size_t j = 0; j < i; j++)
                        shared = shared || *fds[j] == *fds[i];
                if (*fds[i] >= 0 && !shared)
                        (void)close(*fds[i]);
        }
        for (size_t i = 0; i < AP_ELEMENTSOF(fds); i++)
                *fds[i] = -1;
        free(d->cpu_top);
        d->cpu_top = NULL;
        d->version = 0;
}

/* The hierarchies around the mount point directory @mnt.  @retval 0  @retval -ENOENT */
static int find_layout(ApDiscovery *d, const char *mnt)
{
        static const char *const cpu_names[] = { "cpu,cpuacct", "cpuacct,cpu", "cpu" };
        static const char *const acct_names[] = { "cpuacct", "cpu,cpuacct", "cpuacct,cpu" };
        int m = open_dir_at(AT_FDCWD, mnt);
        const char *cpu = NULL;

        if (m < 0)
                return -ENOENT;
        if (has_file(m, ".", "cgroup.controllers")) {
                d->version = 2;
                d->cpu_fd = d->acct_fd = d->cpuset_fd = d->psi_fd = m;
                d->cpu_top = strdup(mnt);
                return d->cpu_top ? 0 : -ENOMEM;
        }
        for (size_t i = 0; i < AP_ELEMENTSOF(cpu_names) && !cpu; i++)
                if (has_file(m, cpu_names[i], "cpu.cfs_quota_us"))
                        cpu = cpu_names[i];
        if (!cpu) {
                (void)close(m);
                return -ENOENT;
        }
        d->version = 1;
        d->cpu_fd = open_dir_at(m, cpu);
        if (has_file(m, cpu, "cpuacct.usage"))
                d->acct_fd = d->cpu_fd;
        for (size_t i = 0; i < AP_ELEMENTSOF(acct_names) && d->acct_fd < 0; i++)
                if (has_file(m, acct_names[i], "cpuacct.usage"))
                        d->acct_fd = open_dir_at(m, acct_names[i]);
        if (has_file(m, "cpuset", "cpuset.cpus"))
                d->cpuset_fd = open_dir_at(m, "cpuset");
        if (has_file(m, "unified", "cgroup.controllers"))
                d->psi_fd = open_dir_at(m, "unified");
        if (asprintf(&d->cpu_top, "%s/%s", mnt, cpu) < 0)
                d->cpu_top = NULL;
        (void)close(m);
        return d->cpu_fd >= 0 && d->cpu_top ? 0 : -ENOENT;
}

/* cgroup-tree:PATH: the top of PATH's hierarchy (going up while the parent is a cgroup), the
 * layout around it, and PATH below the top. */
static int find_tree_layout(ApDiscovery *d, const char **ret_why)
{
        char *top = strdup(d->dir), *slash, *mnt = NULL;
        int r;

        if (!top)
                return -ENOMEM;
        while (strlen(top) > 1 && top[strlen(top) - 1] == '/')
                top[strlen(top) - 1] = '\0';
        if (!has_file(AT_FDCWD, top, "cgroup.procs")) {
                free(top);
                *ret_why = "not a cgroup directory (no cgroup.procs)";
                return -ENOENT;
        }
        for (;;) {
                slash = strrchr(top, '/');
                if (!slash || slash == top)
                        break;
                *slash = '\0';
                if (!has_file(AT_FDCWD, top, "cgroup.procs")) {
                        *slash = '/';
                        break;
                }
        }
        free(d->walk_rel);
        d->walk_rel = strdup(d->dir + strlen(top) + strspn(d->dir + strlen(top), "/"));
        /* v2: the top is the mount; v1: the mount of the cpu hierarchy is one of mnt/{cpu,...} */
        if (has_file(AT_FDCWD, top, "cgroup.controllers")) {
                r = find_layout(d, top);
        } else {
                mnt = strdup(top);
                if (!mnt || !d->walk_rel) {
                        free(top);
                        free(mnt);
                        return -ENOMEM;
                }
                slash = strrchr(mnt, '/');
                if (slash && slash != mnt)
                        *slash = '\0';
                r = find_layout(d, mnt);
                /* The cpu hierarchy found must be PATH's own (not a sibling). */
                if (r == 0 && strcmp(d->cpu_top, top) != 0) {
                        close_layout(d);
                        r = -ENOENT;
                }
                free(mnt);
        }
        free(top);
        if (r == -ENOENT)
                *ret_why = "not in a cgroup hierarchy with the cpu controller";
        else if (r == 0 && !d->walk_rel)
                r = -ENOMEM;
        return r;
}

/* ---------------------------------------------------------------------------------------------
 * The tree
 * ------------------------------------------------------------------------------------------- */

static ApCgNode *node_new(ApCgNode *parent, const char *name)
{
        ApCgNode *n = calloc(1, sizeof(*n));

        if (!n)
                return NULL;
        n->wd = -1;
        n->limit_a = n->limit_b = n->stat = n->usage = n->pressure = n->cpuset = CFILE_NULL;
        n->name = strdup(name);
        if (!parent || !*parent->rel)
                n->rel = strdup(parent ? name : "");
        else if (asprintf(&n->rel, "%s/%s", parent->rel, name) < 0)
                n->rel = NULL;
        if (n->rel && asprintf(&n->path, "/%s", n->rel) < 0)
                n->path = NULL;
        if (!n->name || !n->rel || !n->path) {
                free(n->name);
                free(n->rel);
                free(n->path);
                free(n);
                return NULL;
        }
        n->parent = parent;
        if (parent) {
                n->next_sibling = parent->first_child;
                parent->first_child = n;
        }
        ap_kube_path_parse(n->rel, &n->kube);
        return n;
}

static void unwatch(ApDiscovery *d, ApCgNode *n)
{
        if (n->wd < 0)
                return;
        (void)inotify_rm_watch(d->ifd, n->wd);
        n->wd = -1;
        d->watched[n->watched_index] = d->watched[--d->n_watched];
        d->watched[n->watched_index]->watched_index = n->watched_index;
}

static int watch(ApDiscovery *d, ApCgNode *n)
{
        char path[PATH_MAX];
        int wd;

        if (n->wd >= 0)
                return 0;
        if (d->n_watched == d->cap_watched) {
                size_t cap = d->cap_watched ? d->cap_watched * 2 : 64;
                ApCgNode **v = realloc(d->watched, cap * sizeof(*v));

                if (!v)
                        return -ENOMEM;
                d->watched = v;
                d->cap_watched = cap;
        }
        (void)snprintf(path, sizeof(path), "%s%s%s", d->cpu_top, *n->rel ? "/" : "", n->rel);
        wd = inotify_add_watch(d->ifd, path, WATCH_MASK);
        if (wd < 0)
                return AP_NEG_ERRNO();
        /* Two nodes of one directory cannot be (the tree has each name once). */
        n->wd = wd;
        n->watched_index = d->n_watched;
        d->watched[d->n_watched++] = n;
        return 0;
}

static void node_free(ApDiscovery *d, ApCgNode *n)
{
        CFile *files[] = { &n->limit_a, &n->limit_b, &n->stat, &n->usage, &n->pressure, &n->cpuset };

        while (n->first_child) {
                ApCgNode *c = n->first_child;

                n->first_child = c->next_sibling;
                node_free(d, c);
        }
        if (n->container) {
                d->fn(n, false, d->userdata);
                d->n_containers--;
        }
        unwatch(d, n);
        for (size_t i = 0; i < AP_ELEMENTSOF(files); i++)
                cfile_close(files[i]);
        d->n_dirs--;
        free(n->name);
        free(n->rel);
        free(n->path);
        free(n);
}

/* Unlink @n from its parent and free it with everything below. */
static void node_remove(ApDiscovery *d, ApCgNode *n)
{
        if (n->parent) {
                ApCgNode **pp = &n->parent->first_child;

                while (*pp && *pp != n)
                        pp = &(*pp)->next_sibling;
                if (*pp)
                        *pp = n->next_sibling;
        }
        node_free(d, n);
}

static ApCgNode *child_find(const ApCgNode *n, const char *name)
{
        for (ApCgNode *c = n->first_child; c; c = c->next_sibling)
                if (strcmp(c->name, name) == 0)
                        return c;
        return NULL;
}

static int scan(ApDiscovery *d, ApCgNode *n, unsigned depth, bool prune);

/* A subdirectory @name of @parent appeared (or was found by a walk).  @retval 0  @retval -errno */
static int child_add(ApDiscovery *d, ApCgNode *parent, const char *name, unsigned depth)
{
        ApKubeName kn;
        ApCgNode *n;
        int r;

        if (name[0] == '.' || child_find(parent, name))
                return 0;
        if (depth > AP_DISCOVERY_MAX_DEPTH || d->n_dirs >= AP_DISCOVERY_MAX_DIRS)
                return 0;
        ap_kube_name_parse(name, strlen(name), &kn);
        if (kn.kind == AP_KUBE_NAME_MONITOR)
                return 0;
        /* kubepods: at the top only the kubepods directories */
        if (d->mode == AP_DISCOVERY_KUBEPODS && parent == d->top && kn.kind != AP_KUBE_NAME_KUBEPODS)
                return 0;
        n = node_new(parent, name);
        if (!n)
                return -ENOMEM;
        d->n_dirs++;
        if (n->kube.is_container) {
                n->container = true;
                d->n_containers++;
                d->fn(n, true, d->userdata);
                return 0;
        }
        n->walk = true;
        r = watch(d, n);
        if (r == -ENOENT || r == -ENOTDIR) {
                node_remove(d, n); /* gone already */
                return 0;
        }
        if (r < 0)
                return r;
        return scan(d, n, depth, false);
}

/* Read the directory @n: add what is new, with @prune drop what is gone, and go down. */
static int scan(ApDiscovery *d, ApCgNode *n, unsigned depth, bool prune)
{
        char **names = NULL;
        size_t n_names = 0, cap = 0;
        struct dirent *de;
        DIR *dir;
        int fd, r = 0;

        fd = open_dir_at(d->cpu_fd, *n->rel ? n->rel : ".");
        if (fd < 0) {
                r = AP_NEG_ERRNO();
                if (r != -ENOENT && r != -ENOTDIR)
                        return r;
                if (n == d->walk_root) {
                        /* PATH or the top itself is gone: nothing below it is left */
                        unwatch(d, n);
                        while (n->first_child)
                                node_remove(d, n->first_child);
                } else {
                        node_remove(d, n);
                }
                return 0;
        }
        dir = fdopendir(fd);
        if (!dir) {
                (void)close(fd);
                return -ENOMEM;
        }
        while ((de = readdir(dir))) {
                struct stat st;

                if (de->d_name[0] == '.')
                        continue;
                if (de->d_type != DT_DIR && (de->d_type != DT_UNKNOWN ||
                                             fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                                             !S_ISDIR(st.st_mode)))
                        continue;
                if (n_names == cap) {
                        char **v = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*v));

                        if (!v) {
                                r = -ENOMEM;
                                break;
                        }
                        names = v;
                }
                names[n_names] = strdup(de->d_name);
                if (!names[n_names]) {
                        r = -ENOMEM;
                        break;
                }
                n_names++;
        }
        (void)closedir(dir);
        if (r >= 0 && prune) {
                ApCgNode *c = n->first_child;

                while (c) {
                        ApCgNode *next = c->next_sibling;
                        bool seen = false;

                        for (size_t i = 0; i < n_names && !seen; i++)
                                seen = strcmp(names[i], c->name) == 0;
                        /* Ancestors of cgroup-tree's PATH are not walked: keep them. */
                        if (!seen && (c->walk || c->container))
                                node_remove(d, c);
                        c = next;
                }
        }
        for (size_t i = 0; r >= 0 && i < n_names; i++) {
                ApCgNode *c = child_find(n, names[i]);

                if (!c)
                        r = child_add(d, n, names[i], depth + 1);
                else if (prune && c->walk)
                        r = scan(d, c, depth + 1, true);
        }
        for (size_t i = 0; i < n_names; i++)
                free(names[i]);
        free(names);
        return r;
}

/* ---------------------------------------------------------------------------------------------
 * Life cycle
 * ------------------------------------------------------------------------------------------- */

int ap_discovery_new(ApDiscoveryMode mode, const char *dir, ApDiscoveryFn fn, void *userdata,
                     ApDiscovery **ret)
{
        ApDiscovery *d = calloc(1, sizeof(*d));
        long online = sysconf(_SC_NPROCESSORS_ONLN);

        if (!d)
                return -ENOMEM;
        d->mode = mode;
        d->fn = fn;
        d->userdata = userdata;
        d->cpu_fd = d->acct_fd = d->cpuset_fd = d->psi_fd = d->ifd = -1;
        d->online = online > 0 ? (unsigned)online : 0;
        d->dir = strdup(dir);
        d->walk_rel = strdup("");
        if (!d->dir || !d->walk_rel) {
                ap_discovery_free(d);
                return -ENOMEM;
        }
        *ret = d;
        return 0;
}

static void stop(ApDiscovery *d)
{
        if (d->top)
                node_free(d, d->top);
        d->top = d->walk_root = NULL;
        if (d->ifd >= 0)
                (void)close(d->ifd);
        d->ifd = -1;
        close_layout(d);
        d->started = false;
}

ApDiscovery *ap_discovery_free(ApDiscovery *d)
{
        if (!d)
                return NULL;
        stop(d);
        free(d->watched);
        free(d->dir);
        free(d->walk_rel);
        free(d);
        return NULL;
}

int ap_discovery_start(ApDiscovery *d, const char **ret_why)
{
        ApCgNode *n;
        int r;

        stop(d);
        *ret_why = NULL;
        r = d->mode == AP_DISCOVERY_TREE ? find_tree_layout(d, ret_why) : find_layout(d, d->dir);
        if (r < 0) {
                if (r == -ENOENT && !*ret_why)
                        *ret_why = "no cgroup hierarchy with the cpu controller there (cgroup.controllers "
                                   "for v2; cpu, cpu,cpuacct for v1)";
                close_layout(d);
                return r;
        }
        d->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (d->ifd < 0) {
                r = AP_NEG_ERRNO();
                *ret_why = "inotify_init1 failed";
                close_layout(d);
                return r;
        }
        d->top = node_new(NULL, "");
        if (!d->top) {
                stop(d);
                return -ENOMEM;
        }
        d->n_dirs++;
        n = d->top;
        r = 0;
        if (d->mode == AP_DISCOVERY_TREE) {
                /* PATH's ancestors: only read (their limits bind too), not watched. */
                const char *p = d->walk_rel;

                while (*p) {
                        size_t len = strcspn(p, "/");
                        char name[NAME_MAX + 1];
                        ApCgNode *c;

                        if (len > NAME_MAX) {
                                stop(d);
                                return -ENAMETOOLONG;
                        }
                        memcpy(name, p, len);
                        name[len] = '\0';
                        c = node_new(n, name);
                        if (!c) {
                                stop(d);
                                return -ENOMEM;
                        }
                        d->n_dirs++;
                        n = c;
                        p += len;
                        p += strspn(p, "/");
                }
                r = 0;
        }
        n->walk = true;
        d->walk_root = n;
        if (r >= 0)
                r = watch(d, n);
        if (r >= 0)
                r = scan(d, n, 0, false);
        if (r < 0) {
                *ret_why = "cannot watch or read the cgroup directories";
                stop(d);
                return r;
        }
        d->started = true;
        return 0;
}

bool ap_discovery_started(const ApDiscovery *d)
{
        return d->started;
}

int ap_discovery_fd(const ApDiscovery *d)
{
        return d->started ? d->ifd : -1;
}

static ApCgNode *find_wd(const ApDiscovery *d, int wd)
{
        for (size_t i = 0; i < d->n_watched; i++)
                if (d->watched[i]->wd == wd)
                        return d->watched[i];
        return NULL;
}

static unsigned node_depth(const ApCgNode *n)
{
        unsigned k = 0;

        for (; n->parent; n = n->parent)
                k++;
        return k;
}

int ap_discovery_process(ApDiscovery *d)
{
        char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
        int count = 0, r = 0;
        bool overflow = false;

        if (!d->started)
                return 0;
        for (;;) {
                ssize_t len = read(d->ifd, buf, sizeof(buf));

                if (len < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        return AP_NEG_ERRNO();
                }
                if (len == 0)
                        break;
                for (char *p = buf; p < buf + len;) {
                        const struct inotify_event *ev = (const struct inotify_event *)p;
                        ApCgNode *n;

                        p += sizeof(*ev) + ev->len;
                        count++;
                        d->events++;
                        if (ev->mask & IN_Q_OVERFLOW) {
                                overflow = true;
                                continue;
                        }
                        n = find_wd(d, ev->wd);
                        if (!n)
                                continue;
                        if (ev->mask & (IN_IGNORED | IN_DELETE_SELF)) {
                                if (n == d->walk_root) {
                                        unwatch(d, n);
                                        overflow = true; /* the whole tree went: walk again */
                                        continue;
                                }
                                node_remove(d, n);
                                continue;
                        }
                        if (!(ev->mask & IN_ISDIR) || ev->len == 0)
                                continue;
                        if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
                                r = child_add(d, n, ev->name, node_depth(n) + 1);
                                if (r < 0)
                                        overflow = true;
                        } else if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
                                ApCgNode *c = child_find(n, ev->name);

                                if (c)
                                        node_remove(d, c);
                        }
                }
        }
        if (overflow) {
                d->overflows++;
                r = ap_discovery_rescan(d);
                if (r < 0)
                        return r;
        }
        return count;
}

int ap_discovery_rescan(ApDiscovery *d)
{
        if (!d->started)
                return 0;
        d->rescans++;
        /* The walk root may have been removed and made again: watch it anew. */
        (void)watch(d, d->walk_root);
        return scan(d, d->walk_root, node_depth(d->walk_root), true);
}

void ap_discovery_stats(const ApDiscovery *d, ApDiscoveryStats *ret)
{
        *ret = (ApDiscoveryStats){
                .containers = d->n_containers,
                .dirs = d->n_dirs,
                .watches = d->n_watched,
                .events = d->events,
                .rescans = d->rescans,
                .overflows = d->overflows,
                .cgroup_version = d->version,
        };
}

/* ---------------------------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------------------------- */

/* @n's own limit, once per tick. */
static void node_limit(ApDiscovery *d, ApCgNode *n, uint64_t tick)
{
        char buf[128];
        ssize_t len;

        if (n->limit_tick == tick)
                return;
        n->limit_tick = tick;
        n->limit = (ApCpuMax){ 0 };
        n->limit_err = 0;
        if (d->version == 2) {
                if (!n->parent)
                        return; /* the v2 root has no cpu.max */
                len = node_read(d, d->cpu_fd, n, &n->limit_a, "cpu.max", tick, buf, sizeof(buf));
                if (len < 0)
                        n->limit_err = (int)len;
                else if (ap_cpu_max_parse(buf, (size_t)len, &n->limit) < 0)
                        n->limit = (ApCpuMax){ 0 };
                return;
        }
        {
                int64_t quota;
                uint64_t period;

                len = node_read(d, d->cpu_fd, n, &n->limit_a, "cpu.cfs_quota_us", tick, buf, sizeof(buf));
                if (len < 0) {
                        n->limit_err = (int)len;
                        return;
                }
                if (ap_cfs_quota_parse(buf, (size_t)len, &quota) < 0 || quota < 0)
                        return;
                /* The period is read again when the quota changed (and at the tick after: a
                 * resize writes the pair one file at a time) and every AP_DISCOVERY_PERIOD_TICKS
                 * ticks; most ticks are one pread per level. */
                if (n->v1_period == 0 || quota != n->v1_quota || ++n->v1_period_age >= AP_DISCOVERY_PERIOD_TICKS) {
                        bool changed = n->v1_period != 0 && quota != n->v1_quota;

                        len = node_read(d, d->cpu_fd, n, &n->limit_b, "cpu.cfs_period_us", tick, buf, sizeof(buf));
                        if (len < 0 || ap_cfs_period_parse(buf, (size_t)len, &period) < 0) {
                                n->v1_period = 0;
                                return;
                        }
                        n->v1_quota = quota;
                        n->v1_period = period;
                        n->v1_period_age = changed ? AP_DISCOVERY_PERIOD_TICKS : 0;
                }
                ap_cfs_combine(quota, n->v1_period, &n->limit);
        }
}

/* @n's cpu.stat, once per tick. */
static void node_stat(ApDiscovery *d, ApCgNode *n, uint64_t tick)
{
        char buf[1024];
        ssize_t len;

        if (n->stat_tick == tick)
                return;
        n->stat_tick = tick;
        n->cpustat = (ApCpuStat){ 0 };
        len = node_read(d, d->cpu_fd, n, &n->stat, "cpu.stat", tick, buf, sizeof(buf));
        n->stat_err = len < 0 ? (int)len : 0;
        if (len >= 0 && ap_cpu_stat_parse(buf, (size_t)len, &n->cpustat) < 0)
                n->cpustat = (ApCpuStat){ 0 };
}

static void read_cpuset(ApDiscovery *d, ApCgNode *n, uint64_t tick)
{
        char buf[4096];
        ApCpuSet set = AP_CPU_SET_NULL;
        ssize_t len;

        n->cpuset_age = 0;
        len = node_read(d, d->cpuset_fd, n, &n->cpuset,
                        d->version == 2 ? "cpuset.cpus.effective" : "cpuset.effective_cpus", tick, buf,
                        sizeof(buf));
        if (len > 0 && ap_cpu_list_parse(buf, (size_t)len, &set) == 0 && ap_cpu_set_count(&set) > 0)
                n->cpuset_cpus = (unsigned)ap_cpu_set_count(&set);
        else if (len != -EAGAIN)
                n->cpuset_cpus = d->online;
        ap_cpu_set_done(&set);
}

static bool sandbox_hint(ApDiscovery *d, ApCgNode *n, uint64_t tick)
{
        CFile f = CFILE_NULL;
        char buf[64];
        unsigned v;
        ssize_t len;

        f.nocache = true;
        len = node_read(d, d->cpu_fd, n, &f, d->version == 2 ? "cpu.weight" : "cpu.shares", tick, buf,
                        sizeof(buf));
        if (len <= 0)
                return false;
        buf[strcspn(buf, "\n")] = '\0';
        if (ap_parse_uint_range(buf, 0, 1u << 30, &v) < 0)
                return false;
        return v == (d->version == 2 ? 1u : 2u);
}

void ap_discovery_read(ApDiscovery *d, ApCgNode *n, uint64_t tick, bool check_sandbox, ApCgReading *ret)
{
        ApCgNode *best = NULL, *thr;
        char buf[512];
        ssize_t len;

        *ret = (ApCgReading){ 0 };
        for (ApCgNode *p = n; p; p = p->parent) {
                node_limit(d, p, tick);
                if (p->limit.limited && (!best || ap_cpu_max_lower(&p->limit, &best->limit)))
                        best = p;
        }
        node_stat(d, n, tick);
        ret->found = n->stat_err != -ENODEV && n->stat_err != -ENOENT && n->stat_err != -EAGAIN;
        if (!ret->found)
                return;
        if (best) {
                ret->has_limit = true;
                ret->quota_us = best->limit.quota_us;
                ret->period_us = best->limit.period_us;
                ret->limit_cgroup = best->path;
                if (best == n)
                        ret->limit_scope = "container";
                else if (best->kube.is_pod)
                        ret->limit_scope = "pod";
                else {
                        ApKubeName kn;

                        ap_kube_name_parse(best->name, strlen(best->name), &kn);
                        ret->limit_scope = kn.kind == AP_KUBE_NAME_QOS ? "qos" :
                                           kn.kind == AP_KUBE_NAME_KUBEPODS ? "kubepods" : "cgroup";
                }
        }
        thr = best ? best : n;
        node_stat(d, thr, tick);
        if (thr->cpustat.has_throttling) {
                ret->has_throttling = true;
                ret->nr_periods = thr->cpustat.nr_periods;
                ret->nr_throttled = thr->cpustat.nr_throttled;
                ret->throttled_usec = thr->cpustat.throttled_usec;
                ret->throttling_cgroup = thr->path;
        }
        if (d->version == 2 || d->acct_fd == d->cpu_fd) {
                if (n->cpustat.has_usage) {
                        ret->has_usage = true;
                        ret->usage_usec = n->cpustat.usage_usec;
                }
        }
        if (!ret->has_usage && d->version == 1) {
                uint64_t us;

                len = node_read(d, d->acct_fd, n, &n->usage, "cpuacct.usage", tick, buf, sizeof(buf));
                if (len > 0 && ap_cpuacct_usage_parse(buf, (size_t)len, &us) == 0) {
                        ret->has_usage = true;
                        ret->usage_usec = us;
                }
        }
        if (ret->has_usage)
                ret->usage_cgroup = n->path;
        if (d->psi_fd >= 0) {
                ApPsi psi;

                len = node_read(d, d->psi_fd, n, &n->pressure, "cpu.pressure", tick, buf, sizeof(buf));
                if (len > 0 && ap_psi_parse(buf, (size_t)len, &psi) == 0) {
                        ret->has_pressure = true;
                        ret->pressure_some_usec = psi.some.total_usec;
                        ret->has_pressure_full = psi.has_full;
                        ret->pressure_full_usec = psi.has_full ? psi.full.total_usec : 0;
                }
        }
        if (n->cpuset_cpus == 0 || ++n->cpuset_age >= AP_DISCOVERY_CPUSET_TICKS)
                read_cpuset(d, n, tick);
        ret->affinity = n->cpuset_cpus;
        if (check_sandbox)
                ret->sandbox_hint = !n->limit.limited && sandbox_hint(d, n, tick);
}

const ApKubePath *ap_cg_node_kube(const ApCgNode *node)
{
        return &node->kube;
}

const char *ap_cg_node_path(const ApCgNode *node)
{
        return node->path;
}

void *ap_cg_node_userdata(const ApCgNode *node)
{
        return node->userdata;
}

void ap_cg_node_set_userdata(ApCgNode *node, void *userdata)
{
        node->userdata = userdata;
}
