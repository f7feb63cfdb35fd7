/* SPDX-License-Identifier: MIT */
/*
 * Names of pods and containers from the kubelet's log tree (--pod-logs DIR, read only):
 *   DIR/pods/<namespace>_<pod>_<uid>/                          pod uid -> namespace, pod
 *   DIR/containers/<pod>_<namespace>_<container>-<id>.log      container id -> names
 * Only directory entries are read (readdir; the symlinks are never followed).  A scan replaces
 * the whole map; the lookups answer from the last scan.  Not thread-safe: one owner.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct ApPodLogs ApPodLogs;

typedef struct ApPodLogNames {
        const char *namespace_;   /* borrowed until the next ap_pod_logs_scan() */
        const char *pod;
        const char *container;    /* NULL for a pod lookup */
        const char *pod_uid;      /* NULL for a container lookup */
} ApPodLogNames;

/* Open @dir (kept as a directory fd).  @retval 0  @retval -errno (the directory cannot be opened) */
int ap_pod_logs_new(const char *dir, ApPodLogs **ret);
ApPodLogs *ap_pod_logs_free(ApPodLogs *l);

/* Re-read both directories.  A missing subdirectory is an empty map.  @retval 0  @retval -ENOMEM */
int ap_pod_logs_scan(ApPodLogs *l);
/* The number of scans done. */
unsigned long ap_pod_logs_scans(const ApPodLogs *l);

/* @retval true found (*ret filled) */
bool ap_pod_logs_find_pod(const ApPodLogs *l, const char *uid, ApPodLogNames *ret);
bool ap_pod_logs_find_container(const ApPodLogs *l, const char *id, ApPodLogNames *ret);
