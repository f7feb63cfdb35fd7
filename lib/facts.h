/* SPDX-License-Identifier: MIT */
/*
 * autoprocs_facts: what autoprocs_detect() found (detect.c), read through the accessors (facts.c)
 * and rendered as the JSON object of `autoprocs detect --json` (docs/schema/detect.json) (facts-json.c).  Plain data, immutable
 * once built.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autoprocs.h"
#include "probes/psi.h"

struct autoprocs_facts {
        int cgroup_version;           /* 0, 1, 2 */
        char *cgroup_path;            /* NULL = unknown */
        bool has_limit;
        uint64_t quota_us, period_us;
        char *limit_cgroup;           /* hierarchy-relative, when has_limit */
        char *limit_file;             /* the file that binds ("/sys/fs/cgroup/cpu/a/cpu.cfs_quota_us") */
        bool limit_unknown;           /* a cpu hierarchy exists but the process's directory was not found */
        unsigned affinity_cpus;
        bool affinity_from_cpuset;    /* the cgroup cpuset bounds affinity_cpus (else the mask) */
        unsigned procs;
        autoprocs_policy policy;
        unsigned min_procs;
        uint64_t reserve_millicpus;
        bool has_throttling;
        autoprocs_throttling throttling;
        bool has_pressure;
        ApPsi pressure;               /* exact hundredths, for rendering */
        char **warnings;
        size_t n_warnings;
        char **notes;                 /* informational: how a fact was found (no fault) */
        size_t n_notes;
};

/* Append one warning to built facts (detect.c builds the facts).  @retval 0  @retval -ENOMEM */
int ap_facts_add_warning(autoprocs_facts *f, const char *w);
