/* SPDX-License-Identifier: MIT */
/*
 * The single parser of /proc/<pid>/cgroup and /proc/<pid>/mountinfo (parsers only; the resolution
 * of a hierarchy to a directory is in cgroup-resolve.c).  Rules: cgroup-path.h.
 * Kernel: Documentation/admin-guide/cgroup-v2.rst "/proc/$PID/cgroup", proc(5) "mountinfo".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/cleanup.h"
#include "lib/util/parse.h"
#include "probes/cgroup-path.h"

bool ap_token_in_list(const char *list, const char *token)
{
        size_t tl = strlen(token);

        for (const char *p = list; p && *p;) {
                const char *e = strchr(p, ',');
                size_t l = e ? (size_t)(e - p) : strlen(p);

                if (l == tl && memcmp(p, token, tl) == 0)
                        return true;
                p = e ? e + 1 : NULL;
        }
        return false;
}

static char *strndup_checked(const char *s, size_t len)
{
        char *d = malloc(len + 1);

        if (d) {
                memcpy(d, s, len);
                d[len] = 0;
        }
        return d;
}

void ap_proc_cgroup_done(ApProcCgroup *pc)
{
        if (!pc)
                return;
        for (size_t i = 0; i < pc->n; i++) {
                free(pc->v[i].controllers);
                free(pc->v[i].path);
        }
        free(pc->v);
        pc->v = NULL;
        pc->n = 0;
}

/* One line of /proc/<pid>/cgroup, @len bytes without the newline.  @retval 0, -EINVAL (+ *why),
 * -ENOMEM. */
static int cgroup_line_parse(const char *s, size_t len, ApCgroupLine *ret, const char **why)
{
        const char *c1, *c2;
        uint64_t id;
        ApCgroupLine l = { 0 };

        if (memchr(s, 0, len)) {
                *why = "NUL byte";
                return -EINVAL;
        }
        c1 = memchr(s, ':', len);
        if (!c1) {
                *why = "no ':'";
                return -EINVAL;
        }
        c2 = memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - s));
        if (!c2) {
                *why = "only one ':'";
                return -EINVAL;
        }
        if (ap_parse_u64_n(s, (size_t)(c1 - s), &id) < 0 || id > 0xffffffffu) {
                *why = "bad hierarchy id";
                return -EINVAL;
        }
        /* Split on the first two ':' only: the path may contain ':'. */
        if (c2 + 1 >= s + len || c2[1] != '/') {
                *why = "path is not absolute";
                return -EINVAL;
        }
        if (id == 0 && c2 != c1 + 1) {
                *why = "hierarchy 0 with controllers";
                return -EINVAL;
        }
        if (id != 0 && c2 == c1 + 1) {
                *why = "v1 hierarchy without controllers";
                return -EINVAL;
        }
        l.id = (unsigned)id;
        l.controllers = strndup_checked(c1 + 1, (size_t)(c2 - c1 - 1));
        l.path = strndup_checked(c2 + 1, (size_t)(s + len - c2 - 1));
        if (!l.controllers || !l.path) {
                free(l.controllers);
                free(l.path);
                return -ENOMEM;
        }
        *ret = l;
        return 0;
}

int ap_proc_cgroup_parse(const char *buf, size_t len, const char *name, ApProcCgroup *ret,
                         ApWarnings *warn)
{
        ApProcCgroup pc = { 0 };
        size_t cap = 0, lineno = 0;
        ApLines it = AP_LINES_INIT(buf, len);
        const char *p;
        size_t l;

        while (ap_lines_next(&it, &p, &l)) {
                const char *why = NULL;
                ApCgroupLine line;
                int r;

                lineno++;
                if (l > 0) {
                        r = cgroup_line_parse(p, l, &line, &why);
                        if (r == -ENOMEM) {
                                ap_proc_cgroup_done(&pc);
                                return r;
                        }
                        if (r < 0)
                                ap_warn(warn, "%s: line %zu skipped: %s", name, lineno, why);
                        else {
                                if (pc.n == cap) {
                                        size_t nc = cap ? cap * 2 : 16;
                                        ApCgroupLine *v = realloc(pc.v, nc * sizeof(*v));

                                        if (!v) {
                                                free(line.controllers);
                                                free(line.path);
                                                ap_proc_cgroup_done(&pc);
                                                return -ENOMEM;
                                        }
                                        pc.v = v;
                                        cap = nc;
                                }
                                pc.v[pc.n++] = line;
                        }
                }
        }
        *ret = pc;
        return 0;
}

const ApCgroupLine *ap_proc_cgroup_find(const ApProcCgroup *pc, const char *controller)
{
        for (size_t i = 0; i < pc->n; i++) {
                const ApCgroupLine *l = &pc->v[i];

                if (controller ? (l->id != 0 && ap_token_in_list(l->controllers, controller))
                               : (l->id == 0 && l->controllers[0] == 0))
                        return l;
        }
        return NULL;
}

/* ---- mountinfo ---------------------------------------------------------------------------- */

int ap_mountinfo_unescape(const char *s, size_t len, char **ret)
{
        _cleanup_free_ char *d = malloc(len + 1);
        size_t o = 0;
        unsigned v;

        if (!d)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                if (s[i] == 0)
                        return -EINVAL;
                if (s[i] != '\\') {
                        d[o++] = s[i];
                        continue;
                }
                if (len - i < 4)
                        return -EINVAL;
                v = 0;
                for (size_t k = 1; k <= 3; k++) {
                        if (s[i + k] < '0' || s[i + k] > '7')
                                return -EINVAL;
                        v = v * 8 + (unsigned)(s[i + k] - '0');
                }
                if (v == 0 || v > 255)
                        return -EINVAL;
                d[o++] = (char)v;
                i += 3;
        }
        d[o] = 0;
        *ret = AP_TAKE_PTR(d);
        return 0;
}

void ap_mount_table_done(ApMountTable *mt)
{
        if (!mt)
                return;
        for (size_t i = 0; i < mt->n; i++) {
                free(mt->v[i].root);
                free(mt->v[i].mount_point);
                free(mt->v[i].fstype);
                free(mt->v[i].super_opts);
        }
        free(mt->v);
        mt->v = NULL;
        mt->n = 0;
}

static void mount_free(ApMount *m)
{
        free(m->root);
        free(m->mount_point);
        free(m->fstype);
        free(m->super_opts);
}

int ap_mount_table_copy(const ApMountTable *src, ApMountTable *ret)
{
        ApMountTable mt = { 0 };

        if (src->n > 0) {
                mt.v = calloc(src->n, sizeof(*mt.v));
                if (!mt.v)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < src->n; i++) {
                const ApMount *a = &src->v[i];
                ApMount *b = &mt.v[i];

                mt.n = i + 1;
                b->id = a->id;
                b->parent = a->parent;
                b->root = strdup(a->root);
                b->mount_point = strdup(a->mount_point);
                b->fstype = strdup(a->fstype);
                b->super_opts = strdup(a->super_opts);
                if (!b->root || !b->mount_point || !b->fstype || !b->super_opts) {
                        ap_mount_table_done(&mt);
                        return -ENOMEM;
                }
        }
        *ret = mt;
        return 0;
}

/* Next space-separated field of [*p, end): no empty field. */
static bool next_field(const char **p, const char *end, const char **ret_s, size_t *ret_len)
{
        const char *s = *p, *e;

        if (s >= end)
                return false;
        e = memchr(s, ' ', (size_t)(end - s));
        if (!e)
                e = end;
        if (e == s)
                return false;
        *ret_s = s;
        *ret_len = (size_t)(e - s);
        *p = e < end ? e + 1 : end;
        return true;
}

/* One mountinfo line.  @retval 1 a cgroup mount (*ret filled), 0 another mount, -EINVAL, -ENOMEM */
static int mount_line_parse(const char *s, size_t len, ApMount *ret, const char **why)
{
        const char *p = s, *end = s + len, *f[6], *fs, *src;
        size_t fl[6], fsl, srcl, nopt = 0;
        uint64_t id, parent;
        ApMount m = { 0 };
        int r;

        if (memchr(s, 0, len)) {
                *why = "NUL byte";
                return -EINVAL;
        }
        for (size_t i = 0; i < 6; i++)
                if (!next_field(&p, end, &f[i], &fl[i])) {
                        *why = "too few fields";
                        return -EINVAL;
                }
        /* Optional fields up to the lone "-". */
        for (;;) {
                const char *o;
                size_t ol;

                if (!next_field(&p, end, &o, &ol)) {
                        *why = "no '-' separator";
                        return -EINVAL;
                }
                if (ol == 1 && o[0] == '-')
                        break;
                if (++nopt > 64) {
                        *why = "too many optional fields";
                        return -EINVAL;
                }
        }
        if (!next_field(&p, end, &fs, &fsl) || !next_field(&p, end, &src, &srcl)) {
                *why = "no fstype or source after '-'";
                return -EINVAL;
        }
        if (ap_parse_u64_n(f[0], fl[0], &id) < 0 || ap_parse_u64_n(f[1], fl[1], &parent) < 0 ||
            id > 0xffffffffu || parent > 0xffffffffu) {
                *why = "bad mount id";
                return -EINVAL;
        }
        if (!memchr(f[2], ':', fl[2])) {
                *why = "bad major:minor";
                return -EINVAL;
        }
        /* Other filesystems end here, before their root is looked at: an nsfs bind mount (a
         * network namespace kept in /run/netns) has the root "net:[4026532]", which is normal. */
        if (!((fsl == 6 && memcmp(fs, "cgroup", 6) == 0) || (fsl == 7 && memcmp(fs, "cgroup2", 7) == 0)))
                return 0;
        if (f[3][0] != '/' || f[4][0] != '/') {
                *why = "root or mount point not absolute";
                return -EINVAL;
        }
        m.id = (unsigned)id;
        m.parent = (unsigned)parent;
        r = ap_mountinfo_unescape(f[3], fl[3], &m.root);
        if (r >= 0)
                r = ap_mountinfo_unescape(f[4], fl[4], &m.mount_point);
        if (r < 0) {
                mount_free(&m);
                *why = "bad escape in root or mount point";
                return r;
        }
        m.fstype = strndup_checked(fs, fsl);
        /* Super options: the rest of the line, spaces included. */
        m.super_opts = strndup_checked(p, (size_t)(end - p));
        if (!m.fstype || !m.super_opts) {
                mount_free(&m);
                return -ENOMEM;
        }
        *ret = m;
        return 1;
}

int ap_mountinfo_parse(const char *buf, size_t len, const char *name, ApMountTable *ret,
                       ApWarnings *warn)
{
        ApMountTable mt = { 0 };
        size_t cap = 0, lineno = 0;
        ApLines it = AP_LINES_INIT(buf, len);
        const char *p;
        size_t l;

        while (ap_lines_next(&it, &p, &l)) {
                const char *why = "malformed";
                ApMount m;
                int r;

                lineno++;
                if (l > 0) {
                        r = mount_line_parse(p, l, &m, &why);
                        if (r == -ENOMEM) {
                                ap_mount_table_done(&mt);
                                return r;
                        }
                        if (r < 0)
                                ap_warn(warn, "%s: line %zu skipped: %s", name, lineno, why);
                        else if (r > 0) {
                                if (mt.n == cap) {
                                        size_t nc = cap ? cap * 2 : 16;
                                        ApMount *v = realloc(mt.v, nc * sizeof(*v));

                                        if (!v) {
                                                mount_free(&m);
                                                ap_mount_table_done(&mt);
                                                return -ENOMEM;
                                        }
                                        mt.v = v;
                                        cap = nc;
                                }
                                mt.v[mt.n++] = m;
                        }
                }
        }
        *ret = mt;
        return 0;
}
