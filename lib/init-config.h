/* SPDX-License-Identifier: MIT */
/*
 * autoprocs_config: the one configuration object shared by detection (detect.c), the watcher
 * (watch.c), autoprocs_init() (init.c) and the runtime options.  Plain data; no I/O here.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "autoprocs.h"

#define AP_CONFIG_DEFAULT_INTERVAL_MS 1000u
#define AP_CONFIG_DEFAULT_STACK_SIZE (64u * 1024u)
#define AP_CONFIG_DEFAULT_MAX_THREADS 10000u

struct autoprocs_config {
        autoprocs_policy policy;
        unsigned min_procs;           /* 0 = policy's own */
        uint64_t reserve_millicpus;
        char *root;                   /* NULL = "/" (live system) */
        int pid;                      /* 0 = self */
        char *cgroup_dir;             /* NULL = the process's cgroup */
        unsigned procs;               /* 0 = detect */
        unsigned interval_ms;         /* 0 = no watching */
        size_t stack_size;
        unsigned max_threads;
        autoprocs_pacing pacing;
        unsigned max_blocking;        /* 0 = 4 per processor */
        int stack_guard;              /* AP_STACK_GUARD_* (AUTOPROCS_STACK_GUARD; no setter) */
        autoprocs_log_fn log_fn;
        void *log_userdata;
        autoprocs_procs_changed_fn procs_changed_fn;
        void *procs_changed_userdata;
};

/* Fill @config with the defaults (no allocation). */
void ap_config_init_defaults(autoprocs_config *config);
/* Deep copy; @src NULL = defaults.  @retval 0  @retval -ENOMEM */
int ap_config_copy(const autoprocs_config *src, autoprocs_config **ret);
/* Free the strings of an embedded config. */
void ap_config_deinit(autoprocs_config *config);
