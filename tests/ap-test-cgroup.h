/* SPDX-License-Identifier: MIT */
/*
 * Real cgroups for tests and the reaction benchmark, made with libcgroup: one autoprocs-test-*
 * cgroup in the cpu hierarchy (v1 cpu, or v2 cpu.max), quota changes from outside, removal.
 * Callers skip with a clear message when ap_cg_usable() says why they cannot.
 */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libcgroup.h>

typedef struct ApTestCgroup {
        char name[96];
        int version;          /* 1 or 2 (cpu controller) */
        char *dir;            /* absolute directory in the cpu hierarchy (malloc) */
} ApTestCgroup;

static inline void ap_cg_quiet(void *ud, int level, const char *fmt, va_list ap)
{
        (void)ud;
        (void)level;
        (void)fmt;
        (void)ap;
}

static inline const char *ap_cg_strerror(int r)
{
        return r == ECGOTHER ? strerror(cgroup_get_last_errno()) : cgroup_strerror(r);
}

/* NULL when real cgroups can be made here, else why not (static text). */
static inline const char *ap_cg_usable(void)
{
        static char why[256];
        char *mnt = NULL, path[512];

        if (geteuid() != 0)
                return "not root";
        cgroup_set_logger(ap_cg_quiet, CGROUP_LOG_ERROR, NULL);
        if (cgroup_init() != 0)
                return "libcgroup finds no cgroup hierarchy";
        if (cgroup_get_subsys_mount_point("cpu", &mnt) != 0 || !mnt)
                return "no hierarchy with the cpu controller";
        snprintf(path, sizeof(path), "%s/cgroup.procs", mnt);
        if (access(mnt, W_OK) != 0 || access(path, W_OK) != 0) {
                snprintf(why, sizeof(why), "%s is not writable", mnt);
                free(mnt);
                return why;
        }
        free(mnt);
        return NULL;
}

static inline int ap_cg_version(void)
{
        char *mnt = NULL, path[512];
        int v;

        if (cgroup_get_subsys_mount_point("cpu", &mnt) != 0 || !mnt)
                return 0;
        snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", mnt);
        v = access(path, F_OK) == 0 ? 1 : 2;
        free(mnt);
        return v;
}

/* Describe (not create) cgroup @name with the cpu limit @quota_us/@period_us (quota < 0: none). */
static inline struct cgroup *ap_cg_describe(const char *name, int version, int64_t quota_us,
                                            uint64_t period_us)
{
        struct cgroup *cg = cgroup_new_cgroup(name);
        struct cgroup_controller *c = cg ? cgroup_add_controller(cg, "cpu") : NULL;
        char buf[64];
        int r;

        if (!c) {
                if (cg)
                        cgroup_free(&cg);
                return NULL;
        }
        if (version == 2) {
                if (quota_us < 0)
                        snprintf(buf, sizeof(buf), "max %llu", (unsigned long long)period_us);
                else
                        snprintf(buf, sizeof(buf), "%lld %llu", (long long)quota_us,
                                 (unsigned long long)period_us);
                r = cgroup_add_value_string(c, "cpu.max", buf);
        } else {
                r = cgroup_add_value_uint64(c, "cpu.cfs_period_us", period_us);
                if (r == 0)
                        r = cgroup_add_value_int64(c, "cpu.cfs_quota_us", quota_us < 0 ? -1 : quota_us);
        }
        if (r != 0)
                cgroup_free(&cg);
        return cg;
}

/* The name autoprocs-test-<tag>-<pid> into @t (nothing created). */
static inline void ap_cg_name(ApTestCgroup *t, const char *tag, long pid)
{
        memset(t, 0, sizeof(*t));
        snprintf(t->name, sizeof(t->name), "autoprocs-test-%s-%ld", tag, pid);
}

/* Create the cgroup named in @t with a limit.  @retval 0  @retval libcgroup code (> 0) */
static inline int ap_cg_create(ApTestCgroup *t, int64_t quota_us, uint64_t period_us)
{
        struct cgroup *cg;
        char *mnt = NULL;
        int r;

        t->version = ap_cg_version();
        cg = ap_cg_describe(t->name, t->version, quota_us, period_us);
        if (!cg)
                return ECGFAIL;
        r = cgroup_create_cgroup(cg, 0);
        cgroup_free(&cg);
        if (r != 0)
                return r;
        if (cgroup_get_subsys_mount_point("cpu", &mnt) == 0 && mnt) {
                if (asprintf(&t->dir, "%s/%s", mnt, t->name) < 0)
                        t->dir = NULL;
                free(mnt);
        }
        return 0;
}

/* Change the limit from outside (quota < 0: none).  @retval 0  @retval libcgroup code */
static inline int ap_cg_set_quota(const ApTestCgroup *t, int64_t quota_us, uint64_t period_us)
{
        struct cgroup *cg = ap_cg_describe(t->name, t->version, quota_us, period_us);
        int r;

        if (!cg)
                return ECGFAIL;
        r = cgroup_modify_cgroup(cg);
        cgroup_free(&cg);
        return r;
}

/* Move @pid (a thread id; for a process before it starts threads) into the cgroup. */
static inline int ap_cg_attach(const ApTestCgroup *t, pid_t pid)
{
        struct cgroup *cg = cgroup_new_cgroup(t->name);
        int r;

        if (!cg || !cgroup_add_controller(cg, "cpu")) {
                if (cg)
                        cgroup_free(&cg);
                return ECGFAIL;
        }
        r = cgroup_attach_task_pid(cg, pid);
        cgroup_free(&cg);
        return r;
}

/* Remove the cgroup (its tasks move to the parent).  Safe to call twice. */
static inline void ap_cg_remove(ApTestCgroup *t)
{
        struct cgroup *cg;

        if (!t->name[0])
                return;
        cg = cgroup_new_cgroup(t->name);
        if (cg && cgroup_add_controller(cg, "cpu"))
                (void)cgroup_delete_cgroup_ext(cg, CGFLAG_DELETE_IGNORE_MIGRATION);
        if (cg)
                cgroup_free(&cg);
        free(t->dir);
        t->dir = NULL;
        t->name[0] = 0;
}

/* True when the cgroup directory still exists. */
static inline bool ap_cg_exists(const char *name)
{
        char *mnt = NULL, path[512];
        bool e;

        if (cgroup_get_subsys_mount_point("cpu", &mnt) != 0 || !mnt)
                return false;
        snprintf(path, sizeof(path), "%s/%s", mnt, name);
        free(mnt);
        e = access(path, F_OK) == 0;
        return e;
}
