/* SPDX-License-Identifier: MIT */
/*
 * Pod and container names from the kubelet's log tree (see pod-logs.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/autoprocsd/kube-name.h"
#include "daemon/autoprocsd/pod-logs.h"
#include "lib/util/macro.h"

#define FIELD_MAX 256

typedef struct Entry {
        char *key;        /* pod uid or container id */
        char *ns, *pod, *container;
} Entry;

typedef struct Map {
        Entry *v;
        size_t n, cap;
} Map;

struct ApPodLogs {
        int dir_fd;
        Map pods, containers;
        unsigned long scans;
};

static void map_done(Map *m)
{
        for (size_t i = 0; i < m->n; i++) {
                free(m->v[i].key);
                free(m->v[i].ns);
                free(m->v[i].pod);
                free(m->v[i].container);
        }
        free(m->v);
        *m = (Map){ 0 };
}

static int map_add(Map *m, const char *key, const char *ns, const char *pod, const char *container)
{
        Entry e;

        if (m->n == m->cap) {
                size_t cap = m->cap ? m->cap * 2 : 64;
                Entry *v = realloc(m->v, cap * sizeof(*v));

                if (!v)
                        return -ENOMEM;
                m->v = v;
                m->cap = cap;
        }
        e = (Entry){ .key = strdup(key), .ns = strdup(ns), .pod = strdup(pod),
                     .container = container ? strdup(container) : NULL };
        if (!e.key || !e.ns || !e.pod || (container && !e.container)) {
                free(e.key);
                free(e.ns);
                free(e.pod);
                free(e.container);
                return -ENOMEM;
        }
        m->v[m->n++] = e;
        return 0;
}

static int entry_cmp(const void *a, const void *b)
{
        return strcmp(((const Entry *)a)->key, ((const Entry *)b)->key);
}

static const Entry *map_find(const Map *m, const char *key)
{
        Entry k = { .key = (char *)key };

        return m->n ? bsearch(&k, m->v, m->n, sizeof(*m->v), entry_cmp) : NULL;
}

int ap_pod_logs_new(const char *dir, ApPodLogs **ret)
{
        ApPodLogs *l = calloc(1, sizeof(*l));

        if (!l)
                return -ENOMEM;
        l->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (l->dir_fd < 0) {
                int r = AP_NEG_ERRNO();

                free(l);
                return r;
        }
        *ret = l;
        return 0;
}

ApPodLogs *ap_pod_logs_free(ApPodLogs *l)
{
        if (!l)
                return NULL;
        map_done(&l->pods);
        map_done(&l->containers);
        (void)close(l->dir_fd);
        free(l);
        return NULL;
}

/* Every entry name of DIR/@sub through @fn; a missing directory has none. */
static int scan_dir(ApPodLogs *l, const char *sub, Map *m, bool pods)
{
        char ns[FIELD_MAX], pod[FIELD_MAX], c[FIELD_MAX], id[FIELD_MAX];
        struct dirent *de;
        DIR *d;
        int fd, r = 0;

        fd = openat(l->dir_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        d = fdopendir(fd);
        if (!d) {
                (void)close(fd);
                return 0;
        }
        while (r >= 0 && (de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                if (pods) {
                        if (ap_kube_pod_log_dir_parse(de->d_name, ns, pod, c, sizeof(ns)) == 0)
                                r = map_add(m, c, ns, pod, NULL);
                } else if (ap_kube_container_log_parse(de->d_name, pod, ns, c, id, sizeof(ns)) == 0) {
                        r = map_add(m, id, ns, pod, c);
                }
        }
        (void)closedir(d);
        if (r < 0)
                return r;
        qsort(m->v, m->n, sizeof(*m->v), entry_cmp);
        return 0;
}

int ap_pod_logs_scan(ApPodLogs *l)
{
        Map pods = { 0 }, containers = { 0 };
        int r;

        r = scan_dir(l, "pods", &pods, true);
        if (r >= 0)
                r = scan_dir(l, "containers", &containers, false);
        if (r < 0) {
                map_done(&pods);
                map_done(&containers);
                return r;
        }
        map_done(&l->pods);
        map_done(&l->containers);
        l->pods = pods;
        l->containers = containers;
        l->scans++;
        return 0;
}

unsigned long ap_pod_logs_scans(const ApPodLogs *l)
{
        return l->scans;
}

bool ap_pod_logs_find_pod(const ApPodLogs *l, const char *uid, ApPodLogNames *ret)
{
        const Entry *e = map_find(&l->pods, uid);

        if (!e)
                return false;
        *ret = (ApPodLogNames){ .namespace_ = e->ns, .pod = e->pod, .pod_uid = e->key };
        return true;
}

bool ap_pod_logs_find_container(const ApPodLogs *l, const char *id, ApPodLogNames *ret)
{
        const Entry *e = map_find(&l->containers, id);

        if (!e)
                return false;
        *ret = (ApPodLogNames){ .namespace_ = e->ns, .pod = e->pod, .container = e->container };
        return true;
}
