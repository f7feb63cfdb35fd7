/* SPDX-License-Identifier: MIT */
/*
 * The exposition text of autoprocsd as a pure function of a snapshot (docs/metrics.md).
 *
 * No I/O, no clock, no locks: the HTTP thread hands a snapshot in and gets text back, and the
 * Check suite feeds hand-made snapshots and compares with golden text.  Two formats:
 *   Prometheus text 0.0.4 (the default) and OpenMetrics 1.0 (when the Accept header asks for it:
 *   counter families without "_total" in TYPE/HELP, "# UNIT" for unit-suffixed names, "# EOF").
 *
 * Counters stay monotonic across a target's cgroup being recreated (its cpu.stat restarting at 0):
 * the sampler keeps the last raw value and adds deltas (ap_counter_feed()), so the exported
 * series never goes down and Prometheus sees no reset; a raw value lower than the previous one is
 * taken as a restart from 0 and its whole value is added.
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autoprocs.h"

/* A counter kept monotonic over resets of its source. */
typedef struct ApCounter {
        bool seen;       /* a raw value has been fed */
        uint64_t last;   /* the last raw value */
        uint64_t total;  /* what is exported */
} ApCounter;

/* Feed a raw reading: the first one is taken as is, a larger one adds its delta, a smaller one
 * (the source restarted) adds its whole value.  Returns the new total. */
uint64_t ap_counter_feed(ApCounter *c, uint64_t raw);

/* The "probe" label values of autoprocs_probe_errors_total. */
typedef enum ApProbeKind {
        AP_PROBE_KIND_TARGET,      /* the target (pid, cgroup directory, root) is missing */
        AP_PROBE_KIND_DETECT,      /* autoprocs_detect() failed */
        AP_PROBE_KIND_CPU_STAT,    /* cpu.stat vanished after it had been read */
        AP_PROBE_KIND_PRESSURE,    /* cpu.pressure vanished after it had been read */
        AP_PROBE_KIND_MAX,
} ApProbeKind;

const char *ap_probe_kind_to_string(ApProbeKind k);

/*
 * The labels of a discovered container's series, escaped and joined once (when its names are
 * learnt), shared by every sample of it: @series is put on every per-target series in place of
 * target="..." (it starts with that), @info on autoprocs_container_info only.  Immutable.
 */
typedef struct ApLabels {
        atomic_uint refs;
        char *series;                  /* target="...",pod_uid="...",... */
        char *info;                    /* extra pairs of the info series, may be "" */
} ApLabels;

/* Join NULL-terminated name, value pairs (empty values left out) into a new ApLabels with one
 * reference.  NULL on ENOMEM. */
ApLabels *ap_labels_new(const char *const *series, const char *const *info);
ApLabels *ap_labels_ref(ApLabels *l);
ApLabels *ap_labels_unref(ApLabels *l);

/* A shared immutable string: a container's /v1/limits object, the same over many ticks. */
typedef struct ApText {
        atomic_uint refs;
        char s[];
} ApText;

ApText *ap_text_new(const char *s);
ApText *ap_text_ref(ApText *t);
ApText *ap_text_unref(ApText *t);

/*
 * What one target looked like at its last probe.  Immutable once published: the sampler builds a
 * new one each tick and swaps the pointer; readers hold a reference (ap_sample_ref/unref).
 */
typedef struct ApSample {
        atomic_uint refs;
        char *target;                  /* the label value: "self", "pid:42", "cgroup:/x", "root:/d" */
        bool probed;                   /* at least one probe has completed (readiness) */
        bool ok;                       /* the last probe found the target */
        const char *error;             /* !ok: why, for /v1/limits (static text; NULL = not found) */
        bool is_self;

        bool has_limit;
        double quota_seconds, period_seconds, limit_cores;
        unsigned affinity_cpus;        /* 0 = unknown */
        unsigned recommended_procs;    /* 0 = unknown */

        bool has_throttling, has_usage;
        uint64_t periods, throttled_periods, throttled_usec, usage_usec;     /* monotonic totals */
        bool has_pressure, has_pressure_full;
        uint64_t pressure_some_usec, pressure_full_usec;                     /* monotonic totals */

        uint64_t resizes_up, resizes_down;
        uint64_t probe_errors[AP_PROBE_KIND_MAX];
        bool has_publish;              /* --publish is on: autoprocs_publish_errors_total */
        bool publish_failing;          /* its last --publish write failed (/readyz 503) */
        uint64_t publish_errors;

        char *json;                    /* facts as JSON (one object, with "target"); may be NULL */

        /* A discovered container (kubepods, cgroup-tree): labels beyond target, the info series;
         * autoprocs_resizes_total and autoprocs_probe_errors_total only where not 0. */
        ApLabels *labels;              /* NULL: target="..." alone */
        ApText *json_shared;           /* used when json is NULL */
        bool is_container;

        /* A discovery target itself (target="kubepods"): what it follows. */
        bool is_discovery;
        uint64_t discovered_containers, discovery_watches, discovery_events, discovery_rescans;
} ApSample;

/* A new zeroed sample with one reference and a copy of @target.  NULL on ENOMEM. */
ApSample *ap_sample_new(const char *target);
ApSample *ap_sample_ref(ApSample *s);
ApSample *ap_sample_unref(ApSample *s);

/* The daemon process itself (process_* series). */
typedef struct ApProcessStats {
        bool valid;
        double cpu_seconds;
        uint64_t resident_bytes;
        double start_time_seconds;     /* since the epoch */
} ApProcessStats;

/* Read ApProcessStats of the calling process from @proc_dir_fd ("/proc").  Not pure: lives here
 * because only the renderer's caller needs it.  @retval 0  @retval -errno */
int ap_process_stats_read(int proc_dir_fd, ApProcessStats *ret);

/* Everything one scrape renders. */
typedef struct ApSnapshot {
        const ApSample *const *samples;
        size_t n_samples;
        bool has_runtime;              /* the embedded runtime is running: runtime_* series */
        autoprocs_stats runtime;
        ApProcessStats process;
        const char *version;
} ApSnapshot;

typedef enum ApMetricsFormat {
        AP_METRICS_PROMETHEUS = 0,     /* text/plain; version=0.0.4 */
        AP_METRICS_OPENMETRICS = 1,    /* application/openmetrics-text; version=1.0.0 */
} ApMetricsFormat;

/* The Content-Type header value of @fmt. */
const char *ap_metrics_content_type(ApMetricsFormat fmt);

/* Choose a format from an HTTP Accept header (NULL = none): OpenMetrics when it is accepted with
 * a q-value at least that of text/plain (and above 0), else Prometheus 0.0.4. */
ApMetricsFormat ap_metrics_negotiate(const char *accept);

/* Render @snap.  @retval 0 (*ret_text malloc'd, NUL-terminated, *ret_len its length)
 * @retval -ENOMEM */
int ap_metrics_render(const ApSnapshot *snap, ApMetricsFormat fmt, char **ret_text,
                      size_t *ret_len);

/* The top-level fields of `autoprocs detect --json` (autoprocs_facts_to_json), in its order. */
extern const char *const ap_limits_detect_fields[12];

/* Render @snap's samples as the /v1/limits JSON array: each sample's json, or for a target not
 * found (or not probed yet) "target", every ap_limits_detect_fields null ("warnings": []) and
 * "error".  @retval 0  @retval -ENOMEM */
int ap_limits_render_json(const ApSnapshot *snap, char **ret_text, size_t *ret_len);

/* Append @s to @buf as a label value escaped for both formats (\\, \", \n). Exposed for tests. */
int ap_metrics_escape_label(const char *s, char **ret);

/* Format @v as the Go-style float Prometheus expects (shortest round-trip, "NaN", "+Inf"). */
void ap_metrics_format_double(double v, char *buf, size_t size);
