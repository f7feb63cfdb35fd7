/* SPDX-License-Identifier: MIT */
/*
 * daemon/autoprocsd/metrics.c as a pure function: golden exposition text in both formats, label escaping,
 * float formatting, Accept negotiation, monotonic counters over a source reset, /v1/limits JSON.
 */
#include <math.h>
#include <stdint.h>

#include "daemon/autoprocsd/metrics.h"
#include "tests/ap-test.h"

/* Two targets: a limited cgroup with throttling and PSI, and a lost pid never found. */
static ApSample *sample_limited(void)
{
        ApSample *s = ap_sample_new("cgroup:/sys/fs/cgroup/cpu/autoprocs-test-a");

        ck_assert_ptr_nonnull(s);
        s->probed = s->ok = true;
        s->has_limit = true;
        s->quota_seconds = 0.15;
        s->period_seconds = 0.1;
        s->limit_cores = 1.5;
        s->affinity_cpus = 2;
        s->recommended_procs = 2;
        s->has_throttling = s->has_usage = true;
        s->periods = 120;
        s->throttled_periods = 30;
        s->throttled_usec = 2500000;
        s->usage_usec = 100000;
        s->has_pressure = true;
        s->pressure_some_usec = 1234567;
        s->resizes_up = 1;
        s->probe_errors[AP_PROBE_KIND_DETECT] = 2;
        return s;
}

static ApSample *sample_lost(void)
{
        ApSample *s = ap_sample_new("pid:4242");

        ck_assert_ptr_nonnull(s);
        s->probed = true;
        s->ok = false;
        s->probe_errors[AP_PROBE_KIND_TARGET] = 5;
        return s;
}

static const char golden_prom[] =
        "# HELP autoprocs_build_info Build information of autoprocsd; the value is always 1.\n"
        "# TYPE autoprocs_build_info gauge\n"
        "autoprocs_build_info{version=\"9.9.9\"} 1\n"
        "# HELP autoprocs_target_up 1 when the last probe found the target (process, cgroup or root), else 0.\n"
        "# TYPE autoprocs_target_up gauge\n"
        "autoprocs_target_up{target=\"cgroup:/sys/fs/cgroup/cpu/autoprocs-test-a\"} 1\n"
        "autoprocs_target_up{target=\"pid:4242\"} 0\n"
        "# HELP autoprocs_cpu_limit_cores Binding CPU bandwidth limit (quota/period) in cores; absent while unlimited.\n"
        "# TYPE autoprocs_cpu_limit_cores gauge\n"
        "autoprocs_cpu_limit_cores{target=\"cgroup:/sys/fs/cgroup/cpu/autoprocs-test-a\"} 1.5\n"
        "# HELP autoprocs_cpu_quota_seconds Quota of the binding CPU bandwidth limit, in seconds per period.\n"
        "# TYPE autoprocs_cpu_quota_seconds gauge\n"
        "autoprocs_cpu_quota_seconds{target=\"cgroup:/sys/fs/cgroup/cpu/autoprocs-test-a\"} 0.15\n"
        "# HELP autoprocs_cpu_period_seconds Period of the binding CPU bandwidth limit, in seconds.\n"
        "# TYPE autoprocs_cpu_period_seconds gauge\n"
        "autoprocs_cpu_period_seconds{target=\"cgroup:/sys/fs/cgroup/cpu/autoprocs-test-a\"} 0.1\n"
        "# HELP autoprocs_affinity_cpus CPUs allowed by affinity and cpuset.\n"
        "# TYPE autoprocs_affinity_cpus gauge\n"
        "autoprocs_affinity_cpus{target=\"cgroup:/sys/fs/cgroup/cpu/autoprocs-test-a\"} 2\n"
        "# HELP autoprocs_recommended_procs Processor count recommended by the policy.\n"
        "# TYPE autoprocs_recommended_procs gauge\n"
        "autoprocs_recommended_procs{target=\"cgroup:/sys/fs/cgroup/cpu/autoprocs-test-a\"} 2\n"
        "# HELP autoprocs_cpu_periods_total CPU bandwidth enforcement periods elapsed (cpu.stat nr_periods).\n"
        "# TYPE autoprocs_cpu_periods_total counter\n"
        "autoprocs_cpu_periods_total{target=\"cgroup:/sys/fs/cgroup/cpu/autoprocs-test-a\"} 120\n"
        "# HELP autoprocs_cpu_throttled_periods_total Periods in which the cgroup was throttled (cpu.stat nr_throttled).\n"
        "# TYPE autoprocs_cpu_throttled_periods_total counter\n"
        "autoprocs_cpu_throttled_periods_total{target=\"cgroup:/sys/fs/cgroup/cpu/autoprocs-test-a\"} 30\n"
        "# HELP autoprocs_cpu_throttled_seconds_total Total time the cgroup was throttled, in seconds.\n"
        "# TYPE autoprocs_cpu_throttled_seconds_total counter\n"
        "autoprocs_cpu_throttled_seconds_total{target=\"cgroup:/sys/fs/cgroup/cpu/autoprocs-test-a\"} 2.5\n"
        "# HELP autoprocs_cpu_usage_seconds_total CPU time used by the cgroup, in seconds.\n"
        "# TYPE autoprocs_cpu_usage_seconds_total counter\n"
        "autoprocs_cpu_usage_seconds_total{target=\"cgroup:/sys/fs/cgroup/cpu/autoprocs-test-a\"} 0.1\n"
        "# HELP autoprocs_pressure_cpu_waiting_seconds_total Time some tasks of the cgroup waited for a CPU (PSI some total), in seconds.\n"
        "# TYPE autoprocs_pressure_cpu_waiting_seconds_total counter\n"
        "autoprocs_pressure_cpu_waiting_seconds_total{target=\"cgroup:/sys/fs/cgroup/cpu/autoprocs-test-a\"} 1.234567\n"
        "# HELP autoprocs_resizes_total Changes of the recommended (for target self: the runtime's live) processor count.\n"
        "# TYPE autoprocs_resizes_total counter\n"
        "autoprocs_resizes_total{target=\"cgroup:/sys/fs/cgroup/cpu/autoprocs-test-a\",direction=\"up\"} 1\n"
        "autoprocs_resizes_total{target=\"cgroup:/sys/fs/cgroup/cpu/autoprocs-test-a\",direction=\"down\"} 0\n"
        "autoprocs_resizes_total{target=\"pid:4242\",direction=\"up\"} 0\n"
        "autoprocs_resizes_total{target=\"pid:4242\",direction=\"down\"} 0\n"
        "# HELP autoprocs_probe_errors_total Probes of a target that failed, by what failed.\n"
        "# TYPE autoprocs_probe_errors_total counter\n"
        "autoprocs_probe_errors_total{target=\"cgroup:/sys/fs/cgroup/cpu/autoprocs-test-a\",probe=\"target\"} 0\n"
        "autoprocs_probe_errors_total{target=\"cgroup:/sys/fs/cgroup/cpu/autoprocs-test-a\",probe=\"detect\"} 2\n"
        "autoprocs_probe_errors_total{target=\"cgroup:/sys/fs/cgroup/cpu/autoprocs-test-a\",probe=\"cpu.stat\"} 0\n"
        "autoprocs_probe_errors_total{target=\"cgroup:/sys/fs/cgroup/cpu/autoprocs-test-a\",probe=\"cpu.pressure\"} 0\n"
        "autoprocs_probe_errors_total{target=\"pid:4242\",probe=\"target\"} 5\n"
        "autoprocs_probe_errors_total{target=\"pid:4242\",probe=\"detect\"} 0\n"
        "autoprocs_probe_errors_total{target=\"pid:4242\",probe=\"cpu.stat\"} 0\n"
        "autoprocs_probe_errors_total{target=\"pid:4242\",probe=\"cpu.pressure\"} 0\n"
        "# HELP autoprocs_runtime_procs Live processor count of the daemon's embedded M:N runtime.\n"
        "# TYPE autoprocs_runtime_procs gauge\n"
        "autoprocs_runtime_procs{target=\"self\"} 3\n"
        "# HELP autoprocs_runtime_tasks Tasks alive in the embedded runtime.\n"
        "# TYPE autoprocs_runtime_tasks gauge\n"
        "autoprocs_runtime_tasks 7\n"
        "# HELP autoprocs_runtime_threads OS threads of the embedded runtime (workers and monitor).\n"
        "# TYPE autoprocs_runtime_threads gauge\n"
        "autoprocs_runtime_threads 4\n"
        "# HELP autoprocs_runtime_steals_total Work-stealing events of the embedded runtime.\n"
        "# TYPE autoprocs_runtime_steals_total counter\n"
        "autoprocs_runtime_steals_total 11\n"
        "# HELP autoprocs_runtime_handoffs_total Processors handed off around blocking calls in the embedded runtime.\n"
        "# TYPE autoprocs_runtime_handoffs_total counter\n"
        "autoprocs_runtime_handoffs_total 13\n"
        "# HELP autoprocs_runtime_threads_peak Most OS threads the embedded runtime had at once (workers and monitor).\n"
        "# TYPE autoprocs_runtime_threads_peak gauge\n"
        "autoprocs_runtime_threads_peak 5\n"
        "# HELP autoprocs_runtime_polled_tasks Tasks of the embedded runtime parked on its netpoller (waiting for I/O without a thread).\n"
        "# TYPE autoprocs_runtime_polled_tasks gauge\n"
        "autoprocs_runtime_polled_tasks 17\n"
        "# HELP autoprocs_runtime_blocking_tasks Tasks of the embedded runtime inside blocking regions (each holds a thread).\n"
        "# TYPE autoprocs_runtime_blocking_tasks gauge\n"
        "autoprocs_runtime_blocking_tasks 2\n"
        "# HELP autoprocs_runtime_blocking_waiting_tasks Tasks waiting for a blocking slot (the bound on blocking regions is reached).\n"
        "# TYPE autoprocs_runtime_blocking_waiting_tasks gauge\n"
        "autoprocs_runtime_blocking_waiting_tasks 1\n"
        "# HELP autoprocs_runtime_blocking_peak_tasks Most tasks inside blocking regions at once.\n"
        "# TYPE autoprocs_runtime_blocking_peak_tasks gauge\n"
        "autoprocs_runtime_blocking_peak_tasks 8\n"
        "# HELP autoprocs_runtime_blocking_limit_tasks The bound on tasks inside blocking regions at once.\n"
        "# TYPE autoprocs_runtime_blocking_limit_tasks gauge\n"
        "autoprocs_runtime_blocking_limit_tasks 12\n"
        "# HELP autoprocs_runtime_pacing 1 while the embedded runtime paces itself to a fractional CPU limit.\n"
        "# TYPE autoprocs_runtime_pacing gauge\n"
        "autoprocs_runtime_pacing{target=\"self\"} 1\n"
        "# HELP autoprocs_runtime_pacing_share_cores CPU share the paced runtime's workers may use (the limit less headroom and the CPU of other threads and processes of the cgroup).\n"
        "# TYPE autoprocs_runtime_pacing_share_cores gauge\n"
        "autoprocs_runtime_pacing_share_cores{target=\"self\"} 1.425\n"
        "# HELP autoprocs_runtime_paced_seconds_total Time the embedded runtime's worker threads were held back by pacing, summed.\n"
        "# TYPE autoprocs_runtime_paced_seconds_total counter\n"
        "autoprocs_runtime_paced_seconds_total{target=\"self\"} 2.5\n"
        "# HELP autoprocs_runtime_pacing_holds_total Hold-backs of a worker thread by pacing (label how: at a scheduling point, or by the CPU-clock signal for a task without one).\n"
        "# TYPE autoprocs_runtime_pacing_holds_total counter\n"
        "autoprocs_runtime_pacing_holds_total{target=\"self\",how=\"scheduling_point\"} 7\n"
        "autoprocs_runtime_pacing_holds_total{target=\"self\",how=\"signal\"} 3\n"
        "# HELP autoprocs_runtime_hogs_total Tasks of the embedded runtime seen using 10 ms of CPU without a scheduling point.\n"
        "# TYPE autoprocs_runtime_hogs_total counter\n"
        "autoprocs_runtime_hogs_total 17\n"
        "# HELP autoprocs_runtime_hog_handoffs_total Processors of the embedded runtime handed from a hog to another thread.\n"
        "# TYPE autoprocs_runtime_hog_handoffs_total counter\n"
        "autoprocs_runtime_hog_handoffs_total 5\n"
        "# HELP autoprocs_runtime_hog_threads Threads of the embedded runtime running a hog without a processor.\n"
        "# TYPE autoprocs_runtime_hog_threads gauge\n"
        "autoprocs_runtime_hog_threads 1\n"
        "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
        "# TYPE process_cpu_seconds_total counter\n"
        "process_cpu_seconds_total 0.25\n"
        "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
        "# TYPE process_resident_memory_bytes gauge\n"
        "process_resident_memory_bytes 4096000\n"
        "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
        "# TYPE process_start_time_seconds gauge\n"
        "process_start_time_seconds 1700000000.5\n";

static void snapshot_two(ApSnapshot *snap, const ApSample *v[2])
{
        *snap = (ApSnapshot){
                .samples = v,
                .n_samples = 2,
                .has_runtime = true,
                .runtime = { .procs = 3, .threads = 4, .tasks_alive = 7, .steals = 11, .handoffs = 13,
                             .threads_peak = 5, .tasks_polled = 17, .tasks_blocking = 2,
                             .tasks_blocking_waiting = 1, .blocking_peak = 8, .blocking_cap = 12,
                             .pacing = 1, .pace_share_millicpus = 1425,
                             .pace_held_ns = 2500000000u, .pace_holds = 10,
                             .pace_signal_holds = 3, .hogs = 17, .hog_handoffs = 5,
                             .hog_threads = 1 },
                .process = { .valid = true, .cpu_seconds = 0.25, .resident_bytes = 4096000,
                             .start_time_seconds = 1700000000.5 },
                .version = "9.9.9",
        };
}

/* The first line where @a and @b differ, for a readable failure. */
static void assert_text_eq(const char *got, const char *want)
{
        size_t line = 1;
        const char *g = got, *w = want;

        while (*g && *g == *w) {
                if (*g == '\n')
                        line++;
                g++;
                w++;
        }
        ck_assert_msg(*g == '\0' && *w == '\0', "text differs at line %zu:\n got: %.120s\nwant: %.120s",
                      line, g, w);
}

START_TEST(test_golden_prometheus)
{
        ApSample *a = sample_limited(), *b = sample_lost();
        const ApSample *v[2] = { a, b };
        ApSnapshot snap;
        char *text = NULL;
        size_t len = 0;

        snapshot_two(&snap, v);
        ck_assert_int_eq(ap_metrics_render(&snap, AP_METRICS_PROMETHEUS, &text, &len), 0);
        ck_assert_uint_eq(len, strlen(text));
        assert_text_eq(text, golden_prom);
        free(text);
        ap_sample_unref(a);
        ap_sample_unref(b);
}
END_TEST

START_TEST(test_golden_openmetrics)
{
        ApSample *a = sample_limited(), *b = sample_lost();
        const ApSample *v[2] = { a, b };
        ApSnapshot snap;
        char *text = NULL;
        size_t len;

        snapshot_two(&snap, v);
        ck_assert_int_eq(ap_metrics_render(&snap, AP_METRICS_OPENMETRICS, &text, &len), 0);
        /* Ends with exactly one "# EOF\n". */
        ck_assert(len > 6 && strcmp(text + len - 6, "# EOF\n") == 0);
        ck_assert(strstr(text, "# EOF\n") == text + len - 6);
        /* Counter metadata without _total, samples with it. */
        ck_assert_ptr_nonnull(strstr(text, "# TYPE autoprocs_cpu_throttled_periods counter\n"));
        ck_assert_ptr_nonnull(strstr(text, "# HELP autoprocs_cpu_throttled_periods Periods"));
        ck_assert_ptr_nonnull(strstr(text, "\nautoprocs_cpu_throttled_periods_total{target="));
        ck_assert_ptr_null(strstr(text, "# TYPE autoprocs_cpu_throttled_periods_total"));
        /* Units of unit-suffixed families; none for unitless ones. */
        ck_assert_ptr_nonnull(strstr(text, "# UNIT autoprocs_cpu_throttled_seconds seconds\n"));
        ck_assert_ptr_nonnull(strstr(text, "# UNIT autoprocs_cpu_quota_seconds seconds\n"));
        ck_assert_ptr_nonnull(strstr(text, "# UNIT process_resident_memory_bytes bytes\n"));
        ck_assert_ptr_null(strstr(text, "# UNIT autoprocs_cpu_throttled_periods"));
        /* build_info is an info family. */
        ck_assert_ptr_nonnull(strstr(text, "# TYPE autoprocs_build info\nautoprocs_build_info{version=\"9.9.9\"} 1\n"));
        free(text);
        ap_sample_unref(a);
        ap_sample_unref(b);
}
END_TEST

START_TEST(test_escape)
{
        ApSample *s = ap_sample_new("root:/tmp/a\"b\\c\nd");
        const ApSample *v[1] = { s };
        ApSnapshot snap = { .samples = v, .n_samples = 1, .version = "x" };
        char *text, *e;

        ck_assert_int_eq(ap_metrics_escape_label("a\\b\"c\nd", &e), 0);
        ck_assert_str_eq(e, "a\\\\b\\\"c\\nd");
        free(e);
        ck_assert_int_eq(ap_metrics_escape_label("", &e), 0);
        ck_assert_str_eq(e, "");
        free(e);

        s->probed = s->ok = true;
        ck_assert_int_eq(ap_metrics_render(&snap, AP_METRICS_PROMETHEUS, &text, NULL), 0);
        ck_assert_ptr_nonnull(strstr(text, "autoprocs_target_up{target=\"root:/tmp/a\\\"b\\\\c\\nd\"} 1\n"));
        /* The raw newline never leaks into the output: every line is a comment or a sample. */
        for (char *line = text; *line;) {
                char *nl = strchr(line, '\n');

                ck_assert_ptr_nonnull(nl);
                ck_assert_msg(line[0] == '#' || strncmp(line, "autoprocs_", 10) == 0 ||
                              strncmp(line, "process_", 8) == 0, "bad line: %.*s", (int)(nl - line), line);
                line = nl + 1;
        }
        free(text);
        ap_sample_unref(s);
}
END_TEST

START_TEST(test_unprobed_and_unlimited)
{
        ApSample *s = ap_sample_new("self");
        const ApSample *v[1] = { s };
        ApSnapshot snap = { .samples = v, .n_samples = 1, .version = "x" };
        char *text;

        /* Not probed yet: no up series, no gauges; counters at 0 still present. */
        ck_assert_int_eq(ap_metrics_render(&snap, AP_METRICS_PROMETHEUS, &text, NULL), 0);
        ck_assert_ptr_null(strstr(text, "autoprocs_target_up"));
        ck_assert_ptr_null(strstr(text, "autoprocs_cpu_limit_cores"));
        ck_assert_ptr_nonnull(strstr(text, "autoprocs_resizes_total{target=\"self\",direction=\"up\"} 0\n"));
        ck_assert_ptr_null(strstr(text, "process_"));
        ck_assert_ptr_null(strstr(text, "autoprocs_runtime_"));
        free(text);

        /* Probed, unlimited: no limit series (absent while unlimited), affinity present. */
        s->probed = s->ok = true;
        s->affinity_cpus = 2;
        s->recommended_procs = 2;
        ck_assert_int_eq(ap_metrics_render(&snap, AP_METRICS_PROMETHEUS, &text, NULL), 0);
        ck_assert_ptr_null(strstr(text, "autoprocs_cpu_limit_cores"));
        ck_assert_ptr_null(strstr(text, "autoprocs_cpu_quota_seconds"));
        ck_assert_ptr_nonnull(strstr(text, "autoprocs_affinity_cpus{target=\"self\"} 2\n"));
        free(text);
        ap_sample_unref(s);
}
END_TEST

START_TEST(test_counter_monotonic)
{
        ApCounter c = { 0 };

        ck_assert_uint_eq(ap_counter_feed(&c, 100), 100);
        ck_assert_uint_eq(ap_counter_feed(&c, 150), 150);
        ck_assert_uint_eq(ap_counter_feed(&c, 150), 150);
        /* cgroup recreated: cpu.stat restarts at 0 and has counted 7 since. */
        ck_assert_uint_eq(ap_counter_feed(&c, 7), 157);
        ck_assert_uint_eq(ap_counter_feed(&c, 10), 160);
        ck_assert_uint_eq(ap_counter_feed(&c, 0), 160);
        ck_assert_uint_eq(ap_counter_feed(&c, 5), 165);
}
END_TEST

START_TEST(test_format_double)
{
        static const struct {
                double v;
                const char *s;
        } t[] = {
                { 0, "0" },          { 1, "1" },         { 0.1, "0.1" },
                { 1.5, "1.5" },      { 0.15, "0.15" },   { 123456789012.0, "123456789012" },
                { 1.234567, "1.234567" }, { 1e-9, "1.0000000000000001e-09" },
                { -2, "-2" },
        };
        char buf[64];

        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                ap_metrics_format_double(t[i].v, buf, sizeof(buf));
                ck_assert_double_eq(strtod(buf, NULL), t[i].v);
                if (t[i].v != 1e-9)
                        ck_assert_str_eq(buf, t[i].s);
        }
        ap_metrics_format_double(NAN, buf, sizeof(buf));
        ck_assert_str_eq(buf, "NaN");
        ap_metrics_format_double(INFINITY, buf, sizeof(buf));
        ck_assert_str_eq(buf, "+Inf");
        ap_metrics_format_double(-INFINITY, buf, sizeof(buf));
        ck_assert_str_eq(buf, "-Inf");
        ap_metrics_format_double(1e300, buf, sizeof(buf));
        ck_assert_double_eq(strtod(buf, NULL), 1e300);
}
END_TEST

START_TEST(test_negotiate)
{
        static const struct {
                const char *accept;
                ApMetricsFormat f;
        } t[] = {
                { NULL, AP_METRICS_PROMETHEUS },
                { "", AP_METRICS_PROMETHEUS },
                { "*/*", AP_METRICS_PROMETHEUS },
                { "text/plain", AP_METRICS_PROMETHEUS },
                { "application/openmetrics-text", AP_METRICS_OPENMETRICS },
                { "application/openmetrics-text; version=1.0.0; charset=utf-8", AP_METRICS_OPENMETRICS },
                { "application/openmetrics-text; version=0.0.1", AP_METRICS_PROMETHEUS },
                /* What Prometheus 2.42 sends. */
                { "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
                  "text/plain;version=0.0.4;q=0.5,*/*;q=0.1", AP_METRICS_OPENMETRICS },
                { "text/plain;version=0.0.4;q=1,application/openmetrics-text;version=1.0.0;q=0.5",
                  AP_METRICS_PROMETHEUS },
                { "application/openmetrics-text;q=0", AP_METRICS_PROMETHEUS },
                { "APPLICATION/OpenMetrics-Text ; q=0.9, text/plain;q=0.2", AP_METRICS_OPENMETRICS },
                { ",,, ;;;", AP_METRICS_PROMETHEUS },
        };

        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
                ck_assert_msg(ap_metrics_negotiate(t[i].accept) == t[i].f, "Accept: %s",
                              t[i].accept ? t[i].accept : "(none)");
        ck_assert_str_eq(ap_metrics_content_type(AP_METRICS_PROMETHEUS),
                         "text/plain; version=0.0.4; charset=utf-8");
        ck_assert_str_eq(ap_metrics_content_type(AP_METRICS_OPENMETRICS),
                         "application/openmetrics-text; version=1.0.0; charset=utf-8");
}
END_TEST

START_TEST(test_limits_json)
{
        ApSample *a = ap_sample_new("self"), *b = ap_sample_new("pid:\"7");
        const ApSample *v[2] = { a, b };
        ApSnapshot snap = { .samples = v, .n_samples = 2 };
        char *text;
        size_t len;

        a->probed = a->ok = true;
        a->json = strdup("{\"target\":\"self\",\"procs\":2}");
        ck_assert_int_eq(ap_limits_render_json(&snap, &text, &len), 0);
        ck_assert_str_eq(text, "[{\"target\":\"self\",\"procs\":2},"
                               "{\"target\":\"pid:\\\"7\",\"cgroup_version\":null,\"cgroup_path\":null,"
                               "\"limit\":null,\"limit_file\":null,\"affinity_cpus\":null,"
                               "\"affinity_source\":null,\"procs\":null,\"policy\":null,"
                               "\"throttling\":null,\"pressure\":null,\"warnings\":[],\"notes\":[],"
                               "\"error\":\"not probed yet\"}]\n");
        free(text);
        snap.n_samples = 0;
        ck_assert_int_eq(ap_limits_render_json(&snap, &text, &len), 0);
        ck_assert_str_eq(text, "[]\n");
        free(text);
        ap_sample_unref(a);
        ap_sample_unref(b);
}
END_TEST

/* A lost target's object has the keys of a found one: those autoprocs_facts_to_json() writes. */
START_TEST(test_limits_fields)
{
        autoprocs_config *c = NULL;
        autoprocs_facts *facts = NULL;
        char *json = NULL, root[4200];
        const char *p;
        size_t k = 0;

        snprintf(root, sizeof(root), "%s/tests/fixtures/v2-quota-1.5", AP_SOURCE_ROOT);
        ck_assert_int_eq(autoprocs_config_new(&c), 0);
        ck_assert_int_eq(autoprocs_config_set_root(c, root), 0);
        ck_assert_int_eq(autoprocs_detect(c, &facts), 0);
        ck_assert_int_eq(autoprocs_facts_to_json(facts, &json), 0);
        /* Each field, in order (tests/abuse/test-abuse-lost.py compares whole key sets). */
        p = json;
        for (k = 0; k < sizeof(ap_limits_detect_fields) / sizeof(ap_limits_detect_fields[0]); k++) {
                char key[64];

                snprintf(key, sizeof(key), "\"%s\":", ap_limits_detect_fields[k]);
                p = strstr(p, key);
                ck_assert_msg(p != NULL, "%s missing or out of order in %s", key, json);
        }
        ck_assert_uint_eq(k, sizeof(ap_limits_detect_fields) / sizeof(ap_limits_detect_fields[0]));
        free(json);
        autoprocs_facts_free(facts);
        autoprocs_config_free(c);
}
END_TEST

START_TEST(test_process_stats)
{
        ApProcessStats st;
        int fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(ap_process_stats_read(fd, &st), 0);
        ck_assert(st.valid);
        ck_assert(st.resident_bytes > 0);
        ck_assert(st.start_time_seconds > 1e9);
        ck_assert(st.cpu_seconds >= 0);
        close(fd);
}
END_TEST

static Suite *metrics_suite(void)
{
        Suite *s = suite_create("metrics");
        TCase *tc = tcase_create("render");

        tcase_add_test(tc, test_golden_prometheus);
        tcase_add_test(tc, test_limits_fields);
        tcase_add_test(tc, test_golden_openmetrics);
        tcase_add_test(tc, test_escape);
        tcase_add_test(tc, test_unprobed_and_unlimited);
        tcase_add_test(tc, test_counter_monotonic);
        tcase_add_test(tc, test_format_double);
        tcase_add_test(tc, test_negotiate);
        tcase_add_test(tc, test_limits_json);
        tcase_add_test(tc, test_process_stats);
        suite_add_tcase(s, tc);
        return s;
}

int main(void)
{
        return ap_test_run(metrics_suite());
}
