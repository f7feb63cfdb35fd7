/* SPDX-License-Identifier: MIT */
/*
 * Exposition text of autoprocsd (see metrics.h).  Pure: snapshot in, text out.
 *
 * Prometheus 0.0.4 rules followed here: one HELP and one TYPE per family, before its samples; a
 * family's samples contiguous; label values escape \\ \" and newline; values printed as the
 * shortest decimal that reads back to the same double; no timestamps; every line ends in "\n".
 * OpenMetrics 1.0 differences: counter families are named without "_total" in the metadata, a
 * "# UNIT" line for names ending in a unit, info families (build_info) typed "info", "# EOF" last.
 * A family with no sample at all (e.g. no target has a CPU limit) is left out entirely.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/autoprocsd/metrics.h"
#include "lib/util/cleanup.h"
#include "lib/util/fileio.h"
#include "lib/util/json.h"
#include "lib/util/macro.h"
#include "lib/util/parse.h"

/* ---------------------------------------------------------------------------------------------
 * Counters and samples
 * ------------------------------------------------------------------------------------------- */

uint64_t ap_counter_feed(ApCounter *c, uint64_t raw)
{
        if (!c->seen) {
                c->seen = true;
                c->total = raw;
        } else if (raw >= c->last) {
                c->total += raw - c->last;
        } else {
                /* The source restarted (cgroup recreated): it counted from 0 up to raw since. */
                c->total += raw;
        }
        c->last = raw;
        return c->total;
}

const char *ap_probe_kind_to_string(ApProbeKind k)
{
        static const char *const names[AP_PROBE_KIND_MAX] = {
                [AP_PROBE_KIND_TARGET] = "target",
                [AP_PROBE_KIND_DETECT] = "detect",
                [AP_PROBE_KIND_CPU_STAT] = "cpu.stat",
                [AP_PROBE_KIND_PRESSURE] = "cpu.pressure",
        };

        return (unsigned)k < AP_PROBE_KIND_MAX ? names[k] : "unknown";
}

ApSample *ap_sample_new(const char *target)
{
        ApSample *s = calloc(1, sizeof(*s));

        if (!s)
                return NULL;
        s->target = strdup(target);
        if (!s->target) {
                free(s);
                return NULL;
        }
        atomic_init(&s->refs, 1);
        return s;
}

ApSample *ap_sample_ref(ApSample *s)
{
        if (s)
                atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
        return s;
}

ApSample *ap_sample_unref(ApSample *s)
{
        if (!s)
                return NULL;
        if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
                return NULL;
        free(s->target);
        free(s->json);
        ap_labels_unref(s->labels);
        ap_text_unref(s->json_shared);
        free(s);
        return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Text: the project's one buffer (lib/util/json.h), with the Prometheus label escaping here.
 * ------------------------------------------------------------------------------------------- */

/* Escaped label value (\\, \", \n), appended. */
static void buf_put_label(ApBuf *b, const char *s)
{
        for (; *s; s++) {
                switch (*s) {
                case '\\':
                        ap_buf_puts(b, "\\\\");
                        break;
                case '"':
                        ap_buf_puts(b, "\\\"");
                        break;
                case '\n':
                        ap_buf_puts(b, "\\n");
                        break;
                default:
                        ap_buf_append(b, s, 1);
                }
        }
}

static int buf_finish(ApBuf *b, char **ret_text, size_t *ret_len)
{
        size_t len = b->len;
        int r = ap_buf_steal(b, ret_text);

        if (r < 0)
                return r;
        if (ret_len)
                *ret_len = len;
        return 0;
}

int ap_metrics_escape_label(const char *s, char **ret)
{
        ApBuf b = AP_BUF_NULL;

        buf_put_label(&b, s);
        return buf_finish(&b, ret, NULL);
}

/* name="value" pairs, comma-separated, empty values left out. */
static void buf_put_pairs(ApBuf *b, const char *const *pairs, bool first)
{
        for (size_t i = 0; pairs && pairs[i]; i += 2) {
                if (!pairs[i + 1] || !pairs[i + 1][0])
                        continue;
                if (!first)
                        ap_buf_puts(b, ",");
                first = false;
                ap_buf_puts(b, pairs[i]);
                ap_buf_puts(b, "=\"");
                buf_put_label(b, pairs[i + 1]);
                ap_buf_puts(b, "\"");
        }
}

ApText *ap_text_new(const char *s)
{
        size_t len = strlen(s);
        ApText *t = malloc(sizeof(*t) + len + 1);

        if (!t)
                return NULL;
        atomic_init(&t->refs, 1);
        memcpy(t->s, s, len + 1);
        return t;
}

ApText *ap_text_ref(ApText *t)
{
        if (t)
                atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
        return t;
}

ApText *ap_text_unref(ApText *t)
{
        if (t && atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
                free(t);
        return NULL;
}

static char *shrink(char *s)
{
        char *t = realloc(s, strlen(s) + 1);

        return t ? t : s;
}

ApLabels *ap_labels_new(const char *const *series, const char *const *info)
{
        ApLabels *l = calloc(1, sizeof(*l));
        ApBuf a = AP_BUF_NULL, b = AP_BUF_NULL;

        if (!l)
                return NULL;
        buf_put_pairs(&a, series, true);
        buf_put_pairs(&b, info, true);
        if (buf_finish(&a, &l->series, NULL) < 0) {
                ap_buf_done(&b);
                free(l);
                return NULL;
        }
        if (buf_finish(&b, &l->info, NULL) < 0) {
                free(l->series);
                free(l);
                return NULL;
        }
        /* kept for the container's life: not the buffer's 4 KiB */
        l->series = shrink(l->series);
        l->info = shrink(l->info);
        atomic_init(&l->refs, 1);
        return l;
}

ApLabels *ap_labels_ref(ApLabels *l)
{
        if (l)
                atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
        return l;
}

ApLabels *ap_labels_unref(ApLabels *l)
{
        if (!l || atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) != 1)
                return NULL;
        free(l->series);
        free(l->info);
        free(l);
        return NULL;
}

void ap_metrics_format_double(double v, char *buf, size_t size)
{
        if (isnan(v)) {
                (void)snprintf(buf, size, "NaN");
                return;
        }
        if (isinf(v)) {
                (void)snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
                return;
        }
        /* Integers (the common case: counts) print without exponent up to 2^53. */
        if (v == floor(v) && fabs(v) < 9007199254740992.0) {
                (void)snprintf(buf, size, "%.0f", v);
                return;
        }
        for (int prec = 15; prec <= 17; prec++) {
                (void)snprintf(buf, size, "%.*g", prec, v);
                if (strtod(buf, NULL) == v)
                        return;
        }
}

/* ---------------------------------------------------------------------------------------------
 * Families
 * ------------------------------------------------------------------------------------------- */

typedef enum FamilyType {
        FAMILY_GAUGE,
        FAMILY_COUNTER,
        FAMILY_INFO,
} FamilyType;

/* Renders one family: metadata once (before the first sample), then its samples. */
typedef struct Family {
        ApBuf *b;
        ApMetricsFormat fmt;
        const char *name;          /* full sample name, e.g. autoprocs_resizes_total */
        FamilyType type;
        const char *help;
        bool started;
} Family;

static void family_begin(Family *f, ApBuf *b, ApMetricsFormat fmt, const char *name, FamilyType type,
                         const char *help)
{
        *f = (Family){ .b = b, .fmt = fmt, .name = name, .type = type, .help = help };
}

/* The family's name in metadata: OpenMetrics drops _total of counters and _info of infos. */
static size_t family_meta_name_len(const Family *f)
{
        size_t len = strlen(f->name);

        if (f->fmt == AP_METRICS_OPENMETRICS) {
                if (f->type == FAMILY_COUNTER && len > 6 && strcmp(f->name + len - 6, "_total") == 0)
                        return len - 6;
                if (f->type == FAMILY_INFO && len > 5 && strcmp(f->name + len - 5, "_info") == 0)
                        return len - 5;
        }
        return len;
}

static const char *family_unit(const Family *f, size_t meta_len)
{
        static const char *const units[] = { "seconds", "bytes" };

        for (size_t i = 0; i < AP_ELEMENTSOF(units); i++) {
                size_t ul = strlen(units[i]);

                if (meta_len > ul + 1 && f->name[meta_len - ul - 1] == '_' &&
                    strncmp(f->name + meta_len - ul, units[i], ul) == 0)
                        return units[i];
        }
        return NULL;
}

static void family_meta(Family *f)
{
        static const char *const types[] = {
                [FAMILY_GAUGE] = "gauge",
                [FAMILY_COUNTER] = "counter",
                [FAMILY_INFO] = "info",
        };
        size_t meta_len = family_meta_name_len(f);
        const char *type = types[f->type];
        const char *unit;

        if (f->started)
                return;
        f->started = true;
        if (f->fmt == AP_METRICS_PROMETHEUS && f->type == FAMILY_INFO)
                type = "gauge";
        /* Help texts are constants without backslashes, quotes or newlines: no escaping needed. */
        ap_buf_printf(f->b, "# HELP %.*s %s\n", (int)meta_len, f->name, f->help);
        ap_buf_printf(f->b, "# TYPE %.*s %s\n", (int)meta_len, f->name, type);
        if (f->fmt == AP_METRICS_OPENMETRICS) {
                unit = family_unit(f, meta_len);
                if (unit)
                        ap_buf_printf(f->b, "# UNIT %.*s %s\n", (int)meta_len, f->name, unit);
        }
}

/*
 * One sample.  @labels: NULL-terminated name, value pairs (values escaped here).
 */
static void family_sample(Family *f, const char *const *labels, double v)
{
        char num[64];

        family_meta(f);
        ap_buf_puts(f->b, f->name);
        if (labels && labels[0]) {
                ap_buf_puts(f->b, "{");
                for (size_t i = 0; labels[i]; i += 2) {
                        if (i > 0)
                                ap_buf_puts(f->b, ",");
                        ap_buf_puts(f->b, labels[i]);
                        ap_buf_puts(f->b, "=\"");
                        buf_put_label(f->b, labels[i + 1]);
                        ap_buf_puts(f->b, "\"");
                }
                ap_buf_puts(f->b, "}");
        }
        ap_metrics_format_double(v, num, sizeof(num));
        ap_buf_printf(f->b, " %s\n", num);
}

/* One sample of @s's series with one more label @k=@v (NULL: none).  A container's labels are
 * joined already: they are copied, not escaped again. */
static void target_sample_with(Family *f, const ApSample *s, const char *k, const char *v, double val)
{
        char num[64];

        if (!s->labels) {
                const char *labels[] = { "target", s->target, k, v, NULL };

                family_sample(f, labels, val);
                return;
        }
        family_meta(f);
        ap_buf_puts(f->b, f->name);
        ap_buf_puts(f->b, "{");
        ap_buf_puts(f->b, s->labels->series);
        if (k) {
                ap_buf_puts(f->b, ",");
                ap_buf_puts(f->b, k);
                ap_buf_puts(f->b, "=\"");
                buf_put_label(f->b, v);
                ap_buf_puts(f->b, "\"");
        }
        ap_buf_puts(f->b, "} ");
        ap_metrics_format_double(val, num, sizeof(num));
        ap_buf_puts(f->b, num);
        ap_buf_puts(f->b, "\n");
}

static void target_sample(Family *f, const ApSample *s, double v)
{
        target_sample_with(f, s, NULL, NULL, v);
}

static double usec_to_seconds(uint64_t usec)
{
        return (double)usec / 1e6;
}

/* Per-target gauges and counters, one family at a time over all samples. */
typedef enum TargetField {
        F_LIMIT_CORES,
        F_QUOTA,
        F_PERIOD,
        F_AFFINITY,
        F_RECOMMENDED,
        F_PERIODS,
        F_THROTTLED,
        F_THROTTLED_SECONDS,
        F_USAGE,
        F_PSI_SOME,
        F_PSI_FULL,
        F_UP,
        F_MAX,
} TargetField;

static const struct {
        const char *name;
        FamilyType type;
        const char *help;
} target_families[F_MAX] = {
        [F_UP] = { "autoprocs_target_up", FAMILY_GAUGE,
                   "1 when the last probe found the target (process, cgroup or root), else 0." },
        [F_LIMIT_CORES] = { "autoprocs_cpu_limit_cores", FAMILY_GAUGE,
                            "Binding CPU bandwidth limit (quota/period) in cores; absent while unlimited." },
        [F_QUOTA] = { "autoprocs_cpu_quota_seconds", FAMILY_GAUGE,
                      "Quota of the binding CPU bandwidth limit, in seconds per period." },
        [F_PERIOD] = { "autoprocs_cpu_period_seconds", FAMILY_GAUGE,
                       "Period of the binding CPU bandwidth limit, in seconds." },
        [F_AFFINITY] = { "autoprocs_affinity_cpus", FAMILY_GAUGE,
                         "CPUs allowed by affinity and cpuset." },
        [F_RECOMMENDED] = { "autoprocs_recommended_procs", FAMILY_GAUGE,
                            "Processor count recommended by the policy." },
        [F_PERIODS] = { "autoprocs_cpu_periods_total", FAMILY_COUNTER,
                        "CPU bandwidth enforcement periods elapsed (cpu.stat nr_periods)." },
        [F_THROTTLED] = { "autoprocs_cpu_throttled_periods_total", FAMILY_COUNTER,
                          "Periods in which the cgroup was throttled (cpu.stat nr_throttled)." },
        [F_THROTTLED_SECONDS] = { "autoprocs_cpu_throttled_seconds_total", FAMILY_COUNTER,
                                  "Total time the cgroup was throttled, in seconds." },
        [F_USAGE] = { "autoprocs_cpu_usage_seconds_total", FAMILY_COUNTER,
                      "CPU time used by the cgroup, in seconds." },
        [F_PSI_SOME] = { "autoprocs_pressure_cpu_waiting_seconds_total", FAMILY_COUNTER,
                         "Time some tasks of the cgroup waited for a CPU (PSI some total), in seconds." },
        [F_PSI_FULL] = { "autoprocs_pressure_cpu_stalled_seconds_total", FAMILY_COUNTER,
                         "Time all tasks of the cgroup were stalled on CPU (PSI full total), in seconds." },
};

/* The value of @field for @s; false when @s has none. */
static bool target_value(const ApSample *s, TargetField field, double *ret)
{
        switch (field) {
        case F_UP:
                *ret = s->ok ? 1 : 0;
                return s->probed;
        case F_LIMIT_CORES:
                *ret = s->limit_cores;
                return s->ok && s->has_limit;
        case F_QUOTA:
                *ret = s->quota_seconds;
                return s->ok && s->has_limit;
        case F_PERIOD:
                *ret = s->period_seconds;
                return s->ok && s->has_limit;
        case F_AFFINITY:
                *ret = s->affinity_cpus;
                return s->ok && s->affinity_cpus > 0;
        case F_RECOMMENDED:
                *ret = s->recommended_procs;
                return s->ok && s->recommended_procs > 0;
        /* Counters stay exported while a target is lost: their totals are still true. */
        case F_PERIODS:
                *ret = (double)s->periods;
                return s->has_throttling;
        case F_THROTTLED:
                *ret = (double)s->throttled_periods;
                return s->has_throttling;
        case F_THROTTLED_SECONDS:
                *ret = usec_to_seconds(s->throttled_usec);
                return s->has_throttling;
        case F_USAGE:
                *ret = usec_to_seconds(s->usage_usec);
                return s->has_usage;
        case F_PSI_SOME:
                *ret = usec_to_seconds(s->pressure_some_usec);
                return s->has_pressure;
        case F_PSI_FULL:
                *ret = usec_to_seconds(s->pressure_full_usec);
                return s->has_pressure_full;
        case F_MAX:
                break;
        }
        abort();
}

static void render_targets(ApBuf *b, ApMetricsFormat fmt, const ApSnapshot *snap)
{
        static const TargetField order[] = {
                F_UP,      F_LIMIT_CORES, F_QUOTA,      F_PERIOD,           F_AFFINITY, F_RECOMMENDED,
                F_PERIODS, F_THROTTLED,   F_THROTTLED_SECONDS, F_USAGE, F_PSI_SOME, F_PSI_FULL,
        };
        Family f;

        for (size_t i = 0; i < AP_ELEMENTSOF(order); i++) {
                TargetField field = order[i];

                family_begin(&f, b, fmt, target_families[field].name, target_families[field].type,
                             target_families[field].help);
                for (size_t j = 0; j < snap->n_samples; j++) {
                        double v;

                        if (target_value(snap->samples[j], field, &v))
                                target_sample(&f, snap->samples[j], v);
                }
        }

        family_begin(&f, b, fmt, "autoprocs_resizes_total", FAMILY_COUNTER,
                     "Changes of the recommended (for target self: the runtime's live) processor count.");
        for (size_t j = 0; j < snap->n_samples; j++) {
                const ApSample *s = snap->samples[j];

                if (!s->is_container || s->resizes_up)
                        target_sample_with(&f, s, "direction", "up", (double)s->resizes_up);
                if (!s->is_container || s->resizes_down)
                        target_sample_with(&f, s, "direction", "down", (double)s->resizes_down);
        }

        family_begin(&f, b, fmt, "autoprocs_probe_errors_total", FAMILY_COUNTER,
                     "Probes of a target that failed, by what failed.");
        for (size_t j = 0; j < snap->n_samples; j++) {
                const ApSample *s = snap->samples[j];

                for (unsigned k = 0; k < AP_PROBE_KIND_MAX; k++)
                        if (!s->is_container || s->probe_errors[k])
                                target_sample_with(&f, s, "probe", ap_probe_kind_to_string((ApProbeKind)k),
                                                   (double)s->probe_errors[k]);
        }
        family_begin(&f, b, fmt, "autoprocs_publish_errors_total", FAMILY_COUNTER,
                     "Writes of a target's --publish file that failed.");
        for (size_t j = 0; j < snap->n_samples; j++) {
                const ApSample *s = snap->samples[j];

                if (s->has_publish && (!s->is_container || s->publish_errors))
                        target_sample(&f, s, (double)s->publish_errors);
        }
}

/* Discovered containers: where each value comes from; discovery targets: what they follow. */
static void render_discovery(ApBuf *b, ApMetricsFormat fmt, const ApSnapshot *snap)
{
        static const struct {
                const char *name;
                FamilyType type;
                const char *help;
        } fams[] = {
                { "autoprocs_discovery_containers", FAMILY_GAUGE,
                  "Containers a discovery target (kubepods, cgroup-tree) follows now." },
                { "autoprocs_discovery_watches", FAMILY_GAUGE,
                  "Cgroup directories a discovery target watches with inotify." },
                { "autoprocs_discovery_events_total", FAMILY_COUNTER,
                  "inotify events a discovery target has applied." },
                { "autoprocs_discovery_rescans_total", FAMILY_COUNTER,
                  "Full re-walks of a discovery target's cgroup tree (periodic, or after an overflow)." },
        };
        Family f;

        family_begin(&f, b, fmt, "autoprocs_container_info", FAMILY_INFO,
                     "A discovered container: its identity, and the cgroups its values are read from "
                     "(limit_cgroup binds the limit, throttling_cgroup gives the throttling, usage_cgroup the usage "
                     "and pressure); the value is always 1.");
        for (size_t j = 0; j < snap->n_samples; j++) {
                const ApSample *s = snap->samples[j];
                char num[8];

                if (!s->is_container || !s->labels)
                        continue;
                family_meta(&f);
                ap_buf_puts(b, f.name);
                ap_buf_puts(b, "{");
                ap_buf_puts(b, s->labels->series);
                if (s->labels->info[0]) {
                        ap_buf_puts(b, ",");
                        ap_buf_puts(b, s->labels->info);
                }
                ap_metrics_format_double(1, num, sizeof(num));
                ap_buf_printf(b, "} %s\n", num);
        }
        for (size_t i = 0; i < AP_ELEMENTSOF(fams); i++) {
                family_begin(&f, b, fmt, fams[i].name, fams[i].type, fams[i].help);
                for (size_t j = 0; j < snap->n_samples; j++) {
                        const ApSample *s = snap->samples[j];
                        const uint64_t v[] = { s->discovered_containers, s->discovery_watches,
                                               s->discovery_events, s->discovery_rescans };

                        if (s->is_discovery)
                                target_sample(&f, s, (double)v[i]);
                }
        }
}

static void render_runtime(ApBuf *b, ApMetricsFormat fmt, const ApSnapshot *snap)
{
        static const char *const self_label[] = { "target", "self", NULL };
        const autoprocs_stats *st = &snap->runtime;
        Family f;

        if (!snap->has_runtime)
                return;
        family_begin(&f, b, fmt, "autoprocs_runtime_procs", FAMILY_GAUGE,
                     "Live processor count of the daemon's embedded M:N runtime.");
        family_sample(&f, self_label, st->procs);
        family_begin(&f, b, fmt, "autoprocs_runtime_tasks", FAMILY_GAUGE,
                     "Tasks alive in the embedded runtime.");
        family_sample(&f, NULL, (double)st->tasks_alive);
        family_begin(&f, b, fmt, "autoprocs_runtime_threads", FAMILY_GAUGE,
                     "OS threads of the embedded runtime (workers and monitor).");
        family_sample(&f, NULL, st->threads);
        family_begin(&f, b, fmt, "autoprocs_runtime_steals_total", FAMILY_COUNTER,
                     "Work-stealing events of the embedded runtime.");
        family_sample(&f, NULL, (double)st->steals);
        family_begin(&f, b, fmt, "autoprocs_runtime_handoffs_total", FAMILY_COUNTER,
                     "Processors handed off around blocking calls in the embedded runtime.");
        family_sample(&f, NULL, (double)st->handoffs);
        family_begin(&f, b, fmt, "autoprocs_runtime_threads_peak", FAMILY_GAUGE,
                     "Most OS threads the embedded runtime had at once (workers and monitor).");
        family_sample(&f, NULL, (double)st->threads_peak);
        family_begin(&f, b, fmt, "autoprocs_runtime_polled_tasks", FAMILY_GAUGE,
                     "Tasks of the embedded runtime parked on its netpoller (waiting for I/O "
                     "without a thread).");
        family_sample(&f, NULL, (double)st->tasks_polled);
        family_begin(&f, b, fmt, "autoprocs_runtime_blocking_tasks", FAMILY_GAUGE,
                     "Tasks of the embedded runtime inside blocking regions (each holds a thread).");
        family_sample(&f, NULL, (double)st->tasks_blocking);
        family_begin(&f, b, fmt, "autoprocs_runtime_blocking_waiting_tasks", FAMILY_GAUGE,
                     "Tasks waiting for a blocking slot (the bound on blocking regions is reached).");
        family_sample(&f, NULL, (double)st->tasks_blocking_waiting);
        family_begin(&f, b, fmt, "autoprocs_runtime_blocking_peak_tasks", FAMILY_GAUGE,
                     "Most tasks inside blocking regions at once.");
        family_sample(&f, NULL, (double)st->blocking_peak);
        family_begin(&f, b, fmt, "autoprocs_runtime_blocking_limit_tasks", FAMILY_GAUGE,
                     "The bound on tasks inside blocking regions at once.");
        family_sample(&f, NULL, (double)st->blocking_cap);
        family_begin(&f, b, fmt, "autoprocs_runtime_pacing", FAMILY_GAUGE,
                     "1 while the embedded runtime paces itself to a fractional CPU limit.");
        family_sample(&f, self_label, st->pacing);
        if (st->pacing) {
                family_begin(&f, b, fmt, "autoprocs_runtime_pacing_share_cores", FAMILY_GAUGE,
                             "CPU share the paced runtime's workers may use (the limit less headroom "
                             "and the CPU of other threads and processes of the cgroup).");
                family_sample(&f, self_label, (double)st->pace_share_millicpus / 1000);
        }
        family_begin(&f, b, fmt, "autoprocs_runtime_paced_seconds_total", FAMILY_COUNTER,
                     "Time the embedded runtime's worker threads were held back by pacing, summed.");
        family_sample(&f, self_label, (double)st->pace_held_ns / 1e9);
        family_begin(&f, b, fmt, "autoprocs_runtime_pacing_holds_total", FAMILY_COUNTER,
                     "Hold-backs of a worker thread by pacing (label how: at a scheduling point, "
                     "or by the CPU-clock signal for a task without one).");
        {
                static const char *const point[] = { "target", "self", "how", "scheduling_point",
                                                     NULL };
                static const char *const sig[] = { "target", "self", "how", "signal", NULL };

                family_sample(&f, point, (double)(st->pace_holds - st->pace_signal_holds));
                family_sample(&f, sig, (double)st->pace_signal_holds);
        }
        family_begin(&f, b, fmt, "autoprocs_runtime_hogs_total", FAMILY_COUNTER,
                     "Tasks of the embedded runtime seen using 10 ms of CPU without a scheduling point.");
        family_sample(&f, NULL, (double)st->hogs);
        family_begin(&f, b, fmt, "autoprocs_runtime_hog_handoffs_total", FAMILY_COUNTER,
                     "Processors of the embedded runtime handed from a hog to another thread.");
        family_sample(&f, NULL, (double)st->hog_handoffs);
        family_begin(&f, b, fmt, "autoprocs_runtime_hog_threads", FAMILY_GAUGE,
                     "Threads of the embedded runtime running a hog without a processor.");
        family_sample(&f, NULL, (double)st->hog_threads);
}

static void render_process(ApBuf *b, ApMetricsFormat fmt, const ApSnapshot *snap)
{
        Family f;

        if (!snap->process.valid)
                return;
        family_begin(&f, b, fmt, "process_cpu_seconds_total", FAMILY_COUNTER,
                     "Total user and system CPU time spent in seconds.");
        family_sample(&f, NULL, snap->process.cpu_seconds);
        family_begin(&f, b, fmt, "process_resident_memory_bytes", FAMILY_GAUGE,
                     "Resident memory size in bytes.");
        family_sample(&f, NULL, (double)snap->process.resident_bytes);
        family_begin(&f, b, fmt, "process_start_time_seconds", FAMILY_GAUGE,
                     "Start time of the process since unix epoch in seconds.");
        family_sample(&f, NULL, snap->process.start_time_seconds);
}

int ap_metrics_render(const ApSnapshot *snap, ApMetricsFormat fmt, char **ret_text, size_t *ret_len)
{
        const char *version[] = { "version", snap->version ? snap->version : "unknown", NULL };
        ApBuf b = AP_BUF_NULL;
        Family f;
        int r;

        family_begin(&f, &b, fmt, "autoprocs_build_info", FAMILY_INFO,
                     "Build information of autoprocsd; the value is always 1.");
        family_sample(&f, version, 1);
        render_targets(&b, fmt, snap);
        render_discovery(&b, fmt, snap);
        render_runtime(&b, fmt, snap);
        render_process(&b, fmt, snap);
        if (fmt == AP_METRICS_OPENMETRICS)
                ap_buf_puts(&b, "# EOF\n");
        r = buf_finish(&b, ret_text, ret_len);
        /* the buffer doubled its way up: give back the unused half */
        if (r == 0)
                *ret_text = shrink(*ret_text);
        return r;
}

/* ---------------------------------------------------------------------------------------------
 * /v1/limits
 * ------------------------------------------------------------------------------------------- */

const char *const ap_limits_detect_fields[12] = {
        "cgroup_version", "cgroup_path", "limit", "limit_file", "affinity_cpus", "affinity_source",
        "procs", "policy", "throttling", "pressure", "warnings", "notes",
};

int ap_limits_render_json(const ApSnapshot *snap, char **ret_text, size_t *ret_len)
{
        ApBuf b = AP_BUF_NULL;

        ap_buf_puts(&b, "[");
        for (size_t i = 0; i < snap->n_samples; i++) {
                const ApSample *s = snap->samples[i];

                if (i > 0)
                        ap_buf_puts(&b, ",");
                if (s->ok && (s->json || s->json_shared)) {
                        ap_buf_puts(&b, s->json ? s->json : s->json_shared->s);
                        continue;
                }
                if (s->is_discovery && s->ok) {
                        ap_buf_puts(&b, "{\"target\":");
                        ap_buf_json_string_or_null(&b, s->target);
                        ap_buf_printf(&b, ",\"containers\":%" PRIu64 "}", s->discovered_containers);
                        continue;
                }
                ap_buf_puts(&b, "{\"target\":");
                ap_buf_json_string_or_null(&b, s->target);
                /* The fields of a found target, unknown: a consumer reads the same keys always. */
                for (size_t k = 0; k < AP_ELEMENTSOF(ap_limits_detect_fields); k++)
                        ap_buf_printf(&b, ",\"%s\":%s", ap_limits_detect_fields[k],
                                      strcmp(ap_limits_detect_fields[k], "warnings") == 0 ||
                                              strcmp(ap_limits_detect_fields[k], "notes") == 0
                                      ? "[]"
                                      : "null");
                ap_buf_puts(&b, ",\"error\":");
                ap_buf_json_string_or_null(&b, !s->probed ? "not probed yet" : s->error ? s->error : "target not found");
                ap_buf_puts(&b, "}");
        }
        ap_buf_puts(&b, "]\n");
        return buf_finish(&b, ret_text, ret_len);
}

/* ---------------------------------------------------------------------------------------------
 * Negotiation
 * ------------------------------------------------------------------------------------------- */

const char *ap_metrics_content_type(ApMetricsFormat fmt)
{
        return fmt == AP_METRICS_OPENMETRICS ?
                "application/openmetrics-text; version=1.0.0; charset=utf-8" :
                "text/plain; version=0.0.4; charset=utf-8";
}

/* The q-value of one media range's parameters ("; q=0.5; version=1.0.0"), and whether a version
 * parameter other than @want_version (NULL = any) rules it out. */
static double accept_q(const char *params, size_t len, const char *want_version, bool *ret_ok)
{
        double q = 1.0;

        *ret_ok = true;
        while (len > 0) {
                const char *semi = memchr(params, ';', len);
                size_t plen = semi ? (size_t)(semi - params) : len;
                char p[64];
                size_t k = 0;

                for (size_t i = 0; i < plen && k + 1 < sizeof(p); i++)
                        if (params[i] != ' ' && params[i] != '\t')
                                p[k++] = params[i];
                p[k] = '\0';
                if (strncmp(p, "q=", 2) == 0)
                        q = strtod(p + 2, NULL);
                else if (want_version && strncmp(p, "version=", 8) == 0 &&
                         strcmp(p + 8, want_version) != 0)
                        *ret_ok = false;
                if (!semi)
                        break;
                len -= plen + 1;
                params = semi + 1;
        }
        return q;
}

ApMetricsFormat ap_metrics_negotiate(const char *accept)
{
        double q_om = 0, q_text = 0;
        const char *p = accept;

        if (!accept)
                return AP_METRICS_PROMETHEUS;
        while (*p) {
                const char *comma = strchr(p, ',');
                size_t len = comma ? (size_t)(comma - p) : strlen(p);
                const char *semi = memchr(p, ';', len);
                size_t tlen = semi ? (size_t)(semi - p) : len;
                const char *params = semi ? semi + 1 : p + len;
                size_t plen = semi ? len - tlen - 1 : 0;
                bool ok;
                double q;

                while (tlen > 0 && (*p == ' ' || *p == '\t')) {
                        p++;
                        tlen--;
                }
                while (tlen > 0 && (p[tlen - 1] == ' ' || p[tlen - 1] == '\t'))
                        tlen--;
                if (tlen == 28 && strncasecmp(p, "application/openmetrics-text", 28) == 0) {
                        /* Only OpenMetrics 1.0.0 (or an unversioned range) is what we speak. */
                        q = accept_q(params, plen, "1.0.0", &ok);
                        if (ok && q > q_om)
                                q_om = q;
                } else if ((tlen == 10 && strncasecmp(p, "text/plain", 10) == 0) ||
                           (tlen == 3 && strncmp(p, "*/*", 3) == 0) ||
                           (tlen == 6 && strncasecmp(p, "text/*", 6) == 0)) {
                        q = accept_q(params, plen, NULL, &ok);
                        if (q > q_text)
                                q_text = q;
                }
                if (!comma)
                        break;
                p = comma + 1;
        }
        return q_om > 0 && q_om >= q_text ? AP_METRICS_OPENMETRICS : AP_METRICS_PROMETHEUS;
}

/* ---------------------------------------------------------------------------------------------
 * The daemon's own process
 * ------------------------------------------------------------------------------------------- */

static atomic_ullong boot_time;

int ap_process_stats_read(int proc_dir_fd, ApProcessStats *ret)
{
        _cleanup_close_ int fd = -1;
        char buf[1024], *p;
        unsigned long long utime, stime, starttime, btime = 0;
        long rss_pages;
        long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
        ssize_t n;
        int r;

        fd = openat(proc_dir_fd, "self/stat", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return AP_NEG_ERRNO();
        n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return n < 0 ? AP_NEG_ERRNO() : -EIO;
        buf[n] = '\0';
        /* Fields after the command name "(...)", which may hold spaces and parentheses. */
        p = strrchr(buf, ')');
        if (!p)
                return -EIO;
        /* state(3) ... utime(14) stime(15) ... starttime(22) vsize(23) rss(24) */
        if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
                          "%*d %*d %llu %*u %ld", &utime, &stime, &starttime, &rss_pages) != 4)
                return -EIO;

        /* The boot time never changes: /proc/stat (one line per CPU on a big host) is read once. */
        btime = atomic_load_explicit(&boot_time, memory_order_relaxed);
        if (btime == 0) {
                _cleanup_free_ char *stat = NULL;
                const char *v;
                size_t len, vl;
                uint64_t bt;

                r = ap_read_file_at(proc_dir_fd, "stat", 16u << 20, &stat, &len);
                if (r < 0)
                        return r;
                v = ap_lines_find_value(stat, len, "btime ", &vl);
                if (v && ap_parse_u64_n(v, vl, &bt) == 0)
                        btime = bt;
                atomic_store_explicit(&boot_time, btime, memory_order_relaxed);
        }
        if (btime == 0 || tck <= 0 || page <= 0)
                return -EIO;

        *ret = (ApProcessStats){
                .valid = true,
                .cpu_seconds = (double)(utime + stime) / (double)tck,
                .resident_bytes = (uint64_t)(rss_pages > 0 ? rss_pages : 0) * (uint64_t)page,
                .start_time_seconds = (double)btime + (double)starttime / (double)tck,
        };
        return 0;
}
