/* SPDX-License-Identifier: MIT */
/*
 * Lexical path helpers (path.h).  Pure string work: nothing here touches the file system.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/path.h"

/* Next component of *p ('/'-separated, empty ones skipped); false at the end. */
bool ap_path_next_comp(const char **p, const char **ret_s, size_t *ret_len)
{
        const char *s = *p;

        while (*s == '/')
                s++;
        if (!*s)
                return false;
        *ret_s = s;
        while (*s && *s != '/')
                s++;
        *ret_len = (size_t)(s - *ret_s);
        *p = s;
        return true;
}

bool ap_path_has_dotdot(const char *path)
{
        const char *p = path, *c;
        size_t l;

        while (ap_path_next_comp(&p, &c, &l))
                if (l == 2 && c[0] == '.' && c[1] == '.')
                        return true;
        return false;
}

size_t ap_path_n_comps(const char *path)
{
        const char *p = path, *c;
        size_t l, n = 0;

        while (ap_path_next_comp(&p, &c, &l))
                n++;
        return n;
}

/* If @root is a whole-component prefix of @path, set *ret_rest to the rest (no leading '/'). */
bool ap_path_comp_prefix(const char *root, const char *path, const char **ret_rest)
{
        const char *r = root, *p = path, *rc, *pc;
        size_t rl, pl;

        while (ap_path_next_comp(&r, &rc, &rl)) {
                if (!ap_path_next_comp(&p, &pc, &pl) || rl != pl || memcmp(rc, pc, rl) != 0)
                        return false;
        }
        while (*p == '/')
                p++;
        *ret_rest = p;
        return true;
}

/* "a" + "/" + "b" with "" and "." handled; trailing '/' of the result dropped. */
char *ap_path_join_rel(const char *a, const char *b)
{
        size_t la, lb;
        char *d;

        if (!a || !*a || strcmp(a, ".") == 0)
                a = "";
        while (*b == '/')
                b++;
        la = strlen(a);
        lb = strlen(b);
        while (lb > 0 && b[lb - 1] == '/')
                lb--;
        if (la == 0 && lb == 0)
                return strdup(".");
        d = malloc(la + lb + 2);
        if (!d)
                return NULL;
        if (la == 0)
                snprintf(d, lb + 1, "%.*s", (int)lb, b);
        else if (lb == 0)
                snprintf(d, la + 1, "%s", a);
        else
                snprintf(d, la + lb + 2, "%s/%.*s", a, (int)lb, b);
        return d;
}

/* Hierarchy path: @root (absolute) joined with @rel. */
char *ap_path_join_abs(const char *root, const char *rel)
{
        size_t lr = strlen(root), ll;
        char *d;

        while (lr > 1 && root[lr - 1] == '/')
                lr--;
        while (*rel == '/')
                rel++;
        ll = strlen(rel);
        while (ll > 0 && rel[ll - 1] == '/')
                ll--;
        d = malloc(lr + ll + 2);
        if (!d)
                return NULL;
        if (ll == 0)
                snprintf(d, lr + 1, "%.*s", (int)lr, root);
        else if (lr == 1 && root[0] == '/')
                snprintf(d, ll + 2, "/%.*s", (int)ll, rel);
        else
                snprintf(d, lr + ll + 2, "%.*s/%.*s", (int)lr, root, (int)ll, rel);
        return d;
}

/* An absolute mount point as a path relative to the mount fd ("." for "/"). */
char *ap_path_rel_of_abs(const char *abs)
{
        return ap_path_join_rel("", abs);
}


char *ap_path_seen_from(const char *base, const char *target)
{
        const char *b = base, *t = target, *bc, *tc, *t_rest;
        size_t bl, tl, ups = 0, len;
        char *d, *w;

        /* Skip the common leading components. */
        for (;;) {
                const char *b2 = b, *t2 = t;

                if (!ap_path_next_comp(&b2, &bc, &bl) || !ap_path_next_comp(&t2, &tc, &tl) || bl != tl ||
                    memcmp(bc, tc, bl) != 0)
                        break;
                b = b2;
                t = t2;
        }
        while (ap_path_next_comp(&b, &bc, &bl))
                ups++;
        while (*t == '/')
                t++;
        t_rest = t;
        len = 1 + ups * 3 + strlen(t_rest) + 1;
        d = malloc(len);
        if (!d)
                return NULL;
        w = d;
        for (size_t i = 0; i < ups; i++) {
                memcpy(w, "/..", 3);
                w += 3;
        }
        if (*t_rest)
                w += sprintf(w, "/%s", t_rest);
        if (w == d)
                *w++ = '/';
        *w = 0;
        /* Drop a trailing '/' copied from @target. */
        if (w - d > 1 && w[-1] == '/')
                w[-1] = 0;
        return d;
}
