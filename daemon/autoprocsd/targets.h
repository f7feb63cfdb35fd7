/* SPDX-License-Identifier: MIT */
/*
 * The targets autoprocsd watches, and the snapshot store the HTTP thread renders from.
 *
 * Each target (self, pid:N, cgroup:PATH, root:DIR) is watched by one task of the embedded runtime:
 * it probes (autoprocs_detect() and the facts' cpu.stat and PSI, inside a blocking region), turns
 * the raw counters into monotonic totals, logs real events (found, lost, limit changed), writes
 * its --publish file, builds a new immutable ApSample and swaps it into the store, then sleeps
 * for the interval (autoprocs_sleep_ns, in slices so that a stop is noticed within 0.5 s).
 * A target that is missing (a pid not started yet or exited, a cgroup removed, a root not there)
 * is reported once and retried every interval; it never stops the daemon.
 *
 * The store: a mutex guards the pointers to the current samples only.  A reader (the HTTP
 * thread) takes references under it and renders outside it, so neither side waits for the
 * other's work, and the HTTP thread never waits for the runtime.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/autoprocsd/daemon-config.h"
#include "daemon/autoprocsd/metrics.h"

typedef struct ApTargets ApTargets;

/* Settings every task reads at each tick (changed by a reload). */
typedef struct ApTargetsOptions {
        uint64_t interval_ns;
        autoprocs_policy policy;
        const char *publish_dir;      /* NULL = none; copied */
        const char *pod_logs_dir;     /* kubepods targets' names; NULL = none; copied; taken by the
                                       * targets started after it is set */
} ApTargetsOptions;

/* @retval 0  @retval -ENOMEM */
int ap_targets_new(const ApTargetsOptions *opts, ApTargets **ret);
/* Stops every target first (ap_targets_stop_all). */
ApTargets *ap_targets_free(ApTargets *set);

/* Change the options (reload); a new publish directory is opened here (publish.h).
 * @retval 0  @retval -ENOMEM  @retval -errno the publish directory cannot be opened */
int ap_targets_set_options(ApTargets *set, const ApTargetsOptions *opts);

/*
 * Make the running targets those of @specs: targets whose label is unchanged keep running (and
 * keep their counters), others are stopped and new ones started as runtime tasks.
 * @retval 0  @retval -errno (the targets started so far keep running)
 */
int ap_targets_apply(ApTargets *set, const ApTargetSpec *specs, size_t n);

/* Stop and join every target task (before autoprocs_shutdown()). */
void ap_targets_stop_all(ApTargets *set);

/*
 * Probe one target once, synchronously (the body of a task's loop; tests call it directly).
 * @label must be a running target's label.  @retval 0  @retval -ENOENT no such target
 */
int ap_targets_probe_now(ApTargets *set, const char *label);

/* References to the current samples, in target order (free with ap_targets_snapshot_free).
 * @retval 0  @retval -ENOMEM */
int ap_targets_snapshot(ApTargets *set, ApSample ***ret_samples, size_t *ret_n, uint64_t *ret_generation);
void ap_targets_snapshot_free(ApSample **samples, size_t n);

/* True when every target has completed its first probe. */
bool ap_targets_ready(ApTargets *set);
/* Does a target's --publish file fail to be written (its last attempt failed)?  Its label into
 * *@ret_label (malloc'd).  @retval 1 yes  @retval 0 no  @retval -ENOMEM */
int ap_targets_publish_failing(ApTargets *set, char **ret_label);
/* CLOCK_MONOTONIC ns of the last sample published (0: none yet): the watchdog's sign of life. */
uint64_t ap_targets_last_publish_ns(ApTargets *set);
size_t ap_targets_count(ApTargets *set);
/* Bumped by every sample stored and every change of the target list. */
uint64_t ap_targets_generation(ApTargets *set);
