/* SPDX-License-Identifier: MIT */
/*
 * One discovery target (--target kubepods[:DIR], --target cgroup-tree:PATH): the containers its
 * ApDiscovery finds, each read once per tick into an immutable ApSample with its labels.
 *
 * Per container: the target label of the spec ("kubepods"); series labels pod_uid, container_id,
 * qos_class and, from --pod-logs, namespace, pod, container; the info series' labels
 * container_id_short, runtime, cgroup (its own), limit_cgroup, limit_scope (container, pod, qos,
 * kubepods, cgroup), throttling_cgroup, usage_cgroup, cgroup_version.  Counters are kept monotonic as for every target, and across a container's
 * cgroup being removed and made again (same container id): a removed container's counters are kept for
 * AP_NODE_AGENT_TOMB_TICKS ticks (at most AP_NODE_AGENT_TOMBS of them).
 * Sandbox (pause) containers: not in the log tree and with the runtimes' sandbox CPU weight
 * (discovery.h, sandbox_hint) during their first ticks; left out unless include_sandboxes.
 *
 * Not thread-safe: one owner (the target's task).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autoprocs.h"
#include "daemon/autoprocsd/discovery.h"
#include "daemon/autoprocsd/metrics.h"

#define AP_NODE_AGENT_TOMB_TICKS 600u
#define AP_NODE_AGENT_TOMBS 4096u
/* A full re-walk of the tree this often (inotify is the fast path; this is the safety net). */
#define AP_NODE_AGENT_RESCAN_NS (30ull * 1000 * 1000 * 1000)

typedef struct ApNodeAgent ApNodeAgent;

typedef struct ApNodeAgentOptions {
        ApDiscoveryMode mode;
        const char *dir;              /* the cgroupfs (kubepods) or the cgroup directory (tree) */
        const char *label;            /* the spec as written: "kubepods", "cgroup-tree:/x" */
        const char *pod_logs_dir;     /* NULL: no names */
        bool include_sandboxes;
} ApNodeAgentOptions;

/* @retval 0  @retval -ENOMEM */
int ap_node_agent_new(const ApNodeAgentOptions *opts, ApNodeAgent **ret);
ApNodeAgent *ap_node_agent_free(ApNodeAgent *a);

/* The fd to wait on for POLLIN (inotify), -1 while discovery has not started. */
int ap_node_agent_fd(const ApNodeAgent *a);
/* Apply discovery events; new containers are read at once.  True when the set changed. */
bool ap_node_agent_events(ApNodeAgent *a, autoprocs_policy policy);
/* One tick: (re)start discovery if needed, re-walk when due, read every container. */
void ap_node_agent_tick(ApNodeAgent *a, autoprocs_policy policy, uint64_t interval_ns);

/* References to the current samples: [0] the target's own (target="kubepods"), then one per
 * container left in.  Free with ap_targets_snapshot_free-like unref of each + free().
 * @retval 0  @retval -ENOMEM */
int ap_node_agent_samples(ApNodeAgent *a, ApSample ***ret, size_t *ret_n);
