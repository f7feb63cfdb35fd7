/* SPDX-License-Identifier: MIT */
/*
 * From the parsed /proc/<pid>/cgroup and mountinfo to directories: which mount holds a hierarchy
 * and which directory below it is the process's cgroup (rules: cgroup-path.h).  Also the model of a
 * cgroup directory given directly, and move detection for the watcher.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util/cleanup.h"
#include "lib/util/fileio.h"
#include "lib/util/parse.h"
#include "lib/util/path.h"
#include "probes/cgroup-resolve.h"

#define AP_PROC_CGROUP_MAX (1024u * 1024u)

static bool dir_exists(int fd, const char *rel)
{
        struct stat st;

        return fstatat(fd, rel, &st, 0) == 0 && S_ISDIR(st.st_mode);
}

static bool under_sys_fs_cgroup(const char *mount_point)
{
        const char *rest;

        return ap_path_comp_prefix("/sys/fs/cgroup", mount_point, &rest);
}

void ap_cgroup_loc_done(ApCgroupLoc *loc)
{
        if (!loc)
                return;
        free(loc->path);
        free(loc->mount_root);
        free(loc->top);
        free(loc->dir);
        free(loc->hier_path);
        free(loc->ns_rel);
        *loc = (ApCgroupLoc){ 0 };
}

static int loc_copy(const ApCgroupLoc *src, ApCgroupLoc *ret)
{
        ApCgroupLoc l = { .version = src->version, .flags = src->flags };

#define DUP(f)                                          \
        if (src->f && !(l.f = strdup(src->f))) {        \
                ap_cgroup_loc_done(&l);                 \
                return -ENOMEM;                         \
        }
        DUP(path) DUP(mount_root) DUP(top) DUP(dir) DUP(hier_path) DUP(ns_rel)
#undef DUP
        *ret = l;
        return 0;
}

/* Fill @loc for mount @m with the process directory @rel below it (NULL = unknown). */
static int loc_fill(ApCgroupLoc *loc, const ApMount *m, const char *path, const char *rel)
{
        loc->version = strcmp(m->fstype, "cgroup2") == 0 ? 2 : 1;
        loc->path = strdup(path);
        loc->mount_root = strdup(m->root);
        loc->top = ap_path_rel_of_abs(m->mount_point);
        if (!loc->path || !loc->mount_root || !loc->top)
                return -ENOMEM;
        if (rel) {
                loc->dir = ap_path_join_rel(loc->top, rel);
                loc->hier_path = ap_path_join_abs(m->root, rel);
                if (!loc->dir || !loc->hier_path)
                        return -ENOMEM;
        }
        return 0;
}

/* ---- the pid whose cgroup.procs entry we look for ------------------------------------------ */

static int target_pid(const ApProbeRoot *root)
{
        char buf[64];
        ssize_t n;
        _cleanup_free_ char *status = NULL;
        size_t len, vl;

        if (root->pid > 0)
                return root->pid;
        if (root->live)
                return (int)getpid();
        /* A tree: proc/self/status "Pid:", else the proc/self symlink. */
        if (ap_read_file_at(root->root_fd, "proc/self/status", 1024 * 1024, &status, &len) >= 0) {
                const char *v = ap_lines_find_value(status, len, "Pid:", &vl);
                char num[16];
                unsigned pid;

                if (v && vl < sizeof(num)) {
                        memcpy(num, v, vl);
                        num[vl] = 0;
                        if (ap_parse_uint_range(num, 1, 0x7fffffff, &pid) == 0)
                                return (int)pid;
                }
        }
        n = readlinkat(root->root_fd, "proc/self", buf, sizeof(buf) - 1);
        if (n > 0) {
                unsigned v;

                buf[n] = 0;
                if (ap_parse_uint_range(buf, 1, 0x7fffffff, &v) == 0)
                        return (int)v;
        }
        return 0;
}

/* Does @rel end with the components of @path ("/" matches anything)? */
static bool ends_with_path(const char *rel, const char *path)
{
        size_t nr = ap_path_n_comps(rel), np = ap_path_n_comps(path);
        const char *p = rel, *c;
        size_t l;

        if (np == 0 || ap_path_has_dotdot(path))
                return true;
        if (nr < np)
                return false;
        for (size_t i = 0; i < nr - np; i++)
                (void)ap_path_next_comp(&p, &c, &l);
        return ap_path_comp_prefix(path, p, &c) && *c == 0;
}

/*
 * Breadth-first search below @top for the directory whose cgroup.procs lists @pid and whose
 * path ends with @path's components.  *ret_rel is relative to @top ("" = top itself).
 * @retval 1 found  @retval 0 not found  @retval -ENOMEM
 */
static int search_procs(int fd, const char *top, int pid, const char *path, char **ret_rel)
{
        char **queue = NULL;
        size_t head = 0, tail = 0, cap = 0, seen = 0;
        unsigned char *depth = NULL;
        int r = 0;

        queue = malloc(sizeof(char *) * 64);
        depth = malloc(64);
        if (!queue || !depth) {
                free(queue);
                free(depth);
                return -ENOMEM;
        }
        cap = 64;
        queue[tail] = strdup("");
        depth[tail++] = 0;
        if (!queue[0]) {
                r = -ENOMEM;
                goto out;
        }
        while (head < tail) {
                char *rel = queue[head];
                unsigned d = depth[head++];
                _cleanup_free_ char *dir = ap_path_join_rel(top, rel);
                _cleanup_close_ int dfd = -1;
                DIR *dp;
                struct dirent *de;

                if (!dir) {
                        r = -ENOMEM;
                        goto out;
                }
                if (ap_cgroup_procs_lists(fd, dir, pid) && ends_with_path(rel, path)) {
                        *ret_rel = rel;
                        queue[head - 1] = NULL;
                        r = 1;
                        goto out;
                }
                if (d >= AP_CGROUP_SEARCH_MAX_DEPTH)
                        continue;
                dfd = ap_open_at(fd, dir, O_RDONLY | O_DIRECTORY);
                if (dfd < 0)
                        continue;
                dp = fdopendir(dfd);
                if (!dp)
                        continue;
                dfd = -1;
                while ((de = readdir(dp))) {
                        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
                                continue;
                        if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
                                continue;
                        if (++seen > AP_CGROUP_SEARCH_MAX_DIRS)
                                break;
                        if (de->d_type == DT_UNKNOWN) {
                                struct stat st;

                                if (fstatat(dirfd(dp), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                                    !S_ISDIR(st.st_mode))
                                        continue;
                        }
                        if (tail == cap) {
                                char **nq = realloc(queue, sizeof(char *) * cap * 2);
                                unsigned char *nd;

                                if (nq)
                                        queue = nq;
                                nd = nq ? realloc(depth, cap * 2) : NULL;
                                if (!nd) {
                                        closedir(dp);
                                        r = -ENOMEM;
                                        goto out;
                                }
                                depth = nd;
                                cap *= 2;
                        }
                        queue[tail] = ap_path_join_rel(rel, de->d_name);
                        if (!queue[tail]) {
                                closedir(dp);
                                r = -ENOMEM;
                                goto out;
                        }
                        if (strcmp(queue[tail], ".") == 0) {
                                free(queue[tail]);
                                continue;
                        }
                        depth[tail++] = (unsigned char)(d + 1);
                }
                closedir(dp);
                if (seen > AP_CGROUP_SEARCH_MAX_DIRS)
                        break;
        }
out:
        for (size_t i = 0; i < tail; i++)
                free(queue[i]);
        free(queue);
        free(depth);
        return r;
}

/* ---- choosing the mount -------------------------------------------------------------------- */

static bool mount_holds(const ApMount *m, const char *controller)
{
        if (!controller)
                return strcmp(m->fstype, "cgroup2") == 0;
        return strcmp(m->fstype, "cgroup") == 0 && ap_token_in_list(m->super_opts, controller);
}

/* Ranking of prefix candidates: longer root, under sys/fs/cgroup, directory exists, later line.
 * The existence check (a stat) is made only to break a tie. */
static bool better_prefix(int fd, const ApMount *a, const char *a_dir, const ApMount *b, const char *b_dir)
{
        size_t ca = ap_path_n_comps(a->root), cb = ap_path_n_comps(b->root);
        bool sa = under_sys_fs_cgroup(a->mount_point), sb = under_sys_fs_cgroup(b->mount_point);
        bool ea, eb;

        if (ca != cb)
                return ca > cb;
        if (sa != sb)
                return sa;
        ea = dir_exists(fd, a_dir);
        eb = dir_exists(fd, b_dir);
        if (ea != eb)
                return ea;
        return true; /* a comes later in mountinfo: it shadows b */
}

/* The three ways of finding the process's directory below a mount.  Each returns 1 and fills
 * *loc when it found it, 0 when it did not, -ENOMEM. */

/* 1. A mount whose root is a whole-component prefix of the path (the common case).  Also says
 *    whether any mount holds the hierarchy and whether a ".." root or path was seen. */
static int resolve_by_prefix(const ApProbeRoot *root, const ApMountTable *mt, const char *controller,
                             const ApCgroupLine *line, ApCgroupLoc *loc, bool *ret_any, bool *ret_dotdot)
{
        const ApMount *best = NULL;
        const char *best_rest = NULL;
        _cleanup_free_ char *best_dir = NULL;
        int r;

        for (size_t i = 0; i < mt->n; i++) {
                const ApMount *m = &mt->v[i];
                _cleanup_free_ char *top = NULL, *dir = NULL;
                const char *rest;

                if (!mount_holds(m, controller))
                        continue;
                *ret_any = true;
                if (ap_path_has_dotdot(m->root) || ap_path_has_dotdot(line->path)) {
                        *ret_dotdot = true;
                        continue;
                }
                if (!ap_path_comp_prefix(m->root, line->path, &rest))
                        continue;
                top = ap_path_rel_of_abs(m->mount_point);
                dir = top ? ap_path_join_rel(top, rest) : NULL;
                if (!dir)
                        return -ENOMEM;
                if (!best || better_prefix(root->mnt_fd, m, dir, best, best_dir)) {
                        best = m;
                        best_rest = rest;
                        free(best_dir);
                        best_dir = AP_TAKE_PTR(dir);
                }
        }
        if (!best)
                return 0;
        r = loc_fill(loc, best, line->path, best_rest);
        return r < 0 ? r : 1;
}

/* Found by search below a ".." root: the namespace root is the found directory less the path's
 * own components, and hierarchy paths are given relative to it. */
static int loc_set_ns_root(ApCgroupLoc *loc, const char *path, const char *rel)
{
        size_t keep = ap_path_n_comps(rel) - ap_path_n_comps(path);
        const char *p = rel, *c;
        size_t l;

        for (size_t k = 0; k < keep; k++)
                (void)ap_path_next_comp(&p, &c, &l);
        loc->ns_rel = strndup(rel, (size_t)(p - rel));
        free(loc->hier_path);
        loc->hier_path = loc->ns_rel ? ap_path_seen_from(loc->ns_rel, rel) : NULL;
        return loc->hier_path ? 0 : -ENOMEM;
}

/* 2. A ".." root or path (a cgroup namespace over inherited mounts): search the mount for the
 *    directory whose cgroup.procs lists @pid. */
static int resolve_by_search(const ApProbeRoot *root, const ApMountTable *mt, const char *controller,
                             const ApCgroupLine *line, int pid, ApCgroupLoc *loc, ApWarnings *warn)
{
        const char *what = controller ? controller : "cgroup2";

        if (pid <= 0)
                return 0;
        for (size_t i = mt->n; i-- > 0;) {
                const ApMount *m = &mt->v[i];
                _cleanup_free_ char *top = NULL, *rel = NULL;
                int r;

                if (!mount_holds(m, controller) ||
                    !(ap_path_has_dotdot(m->root) || ap_path_has_dotdot(line->path)))
                        continue;
                top = ap_path_rel_of_abs(m->mount_point);
                if (!top)
                        return -ENOMEM;
                r = search_procs(root->mnt_fd, top, pid, line->path, &rel);
                if (r < 0)
                        return r;
                if (r == 0)
                        continue;
                r = loc_fill(loc, m, line->path, rel);
                if (r < 0)
                        return r;
                loc->flags |= AP_LOC_SEARCHED;
                if (!ap_path_has_dotdot(line->path) && loc_set_ns_root(loc, line->path, rel) < 0)
                        return -ENOMEM;
                ap_note(warn, "mountinfo: %s mount root \"%s\" is outside the cgroup namespace; "
                        "process %d found in /%s by its cgroup.procs", what, m->root, pid, loc->dir);
                return 1;
        }
        return 0;
}

/* 3. Root not a prefix (the process moved after the mount was made): the longest suffix of the
 *    path that exists below a mount point (as the JDK does), flagged. */
static int resolve_by_suffix(const ApProbeRoot *root, const ApMountTable *mt, const char *controller,
                             const ApCgroupLine *line, ApCgroupLoc *loc, ApWarnings *warn)
{
        const char *what = controller ? controller : "cgroup2";
        size_t np = ap_path_n_comps(line->path), best_k = np + 1;
        const ApMount *bm = NULL;
        const char *p, *c;
        size_t l;
        int r;

        for (size_t i = mt->n; i-- > 0;) {
                const ApMount *m = &mt->v[i];
                _cleanup_free_ char *top = NULL;

                if (!mount_holds(m, controller))
                        continue;
                top = ap_path_rel_of_abs(m->mount_point);
                if (!top)
                        return -ENOMEM;
                p = line->path;
                for (size_t k = 0; k < np && k <= best_k; k++) {
                        _cleanup_free_ char *dir = ap_path_join_rel(top, p);

                        if (!dir)
                                return -ENOMEM;
                        if (dir_exists(root->mnt_fd, dir)) {
                                if (k < best_k || (k == best_k && under_sys_fs_cgroup(m->mount_point) &&
                                                   !under_sys_fs_cgroup(bm->mount_point))) {
                                        best_k = k;
                                        bm = m;
                                }
                                break;
                        }
                        (void)ap_path_next_comp(&p, &c, &l);
                }
        }
        if (!bm)
                return 0;
        p = line->path;
        for (size_t k = 0; k < best_k; k++)
                (void)ap_path_next_comp(&p, &c, &l);
        r = loc_fill(loc, bm, line->path, p);
        if (r < 0)
                return r;
        loc->flags |= AP_LOC_SUFFIX;
        ap_note(warn, "mountinfo: %s mount root \"%s\" is not a prefix of cgroup path \"%s\"; "
                "using the longest existing suffix: /%s", what, bm->root, line->path, loc->dir);
        return 1;
}

/* Not found: the hierarchy is known (the last mount holding it), the directory is not. */
static int resolve_unknown(const ApMountTable *mt, const char *controller, const ApCgroupLine *line,
                           ApCgroupLoc *loc)
{
        for (size_t i = mt->n; i-- > 0;)
                if (mount_holds(&mt->v[i], controller))
                        return loc_fill(loc, &mt->v[i], line->path, NULL);
        return 0;
}

int ap_cgroup_resolve(const ApProbeRoot *root, const ApProcCgroup *pc, const ApMountTable *mt,
                      const char *controller, ApCgroupLoc *ret, ApWarnings *warn)
{
        const char *what = controller ? controller : "cgroup2";
        const ApCgroupLine *line = ap_proc_cgroup_find(pc, controller);
        bool any = false, dotdot = false;
        ApCgroupLoc loc = { 0 };
        int pid = 0, r;

        *ret = loc;
        if (!line)
                return 0;
        r = resolve_by_prefix(root, mt, controller, line, &loc, &any, &dotdot);
        if (r == 0 && !any) {
                ap_warn(warn, "mountinfo: no %s mount for the %s hierarchy (cgroup line \"%u:%s:%s\")",
                        controller ? "cgroup" : "cgroup2", what, line->id, line->controllers, line->path);
                return 0;
        }
        if (r == 0 && dotdot) {
                pid = target_pid(root);
                r = resolve_by_search(root, mt, controller, line, pid, &loc, warn);
        } else if (r == 0)
                r = resolve_by_suffix(root, mt, controller, line, &loc, warn);
        if (r == 0) {
                r = resolve_unknown(mt, controller, line, &loc);
                if (r == 0 && dotdot)
                        ap_warn(warn, "%s hierarchy: mount root \"%s\" / path \"%s\" lie outside the cgroup "
                                "namespace and no cgroup.procs below /%s lists process %d: limit unknown",
                                what, loc.mount_root ? loc.mount_root : "?", line->path,
                                loc.top ? loc.top : "?", pid);
                else if (r == 0)
                        ap_warn(warn, "%s hierarchy: no mount root is a prefix of cgroup path \"%s\" and no "
                                "suffix of it exists below /%s: limit unknown", what, line->path,
                                loc.top ? loc.top : "?");
        }
        if (r < 0) {
                ap_cgroup_loc_done(&loc);
                return r;
        }
        *ret = loc;
        return 0;
}

/* ---- the model ----------------------------------------------------------------------------- */

void ap_cgroup_model_done(ApCgroupModel *m)
{
        if (!m)
                return;
        free(m->proc_cgroup_text);
        ap_proc_cgroup_done(&m->lines);
        ap_mount_table_done(&m->mounts);
        ap_cgroup_loc_done(&m->cpu);
        ap_cgroup_loc_done(&m->cpuacct);
        ap_cgroup_loc_done(&m->cpuset);
        ap_cgroup_loc_done(&m->unified);
        *m = (ApCgroupModel){ 0 };
}

/* The mount a location was resolved to (by its mount point and root). */
static const ApMount *loc_mount(const ApMountTable *mt, const ApCgroupLoc *loc)
{
        for (size_t i = mt->n; i-- > 0;) {
                _cleanup_free_ char *top = ap_path_rel_of_abs(mt->v[i].mount_point);

                if (top && loc->top && strcmp(top, loc->top) == 0 && strcmp(mt->v[i].root, loc->mount_root) == 0)
                        return &mt->v[i];
        }
        return NULL;
}

/* v2: does the mount's cgroup.controllers list cpu?  1 yes, 0 no, -1 unreadable. */
static int v2_has_cpu(const ApProbeRoot *root, const ApCgroupLoc *loc)
{
        _cleanup_free_ char *path = ap_path_join_rel(loc->top, "cgroup.controllers");
        _cleanup_free_ char *buf = NULL;
        size_t len;

        if (!path || ap_read_file_at(root->mnt_fd, path, 64 * 1024, &buf, &len) < 0)
                return -1;
        for (char *tok = buf; tok && *tok;) {
                char *e = tok + strcspn(tok, " \t\n");
                char save = *e;

                *e = 0;
                if (strcmp(tok, "cpu") == 0)
                        return 1;
                *e = save;
                tok = e + strspn(e, " \t\n");
        }
        return 0;
}

static int model_locate(const ApProbeRoot *root, ApCgroupModel *m, ApWarnings *warn)
{
        ApCgroupLoc v1 = { 0 };
        int r;

        r = ap_cgroup_resolve(root, &m->lines, &m->mounts, NULL, &m->unified, warn);
        if (r < 0)
                return r;
        r = ap_cgroup_resolve(root, &m->lines, &m->mounts, "cpu", &v1, warn);
        if (r < 0)
                return r;
        if (v1.version != 0) {
                const ApMount *mnt = loc_mount(&m->mounts, &v1);

                m->cpu = v1;
                if (mnt && ap_token_in_list(mnt->super_opts, "cpuacct"))
                        r = loc_copy(&m->cpu, &m->cpuacct);
                else
                        r = ap_cgroup_resolve(root, &m->lines, &m->mounts, "cpuacct", &m->cpuacct, warn);
                if (r < 0)
                        return r;
                r = ap_cgroup_resolve(root, &m->lines, &m->mounts, "cpuset", &m->cpuset, warn);
                if (r < 0)
                        return r;
                if (m->cpuset.version == 0 && m->unified.version != 0)
                        return loc_copy(&m->unified, &m->cpuset);
                return 0;
        }
        if (m->unified.version != 0) {
                if (m->unified.dir && v2_has_cpu(root, &m->unified) == 0) {
                        m->unified.flags |= AP_LOC_NO_CPU_CTRL;
                        ap_warn(warn, "/%s/cgroup.controllers: the cgroup2 hierarchy has no cpu controller",
                                strcmp(m->unified.top, ".") == 0 ? "" : m->unified.top);
                } else {
                        r = loc_copy(&m->unified, &m->cpu);
                        if (r < 0)
                                return r;
                }
                r = ap_cgroup_resolve(root, &m->lines, &m->mounts, "cpuset", &m->cpuset, warn);
                if (r < 0)
                        return r;
                if (m->cpuset.version == 0)
                        return loc_copy(&m->unified, &m->cpuset);
        }
        return 0;
}

/* /proc/<pid>/cgroup into @m, warnings for what is missing. */
static int model_read_cgroup(const ApProbeRoot *root, ApCgroupModel *m, ApWarnings *warn)
{
        char proc[32], path[64];
        int r;

        ap_probe_proc_dir(root, proc, sizeof(proc));
        snprintf(path, sizeof(path), "%s/cgroup", proc);
        r = ap_read_file_at(root->root_fd, path, AP_PROC_CGROUP_MAX, &m->proc_cgroup_text, &m->proc_cgroup_len);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                ap_warn(warn, "/%s: %s", path, ap_open_strerror(r));
                return 0;
        }
        r = ap_proc_cgroup_parse(m->proc_cgroup_text, m->proc_cgroup_len, path, &m->lines, warn);
        if (r < 0)
                return r;
        if (m->lines.n == 0)
                ap_warn(warn, "/%s: no cgroup line", path);
        return 0;
}

int ap_cgroup_model_read_with_mounts(const ApProbeRoot *root, ApMountTable *mounts, ApCgroupModel *ret,
                                     ApWarnings *warn)
{
        ApCgroupModel m = { 0 };
        int r;

        m.mounts = *mounts;
        *mounts = (ApMountTable){ 0 };
        if (!root || !ret) {
                ap_cgroup_model_done(&m);
                return -EINVAL;
        }
        r = model_read_cgroup(root, &m, warn);
        if (r >= 0)
                r = model_locate(root, &m, warn);
        if (r < 0) {
                ap_cgroup_model_done(&m);
                return r;
        }
        *ret = m;
        return 0;
}

int ap_cgroup_model_read(const ApProbeRoot *root, ApCgroupModel *ret, ApWarnings *warn)
{
        ApCgroupModel m = { 0 };
        char proc[32], path[64];
        _cleanup_free_ char *mi = NULL;
        size_t mi_len = 0;
        int r;

        if (!root || !ret)
                return -EINVAL;
        r = model_read_cgroup(root, &m, warn);
        if (r < 0)
                goto fail;
        /* own_mounts: the mount points are resolved in our namespace, so ours is the table. */
        ap_probe_proc_dir(root, proc, sizeof(proc));
        /* "/proc/self/mountinfo": the name the warnings show; opened below root without the '/'. */
        snprintf(path, sizeof(path), "/%s/mountinfo", root->own_mounts ? "proc/self" : proc);
        r = ap_read_file_at(root->root_fd, path + 1, AP_PROBE_MAX_FILE, &mi, &mi_len);
        if (r == -ENOMEM)
                goto fail;
        if (r < 0) {
                if (m.lines.n > 0)
                        ap_warn(warn, "%s: %s", path, ap_open_strerror(r));
        } else {
                r = ap_mountinfo_parse(mi, mi_len, path, &m.mounts, warn);
                if (r < 0)
                        goto fail;
        }
        r = model_locate(root, &m, warn);
        if (r < 0)
                goto fail;
        *ret = m;
        return 0;
fail:
        ap_cgroup_model_done(&m);
        return r;
}

/* ---- a cgroup directory given directly ----------------------------------------------------- */

/* The loc of hierarchy mount @mnt for relative dir @rel below its mount point. */
static int dir_loc(const ApMount *mnt, const char *rel, ApCgroupLoc *ret)
{
        ApCgroupLoc loc = { 0 };
        int r;

        r = loc_fill(&loc, mnt, "/", rel);
        if (r < 0) {
                ap_cgroup_loc_done(&loc);
                return r;
        }
        free(loc.path);
        loc.path = strdup(loc.hier_path);
        if (!loc.path) {
                ap_cgroup_loc_done(&loc);
                return -ENOMEM;
        }
        *ret = loc;
        return 0;
}

/*
 * @abs is not a directory: read it as a hierarchy path, as detect prints it (cgroup_path,
 * limit.cgroup: "/kubepods/pod1").  The cpu hierarchy's mounts are tried first (v1 cpu, then
 * cgroup2); a mount whose root is a component prefix of @abs maps it below its mount point.
 * *ret_dir = that directory (absolute, malloc'd), or NULL when no mount has it.
 */
static int hier_path_dir(const ApProbeRoot *root, const ApMountTable *mt, const char *abs, char **ret_dir)
{
        *ret_dir = NULL;
        for (int pass = 0; pass < 2; pass++) {
                for (size_t i = 0; i < mt->n; i++) {
                        const ApMount *mnt = &mt->v[i];
                        _cleanup_free_ char *cand = NULL, *rel = NULL;
                        const char *rest;

                        if (!mount_holds(mnt, pass == 0 ? "cpu" : NULL))
                                continue;
                        if (!ap_path_comp_prefix(mnt->root, abs, &rest))
                                continue;
                        cand = ap_path_join_abs(mnt->mount_point, rest);
                        rel = cand ? ap_path_rel_of_abs(cand) : NULL;
                        if (!rel)
                                return -ENOMEM;
                        if (dir_exists(root->mnt_fd, rel)) {
                                *ret_dir = AP_TAKE_PTR(cand);
                                return 0;
                        }
                }
        }
        return 0;
}

int ap_cgroup_model_for_dir(const ApProbeRoot *root, const char *dir, ApCgroupModel *ret,
                            ApWarnings *warn)
{
        ApCgroupModel m = { 0 };
        char proc[32], path[64];
        _cleanup_free_ char *mi = NULL, *abs = NULL;
        const ApMount *best = NULL;
        const char *best_rest = NULL;
        size_t mi_len = 0, best_n = 0;
        int r;

        if (!root || !dir || !ret)
                return -EINVAL;
        abs = ap_path_join_abs("/", dir);
        if (!abs)
                return -ENOMEM;
        ap_probe_proc_dir(root, proc, sizeof(proc));
        snprintf(path, sizeof(path), "/%s/mountinfo", proc);
        r = ap_read_file_at(root->root_fd, path + 1, AP_PROBE_MAX_FILE, &mi, &mi_len);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                ap_warn(warn, "%s: %s", path, ap_open_strerror(r));
        else if ((r = ap_mountinfo_parse(mi, mi_len, path, &m.mounts, warn)) < 0)
                goto fail;
        if (ap_path_has_dotdot(abs)) {
                /* Not a cgroup we can name: a failure, never "no limit". */
                ap_warn(warn, "%s: cgroup directory with a \"..\" component", dir);
                r = -EINVAL;
                goto fail;
        }
        {
                _cleanup_free_ char *rel = ap_path_rel_of_abs(abs), *mapped = NULL;

                if (!rel)
                        goto nomem;
                if (!dir_exists(root->mnt_fd, rel)) {
                        r = hier_path_dir(root, &m.mounts, abs, &mapped);
                        if (r < 0)
                                goto fail;
                        if (!mapped) {
                                r = -ENOTDIR;
                                goto fail;
                        }
                        free(abs);
                        abs = AP_TAKE_PTR(mapped);
                }
        }
        for (size_t i = 0; i < m.mounts.n; i++) {
                const char *rest;
                size_t n = ap_path_n_comps(m.mounts.v[i].mount_point);

                if (ap_path_comp_prefix(m.mounts.v[i].mount_point, abs, &rest) && (!best || n >= best_n)) {
                        best = &m.mounts.v[i];
                        best_rest = rest;
                        best_n = n;
                }
        }
        if (!best) {
                /* No mount known: read the directory alone (what its files say is all we know). */
                _cleanup_free_ char *rel = ap_path_rel_of_abs(abs);
                ApMount fake = { .root = (char *)"/", .mount_point = abs };
                struct stat st;
                _cleanup_free_ char *f = NULL;

                if (!rel)
                        goto nomem;
                f = ap_path_join_rel(rel, "cpu.max");
                if (!f)
                        goto nomem;
                fake.fstype = fstatat(root->mnt_fd, f, &st, 0) == 0 ? (char *)"cgroup2" : (char *)"cgroup";
                ap_warn(warn, "%s: no cgroup mount in mountinfo contains it; reading this directory alone", abs);
                r = dir_loc(&fake, "", &m.cpu);
                if (r < 0)
                        goto fail;
                if ((r = loc_copy(&m.cpu, &m.cpuacct)) < 0 || (r = loc_copy(&m.cpu, &m.cpuset)) < 0 ||
                    (m.cpu.version == 2 && (r = loc_copy(&m.cpu, &m.unified)) < 0))
                        goto fail;
                *ret = m;
                return 0;
        }
        if (strcmp(best->fstype, "cgroup2") == 0) {
                if ((r = dir_loc(best, best_rest, &m.cpu)) < 0 || (r = loc_copy(&m.cpu, &m.unified)) < 0 ||
                    (r = loc_copy(&m.cpu, &m.cpuset)) < 0)
                        goto fail;
        } else if (!ap_token_in_list(best->super_opts, "cpu")) {
                ap_warn(warn, "%s: in a cgroup v1 hierarchy without the cpu controller (%s)", abs, best->super_opts);
        } else {
                /* v1: the same hierarchy path in the cpuacct and cpuset hierarchies. */
                static const char *const others[] = { "cpuacct", "cpuset" };
                ApCgroupLoc *dst[] = { &m.cpuacct, &m.cpuset };
                _cleanup_free_ char *hier = NULL;

                if ((r = dir_loc(best, best_rest, &m.cpu)) < 0)
                        goto fail;
                hier = strdup(m.cpu.hier_path);
                if (!hier)
                        goto nomem;
                for (size_t k = 0; k < 2; k++) {
                        if (ap_token_in_list(best->super_opts, others[k])) {
                                if ((r = loc_copy(&m.cpu, dst[k])) < 0)
                                        goto fail;
                                continue;
                        }
                        for (size_t i = m.mounts.n; i-- > 0;) {
                                const ApMount *o = &m.mounts.v[i];
                                const char *rest;

                                if (strcmp(o->fstype, "cgroup") != 0 || !ap_token_in_list(o->super_opts, others[k]) ||
                                    !ap_path_comp_prefix(o->root, hier, &rest))
                                        continue;
                                if ((r = dir_loc(o, rest, dst[k])) < 0)
                                        goto fail;
                                break;
                        }
                }
        }
        *ret = m;
        return 0;
nomem:
        r = -ENOMEM;
fail:
        ap_cgroup_model_done(&m);
        return r;
}

/* ---- move detection ------------------------------------------------------------------------ */

int ap_proc_cgroup_open(const ApProbeRoot *root)
{
        char proc[32], path[64];

        ap_probe_proc_dir(root, proc, sizeof(proc));
        snprintf(path, sizeof(path), "%s/cgroup", proc);
        return ap_open_ro_at(root->root_fd, path);
}

int ap_cgroup_model_moved(const ApCgroupModel *m, int proc_cgroup_fd)
{
        char stack[4096];
        _cleanup_free_ char *heap = NULL;
        char *buf = stack;
        size_t size = sizeof(stack);
        ssize_t n;

        /* One byte more than the known text, so a longer file shows as changed, not truncated. */
        if (m->proc_cgroup_len + 2 > size) {
                size = m->proc_cgroup_len + 2;
                buf = heap = malloc(size);
                if (!buf)
                        return -ENOMEM;
        }
        n = ap_pread_all(proc_cgroup_fd, buf, size);
        if (n == -EFBIG)
                return 1;
        if (n < 0)
                return (int)n;
        if (!m->proc_cgroup_text || (size_t)n != m->proc_cgroup_len ||
            memcmp(buf, m->proc_cgroup_text, (size_t)n) != 0)
                return 1;
        return 0;
}
