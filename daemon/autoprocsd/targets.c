/* SPDX-License-Identifier: MIT */
/*
 * Targets and the snapshot store (see targets.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "daemon/autoprocsd/log.h"
#include "daemon/autoprocsd/node-agent.h"
#include "daemon/autoprocsd/targets.h"
#include "daemon/common/publish.h"
#include "lib/util/clock.h"
#include "lib/util/json.h"
#include "lib/util/macro.h"
#include "lib/util/parse.h"
#include "lib/watch.h"

/* A stop is noticed within one slice of sleep. */
#define SLEEP_SLICE_NS (1000ull * 1000 * 1000)

typedef struct ApTarget {
        ApTargets *set;
        ApTargetSpec spec;
        atomic_bool stop;

        /* Sampler state: touched only by the target's own task (or ap_targets_probe_now). */
        pthread_mutex_t probe_lock;   /* serialises a task tick and a probe_now */
        ApCounter periods, throttled, throttled_usec, usage, psi_some, psi_full;
        bool has_throttling, has_usage, has_pressure, has_pressure_full;
        enum { STATE_NEW, STATE_FOUND, STATE_LOST, STATE_FAILED } state;
        bool has_limit;
        uint64_t quota_us, period_us;
        unsigned procs, affinity;
        uint64_t resizes_up, resizes_down;
        uint64_t probe_errors[AP_PROBE_KIND_MAX];
        char *published;              /* content of the last --publish write that succeeded */
        bool publish_failed;
        uint64_t publish_errors;      /* --publish writes that failed */

        ApSample *sample;             /* current; guarded by set->lock */

        /* The cheap re-reading of the resolved target (lib/watch.h): made after a detection that
         * found it, dropped when it is lost, its pid or the policy changes, or detection fails. */
        ApWatch *watch;
        int watch_pid;
        autoprocs_policy watch_policy;
        char *json;                   /* the facts' JSON of the last detection (autoprocs_facts_to_json) */
        uint64_t json_at_ns;

        /* Discovery targets (kubepods, cgroup-tree): the agent, touched by the task only, and the
         * current samples ([0] = sample, then the containers'), guarded by set->lock. */
        ApNodeAgent *agent;
        ApSample **children;
        size_t n_children;
        pthread_t thread;             /* a discovery target's own thread */
        bool has_thread;
} ApTarget;

struct ApTargets {
        pthread_mutex_t lock;         /* guards targets[]'s samples, n, generation, options */
        ApTarget **targets;
        size_t n;
        uint64_t generation;
        atomic_uint_least64_t last_publish_ns;
        uint64_t interval_ns;
        autoprocs_policy policy;
        ApPublishDir *publish;        /* --publish DIR, opened once; NULL = none */
        char *pod_logs_dir;
        /* the one task that probes every target but the discovery ones, every interval */
        autoprocs_task *ticker;
        atomic_bool ticker_stop;
};

/* ---------------------------------------------------------------------------------------------
 * One probe
 * ------------------------------------------------------------------------------------------- */

/* Does /proc/PID/comm read NAME? */
static bool comm_is(int pid, const char *name)
{
        char path[64], buf[64];
        ssize_t n;
        int fd;

        (void)snprintf(path, sizeof(path), "/proc/%d/comm", pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        n = read(fd, buf, sizeof(buf) - 1);
        (void)close(fd);
        if (n <= 0)
                return false;
        buf[n] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        return strcmp(buf, name) == 0;
}

/* The lowest pid (not ours) whose comm is @name; the one found last is tried first. */
static int comm_find(const char *name, int last)
{
        DIR *d;
        struct dirent *de;
        int best = 0;

        if (last > 0 && comm_is(last, name))
                return last;
        d = opendir("/proc");
        if (!d)
                return 0;
        while ((de = readdir(d))) {
                unsigned pid;

                if (ap_parse_uint_range(de->d_name, 1, 0x7fffffff, &pid) < 0 || (int)pid == getpid())
                        continue;
                if ((best == 0 || (int)pid < best) && comm_is((int)pid, name))
                        best = (int)pid;
        }
        (void)closedir(d);
        return best;
}

/* Is the target there at all?  Existence only: what it holds is the probes' business. */
static bool target_exists(const ApTargetSpec *spec)
{
        char path[64];

        switch (spec->kind) {
        case AP_TARGET_COMM:
                return spec->pid > 0;
        case AP_TARGET_SELF:
                return true;
        case AP_TARGET_PID:
                (void)snprintf(path, sizeof(path), "/proc/%d", spec->pid);
                return access(path, F_OK) == 0;
        case AP_TARGET_CGROUP:
        case AP_TARGET_ROOT:
        case AP_TARGET_KUBEPODS:
        case AP_TARGET_CGROUP_TREE:
                return access(spec->path, F_OK) == 0;
        }
        return false;
}

static int make_config(const ApTargetSpec *spec, autoprocs_policy policy, autoprocs_config **ret)
{
        autoprocs_config *c = NULL;
        int r;

        r = autoprocs_config_new(&c);
        if (r < 0)
                return r;
        r = autoprocs_config_set_policy(c, policy);
        if (r >= 0 && (spec->kind == AP_TARGET_PID || spec->kind == AP_TARGET_COMM))
                r = autoprocs_config_set_pid(c, spec->pid);
        else if (r >= 0 && spec->kind == AP_TARGET_CGROUP)
                r = autoprocs_config_set_cgroup_dir(c, spec->path);
        else if (r >= 0 && spec->kind == AP_TARGET_ROOT)
                r = autoprocs_config_set_root(c, spec->path);
        if (r < 0) {
                autoprocs_config_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

/* The facts' JSON with "target" (and "runtime_procs" for self) in front.  malloc'd or NULL. */
/* @facts_json (of the last detection) with "target" and, for self, the runtime's processor count
 * now in front: made for every sample (the runtime resizes between detections). */
static char *target_json(const ApTarget *t, const char *facts_json)
{
        ApBuf b = AP_BUF_NULL;
        char *out = NULL;
        const char *rest = facts_json[0] == '{' ? facts_json + 1 : facts_json;

        ap_buf_puts(&b, "{\"target\":");
        ap_buf_json_string_or_null(&b, t->spec.label);
        if (t->spec.kind == AP_TARGET_SELF && autoprocs_procs() > 0)
                ap_buf_printf(&b, ",\"runtime_procs\":%u", autoprocs_procs());
        if (*rest != '}')
                ap_buf_puts(&b, ",");
        ap_buf_puts(&b, rest);
        return ap_buf_steal(&b, &out) < 0 ? NULL : out;
}

static void describe_limit(const ApTarget *t, char *buf, size_t size)
{
        if (t->has_limit)
                (void)snprintf(buf, size, "limit %.3g CPU%s (quota %" PRIu64 " us per %" PRIu64
                               " us), affinity %u, recommend %u processor%s",
                               (double)t->quota_us / (double)t->period_us,
                               t->quota_us == t->period_us ? "" : "s", t->quota_us, t->period_us,
                               t->affinity, t->procs, t->procs == 1 ? "" : "s");
        else
                (void)snprintf(buf, size, "no CPU limit, affinity %u, recommend %u processor%s",
                               t->affinity, t->procs, t->procs == 1 ? "" : "s");
}

static void publish(ApTarget *t, const ApPublishDir *pd)
{
        const char *dir = ap_publish_dir_path(pd);
        char *content;
        int r;

        content = ap_publish_content(t->spec.label, t->procs, t->has_limit,
                                     t->has_limit ? (double)t->quota_us / (double)t->period_us : 0);
        if (!content)
                return;
        if (t->published && strcmp(t->published, content) == 0) {
                free(content);
                return;
        }
        r = ap_publish_write(pd, t->spec.label, content);
        if (r < 0) {
                t->publish_errors++;
                if (!t->publish_failed)
                        ap_daemon_log(AUTOPROCS_LOG_WARNING, "publish-failed", t->spec.label,
                                      "target %s: cannot write its file in %s: %s", t->spec.label, dir,
                                      strerror(-r));
                t->publish_failed = true;
                free(content);
                return;
        }
        if (t->publish_failed)
                ap_daemon_log(AUTOPROCS_LOG_NOTICE, "publish-ok", t->spec.label,
                              "target %s: its file in %s is written again", t->spec.label, dir);
        t->publish_failed = false;
        free(t->published);
        t->published = content;
}

/* What one probe read: the facts (NULL when the target is not there or detection failed). */
typedef struct ProbeRead {
        bool exists;
        int r;                        /* detection or the watch: 0 or -errno */
        ApWatchResult res;            /* the limit, recommendation and affinity (when r is 0) */
        autoprocs_facts *facts;       /* when a full detection ran this time */
        int r_th, r_pr;               /* 0 when th / pr hold values */
        autoprocs_throttling th;
        autoprocs_pressure pr;
} ProbeRead;

/* A full detection runs at the first probe, on every change the watch sees, and this often: its
 * verdict (e.g. a process whose cgroup cannot be verified: -EACCES) and the facts' JSON of
 * /v1/limits.  Between, a probe is the watch's cached reads. */
#define DETECT_REFRESH_NS (30ull * 1000 * 1000 * 1000)

static int detect_now(ApTarget *t, autoprocs_policy policy, autoprocs_facts **ret)
{
        autoprocs_config *config = NULL;
        char *json;
        int r;

        r = make_config(&t->spec, policy, &config);
        if (r >= 0)
                r = autoprocs_detect(config, ret);
        autoprocs_config_free(config);
        if (r < 0)
                return r;
        if (autoprocs_facts_to_json(*ret, &json) == 0) {
                free(t->json);
                t->json = json;
        }
        t->json_at_ns = ap_now_ns();
        return 0;
}

static int watch_open(ApTarget *t, autoprocs_policy policy, uint64_t interval_ns)
{
        autoprocs_config *config = NULL;
        uint64_t ms = interval_ns / 1000000u;
        int r;

        r = make_config(&t->spec, policy, &config);
        if (r < 0)
                return r;
        /* the watch re-reads the affinity every tick at intervals >= 100 ms */
        (void)autoprocs_config_set_interval_ns(config, (uint64_t)AP_MIN(AP_MAX(ms, 10u), 3600000u) * 1000000u);
        r = ap_watch_new(config, &t->watch);
        autoprocs_config_free(config);
        if (r < 0)
                return r;
        t->watch_pid = t->spec.pid;
        t->watch_policy = policy;
        return 0;
}

static void counters_read(ApTarget *t, ProbeRead *ret)
{
        ApWatchCounters ctr;

        if (ap_watch_counters(t->watch, &ctr) < 0)
                return;
        if (ctr.has_stat && ctr.stat.has_throttling) {
                ret->r_th = 0;
                ret->th = (autoprocs_throttling){
                        .nr_periods = ctr.stat.nr_periods,
                        .nr_throttled = ctr.stat.nr_throttled,
                        .throttled_ns = ctr.stat.throttled_usec * 1000u,
                        .has_usage = ctr.stat.has_usage,
                        .usage_ns = ctr.stat.usage_usec * 1000u,
                };
        }
        if (ctr.has_psi) {
                ret->r_pr = 0;
                ret->pr = (autoprocs_pressure){
                        .some_total_ns = ctr.psi.some.total_usec * 1000u,
                        .has_full = ctr.psi.has_full,
                        .full_total_ns = ctr.psi.full.total_usec * 1000u,
                };
        }
}

/* A full detection of @t, then its watch opened on what it found. */
static int resolve(ApTarget *t, autoprocs_policy policy, uint64_t interval_ns, autoprocs_facts **ret_facts)
{
        int r = detect_now(t, policy, ret_facts);

        return r < 0 ? r : watch_open(t, policy, interval_ns);
}

/* Every file read of a probe (the ticker holds a blocking region around the whole round). */
static void probe_read(ApTarget *t, autoprocs_policy policy, uint64_t interval_ns, ProbeRead *ret)
{
        *ret = (ProbeRead){ .r_th = -ENODATA, .r_pr = -ENODATA };
        if (t->spec.kind == AP_TARGET_COMM) {
                int pid = comm_find(t->spec.path, t->spec.pid);

                if (pid > 0 && pid != t->spec.pid)
                        ap_daemon_log(AUTOPROCS_LOG_INFO, "target-process", t->spec.label,
                                      "target %s: process %d", t->spec.label, pid);
                t->spec.pid = pid;
        }
        ret->exists = target_exists(&t->spec);
        if (t->watch && (!ret->exists || t->watch_pid != t->spec.pid || t->watch_policy != policy))
                t->watch = ap_watch_free(t->watch);
        if (!ret->exists)
                return;
        if (!t->watch) {
                ret->r = resolve(t, policy, interval_ns, &ret->facts);
                if (ret->r < 0)
                        return;
        }
        (void)ap_watch_tick(t->watch, 0, &ret->res);
        if ((ret->res.flags & AP_WATCH_FAILED) && !ret->facts) {
                /* What the watch had open is gone: resolve afresh, as a first probe does. */
                t->watch = ap_watch_free(t->watch);
                ret->r = resolve(t, policy, interval_ns, &ret->facts);
                if (ret->r < 0)
                        return;
                (void)ap_watch_tick(t->watch, 0, &ret->res);
        }
        if (ret->res.flags & AP_WATCH_FAILED) {
                ret->r = -EIO;
                t->watch = ap_watch_free(t->watch);
                return;
        }
        if (!ret->facts && (ret->res.flags || ap_now_ns() - t->json_at_ns >= DETECT_REFRESH_NS)) {
                ret->r = detect_now(t, policy, &ret->facts);
                if (ret->r < 0) {
                        t->watch = ap_watch_free(t->watch);
                        return;
                }
        }
        counters_read(t, ret);
}

/* The target is not there, or detection failed: count it, log the first time. */
static void target_failed(ApTarget *t, bool lost, int r)
{
        t->probe_errors[lost ? AP_PROBE_KIND_TARGET : AP_PROBE_KIND_DETECT]++;
        if (lost && t->state != STATE_LOST)
                ap_daemon_log(t->state == STATE_NEW ? AUTOPROCS_LOG_NOTICE : AUTOPROCS_LOG_WARNING,
                              "target-lost", t->spec.label, "target %s: %s; retrying every interval",
                              t->spec.label, t->state == STATE_NEW ? "not there (yet)" : "gone");
        else if (!lost && t->state != STATE_FAILED && r == -EACCES)
                ap_daemon_log(AUTOPROCS_LOG_WARNING, "probe-failed", t->spec.label,
                              "target %s: process %d: its cgroup is unknown: /proc/%d/root is not "
                              "accessible (run as its uid and gid, or with CAP_SYS_PTRACE) and our own "
                              "mounts do not show its cgroup; retrying every interval",
                              t->spec.label, t->spec.pid, t->spec.pid);
        else if (!lost && t->state != STATE_FAILED)
                ap_daemon_log(AUTOPROCS_LOG_WARNING, "probe-failed", t->spec.label,
                              "target %s: detection failed: %s; retrying every interval",
                              t->spec.label, strerror(-r));
        t->state = lost ? STATE_LOST : STATE_FAILED;
}

/* Why a target that is there has no sample, for /v1/limits (static text). */
static const char *failure_text(int r)
{
        return r == -EACCES ? "cgroup unknown: /proc/PID/root is not accessible and our mounts do not "
                              "show the process's cgroup"
                            : "detection failed";
}

/* The target was read: take its limit and recommendation, count resizes, log what changed. */
static void target_found(ApTarget *t, const ApWatchResult *res)
{
        bool has_limit = res->has_limit;
        uint64_t quota = has_limit ? res->quota_us : 0;
        uint64_t period = has_limit ? res->period_us : 0;
        unsigned procs = res->procs;
        unsigned affinity = res->affinity;
        bool first = t->state == STATE_NEW;
        bool changed = has_limit != t->has_limit || quota != t->quota_us ||
                       period != t->period_us || procs != t->procs || affinity != t->affinity;
        char what[256];

        if (!first && t->state == STATE_FOUND && procs != t->procs && procs > 0 && t->procs > 0) {
                if (procs > t->procs)
                        t->resizes_up++;
                else
                        t->resizes_down++;
        }
        t->has_limit = has_limit;
        t->quota_us = quota;
        t->period_us = period;
        t->procs = procs;
        t->affinity = affinity;
        describe_limit(t, what, sizeof(what));
        if (t->state != STATE_FOUND)
                ap_daemon_log(AUTOPROCS_LOG_INFO, "target-found", t->spec.label, "target %s: %s%s",
                              t->spec.label, first ? "" : "found again: ", what);
        else if (changed && t->spec.kind != AP_TARGET_SELF) /* self: the library logs it */
                ap_daemon_log(AUTOPROCS_LOG_INFO, "limit-changed", t->spec.label, "target %s: %s",
                              t->spec.label, what);
        t->state = STATE_FOUND;
}

/* Feed cpu.stat and PSI into the monotonic counters; a source that was there and now fails is
 * a probe error. */
static void counters_feed(ApTarget *t, const ProbeRead *pr, bool had_throttling, bool had_pressure)
{
        if (pr->r_th == 0) {
                t->has_throttling = true;
                ap_counter_feed(&t->periods, pr->th.nr_periods);
                ap_counter_feed(&t->throttled, pr->th.nr_throttled);
                ap_counter_feed(&t->throttled_usec, pr->th.throttled_ns / 1000u);
                if (pr->th.has_usage) {
                        t->has_usage = true;
                        ap_counter_feed(&t->usage, pr->th.usage_ns / 1000u);
                }
        } else if (had_throttling) {
                t->probe_errors[AP_PROBE_KIND_CPU_STAT]++;
        }
        if (pr->r_pr == 0) {
                t->has_pressure = true;
                ap_counter_feed(&t->psi_some, pr->pr.some_total_ns / 1000u);
                if (pr->pr.has_full) {
                        t->has_pressure_full = true;
                        ap_counter_feed(&t->psi_full, pr->pr.full_total_ns / 1000u);
                }
        } else if (had_pressure) {
                t->probe_errors[AP_PROBE_KIND_PRESSURE]++;
        }
}

/* The sample's limit part, from a target just found. */
static void sample_set_limit(ApSample *s, const ApTarget *t)
{
        s->ok = true;
        s->has_limit = t->has_limit;
        if (t->has_limit && t->period_us > 0) {
                s->quota_seconds = (double)t->quota_us / 1e6;
                s->period_seconds = (double)t->period_us / 1e6;
                s->limit_cores = (double)t->quota_us / (double)t->period_us;
        }
        s->affinity_cpus = t->affinity;
        s->recommended_procs = t->procs;
        s->json = t->json ? target_json(t, t->json) : NULL;
}

/* The sample's counters, kept across failures. */
static void sample_set_counters(ApSample *s, const ApTarget *t)
{
        s->has_throttling = t->has_throttling;
        s->has_usage = t->has_usage;
        s->periods = t->periods.total;
        s->throttled_periods = t->throttled.total;
        s->throttled_usec = t->throttled_usec.total;
        s->usage_usec = t->usage.total;
        s->has_pressure = t->has_pressure;
        s->has_pressure_full = t->has_pressure_full;
        s->pressure_some_usec = t->psi_some.total;
        s->pressure_full_usec = t->psi_full.total;
        s->resizes_up = t->resizes_up;
        s->resizes_down = t->resizes_down;
        if (s->is_self) {
                autoprocs_stats st;

                /* The runtime's live resizes are what "resize" means for the daemon itself. */
                if (autoprocs_stats_get(&st, sizeof(st)) == 0) {
                        s->resizes_up = st.resizes_up;
                        s->resizes_down = st.resizes_down;
                }
        }
        memcpy(s->probe_errors, t->probe_errors, sizeof(s->probe_errors));
}

/* Read everything about @t; returns the new sample (NULL on ENOMEM). */
static ApSample *probe(ApTarget *t, autoprocs_policy policy, uint64_t interval_ns,
                       const ApPublishDir *publish_dir)
{
        bool had_throttling = t->has_throttling, had_pressure = t->has_pressure;
        ProbeRead pr;
        ApSample *s;

        s = ap_sample_new(t->spec.label);
        if (!s)
                return NULL;
        s->probed = true;
        s->is_self = t->spec.kind == AP_TARGET_SELF;

        probe_read(t, policy, interval_ns, &pr);
        if (!pr.exists || pr.r < 0) {
                target_failed(t, !pr.exists, pr.r);
                s->ok = false;
                s->error = pr.exists ? failure_text(pr.r) : NULL;
        } else {
                target_found(t, &pr.res);
                counters_feed(t, &pr, had_throttling, had_pressure);
                sample_set_limit(s, t);
                if (publish_dir)
                        publish(t, publish_dir);
        }
        autoprocs_facts_free(pr.facts);
        sample_set_counters(s, t);
        s->has_publish = publish_dir != NULL;
        s->publish_errors = t->publish_errors;
        s->publish_failing = publish_dir && t->publish_failed;
        return s;
}

static void store(ApTarget *t, ApSample *s)
{
        ApTargets *set = t->set;
        ApSample *old;

        pthread_mutex_lock(&set->lock);
        old = t->sample;
        t->sample = s;
        set->generation++;
        pthread_mutex_unlock(&set->lock);
        atomic_store(&set->last_publish_ns, ap_now_ns());
        ap_sample_unref(old);
}

static void tick(ApTarget *t)
{
        ApTargets *set = t->set;
        autoprocs_policy policy;
        uint64_t interval;
        ApPublishDir *dir;
        ApSample *s;

        pthread_mutex_lock(&set->lock);
        policy = set->policy;
        interval = set->interval_ns;
        dir = ap_publish_dir_ref(set->publish);
        pthread_mutex_unlock(&set->lock);

        pthread_mutex_lock(&t->probe_lock);
        s = probe(t, policy, interval, dir);
        pthread_mutex_unlock(&t->probe_lock);
        ap_publish_dir_unref(dir);
        if (s)
                store(t, s);
}

static bool is_discovery(const ApTargetSpec *spec)
{
        return spec->kind == AP_TARGET_KUBEPODS || spec->kind == AP_TARGET_CGROUP_TREE;
}

/* Publish the agent's samples as the target's. */
static void store_children(ApTarget *t)
{
        ApTargets *set = t->set;
        ApSample **v, **old, *old_sample;
        size_t n, n_old;

        if (ap_node_agent_samples(t->agent, &v, &n) < 0)
                return;
        pthread_mutex_lock(&set->lock);
        old = t->children;
        n_old = t->n_children;
        old_sample = t->sample;
        t->children = v;
        t->n_children = n;
        t->sample = ap_sample_ref(v[0]);
        set->generation++;
        pthread_mutex_unlock(&set->lock);
        atomic_store(&set->last_publish_ns, ap_now_ns());
        ap_sample_unref(old_sample);
        for (size_t i = 0; i < n_old; i++)
                ap_sample_unref(old[i]);
        free(old);
}

/*
 * A discovery target: one thread for all its containers.  It waits on the inotify fd until the
 * next tick, applies events at once (a new container is read and published right away, a removed
 * one dropped), and reads every container in one batch per interval.  A thread of its own, not a
 * task of the runtime: a task blocked in poll() keeps the runtime's monitor polling its P (every
 * 50 us, backing off to 10 ms) for the whole wait, which cost more than the reads themselves
 * (1,000 containers: 3.5 % of a core against 0.8 %).
 */
static void *discovery_main(void *arg)
{
        ApTarget *t = arg;
        uint64_t next = 0;

        /* Below the HTTP thread, as the renderer: a batch of reads never delays a scrape. */
        (void)setpriority(PRIO_PROCESS, (id_t)gettid(), getpriority(PRIO_PROCESS, 0) + 5);

        while (!atomic_load(&t->stop)) {
                struct pollfd p = { .events = POLLIN };
                autoprocs_policy policy;
                uint64_t interval, now = ap_now_ns(), wait_ns;

                pthread_mutex_lock(&t->set->lock);
                interval = t->set->interval_ns;
                policy = t->set->policy;
                pthread_mutex_unlock(&t->set->lock);
                if (now >= next) {
                        ap_node_agent_tick(t->agent, policy, interval);
                        store_children(t);
                        next = next + interval > now ? next + interval : now + interval;
                        continue;
                }
                wait_ns = AP_MIN(next - now, SLEEP_SLICE_NS / 4);
                p.fd = ap_node_agent_fd(t->agent);
                if (poll(&p, p.fd >= 0 ? 1 : 0, (int)((wait_ns + 999999) / 1000000)) > 0 &&
                    ap_node_agent_events(t->agent, policy))
                        store_children(t);
        }
        return NULL;
}

/*
 * The ticker: one task probes every target but the discovery ones, one after the other, once per
 * interval, all in one blocking region.  One wake-up per interval whatever the number of targets
 * (a task per target woke the runtime once per target, and each wake-up cost more than the
 * probe).
 */
static void ticker_loop(void *arg)
{
        ApTargets *set = arg;
        uint64_t next = ap_now_ns();

        while (!atomic_load(&set->ticker_stop)) {
                uint64_t interval, now;
                ApTarget **v;
                size_t n = 0;

                pthread_mutex_lock(&set->lock);
                interval = set->interval_ns;
                v = calloc(set->n ? set->n : 1, sizeof(*v));
                for (size_t i = 0; v && i < set->n; i++)
                        if (!set->targets[i]->agent)
                                v[n++] = set->targets[i];
                pthread_mutex_unlock(&set->lock);
                /* the set's targets stay while the ticker runs: ap_targets_apply() stops it first */
                autoprocs_block_begin();
                for (size_t i = 0; i < n && !atomic_load(&set->ticker_stop); i++)
                        tick(v[i]);
                autoprocs_block_end();
                free(v);
                now = ap_now_ns();
                next = next + interval > now ? next + interval : now + interval;
                while (now < next && !atomic_load(&set->ticker_stop)) {
                        autoprocs_sleep_ns(AP_MIN(next - now, SLEEP_SLICE_NS / 2));
                        now = ap_now_ns();
                }
        }
}

static void ticker_stop(ApTargets *set)
{
        atomic_store(&set->ticker_stop, true);
        if (set->ticker) {
                (void)autoprocs_task_join(set->ticker);
                set->ticker = NULL;
        }
        atomic_store(&set->ticker_stop, false);
}

static int ticker_start(ApTargets *set)
{
        bool any = false;

        for (size_t i = 0; i < set->n && !any; i++)
                any = !set->targets[i]->agent;
        if (!any || set->ticker)
                return 0;
        return autoprocs_spawn(ticker_loop, set, &set->ticker);
}

/* ---------------------------------------------------------------------------------------------
 * The set
 * ------------------------------------------------------------------------------------------- */

static ApTarget *target_free(ApTarget *t)
{
        if (!t)
                return NULL;
        ap_target_spec_done(&t->spec);
        ap_sample_unref(t->sample);
        t->watch = ap_watch_free(t->watch);
        free(t->json);
        for (size_t i = 0; i < t->n_children; i++)
                ap_sample_unref(t->children[i]);
        free(t->children);
        t->agent = ap_node_agent_free(t->agent);
        free(t->published);
        pthread_mutex_destroy(&t->probe_lock);
        free(t);
        return NULL;
}

static ApTarget *target_new(ApTargets *set, const ApTargetSpec *spec)
{
        ApTarget *t = calloc(1, sizeof(*t));

        if (!t)
                return NULL;
        t->set = set;
        pthread_mutex_init(&t->probe_lock, NULL);
        t->spec.kind = spec->kind;
        t->spec.pid = spec->pid;
        t->spec.label = strdup(spec->label);
        t->spec.path = spec->path ? strdup(spec->path) : NULL;
        t->sample = ap_sample_new(spec->label); /* not probed yet: /readyz says 503 */
        if (!t->spec.label || (spec->path && !t->spec.path) || !t->sample)
                return target_free(t);
        if (is_discovery(spec)) {
                ApNodeAgentOptions o = {
                        .mode = spec->kind == AP_TARGET_KUBEPODS ? AP_DISCOVERY_KUBEPODS : AP_DISCOVERY_TREE,
                        .dir = spec->path,
                        .label = spec->label,
                        .pod_logs_dir = spec->kind == AP_TARGET_KUBEPODS ? set->pod_logs_dir : NULL,
                };

                if (ap_node_agent_new(&o, &t->agent) < 0)
                        return target_free(t);
        }
        atomic_init(&t->stop, false);
        return t;
}

static void target_stop(ApTarget *t)
{
        atomic_store(&t->stop, true);
        if (t->has_thread) {
                (void)pthread_join(t->thread, NULL);
                t->has_thread = false;
        }
}

int ap_targets_new(const ApTargetsOptions *opts, ApTargets **ret)
{
        ApTargets *set = calloc(1, sizeof(*set));
        int r;

        if (!set)
                return -ENOMEM;
        pthread_mutex_init(&set->lock, NULL);
        atomic_init(&set->last_publish_ns, 0);
        r = ap_targets_set_options(set, opts);
        if (r < 0) {
                ap_targets_free(set);
                return r;
        }
        *ret = set;
        return 0;
}

ApTargets *ap_targets_free(ApTargets *set)
{
        if (!set)
                return NULL;
        ap_targets_stop_all(set);
        for (size_t i = 0; i < set->n; i++)
                target_free(set->targets[i]);
        free(set->targets);
        ap_publish_dir_unref(set->publish);
        free(set->pod_logs_dir);
        pthread_mutex_destroy(&set->lock);
        free(set);
        return NULL;
}

int ap_targets_set_options(ApTargets *set, const ApTargetsOptions *opts)
{
        ApPublishDir *dir = NULL, *old;
        char *logs = NULL;
        int r;

        if (opts->publish_dir) {
                pthread_mutex_lock(&set->lock);
                /* The same path keeps its fd (a reload does not reopen it). */
                if (set->publish && strcmp(ap_publish_dir_path(set->publish), opts->publish_dir) == 0)
                        dir = ap_publish_dir_ref(set->publish);
                pthread_mutex_unlock(&set->lock);
                if (!dir && (r = ap_publish_dir_open(opts->publish_dir, &dir)) < 0)
                        return r;
        }
        if (opts->pod_logs_dir && !(logs = strdup(opts->pod_logs_dir))) {
                ap_publish_dir_unref(dir);
                return -ENOMEM;
        }
        pthread_mutex_lock(&set->lock);
        set->interval_ns = opts->interval_ns;
        set->policy = opts->policy;
        old = set->publish;
        set->publish = dir;
        free(set->pod_logs_dir);
        set->pod_logs_dir = logs; /* for targets started from now on */
        pthread_mutex_unlock(&set->lock);
        ap_publish_dir_unref(old);
        return 0;
}

void ap_targets_stop_all(ApTargets *set)
{
        /* Ask all first, then join: the slices of sleep run out in parallel. */
        atomic_store(&set->ticker_stop, true);
        for (size_t i = 0; i < set->n; i++)
                atomic_store(&set->targets[i]->stop, true);
        ticker_stop(set);
        for (size_t i = 0; i < set->n; i++)
                target_stop(set->targets[i]);
}

static ApTarget *find(ApTargets *set, const char *label)
{
        for (size_t i = 0; i < set->n; i++)
                if (strcmp(set->targets[i]->spec.label, label) == 0)
                        return set->targets[i];
        return NULL;
}

int ap_targets_apply(ApTargets *set, const ApTargetSpec *specs, size_t n)
{
        ApTarget **next = calloc(n ? n : 1, sizeof(*next));
        ApTarget **old;
        size_t n_old;
        int r = 0;

        if (!next)
                return -ENOMEM;
        /* The ticker walks the list: stopped while it changes, started again at the end. */
        ticker_stop(set);
        for (size_t i = 0; i < n; i++) {
                next[i] = find(set, specs[i].label);
                if (next[i])
                        continue;
                next[i] = target_new(set, &specs[i]);
                if (!next[i]) {
                        r = -ENOMEM;
                        break;
                }
                if (is_discovery(&specs[i])) {
                        r = -pthread_create(&next[i]->thread, NULL, discovery_main, next[i]);
                        next[i]->has_thread = r == 0;
                }
                if (r < 0) {
                        ap_daemon_log(AUTOPROCS_LOG_ERR, "target-start", specs[i].label,
                                      "target %s: cannot start its task: %s", specs[i].label, strerror(-r));
                        next[i] = target_free(next[i]);
                        break;
                }
        }
        if (r < 0) {
                /* Stop what this call started; the old set stays. */
                for (size_t i = 0; i < n; i++) {
                        if (next[i] && !find(set, next[i]->spec.label)) {
                                target_stop(next[i]);
                                target_free(next[i]);
                        }
                }
                free(next);
                (void)ticker_start(set);
                return r;
        }

        /* Targets no longer configured: stop them before they leave the store. */
        for (size_t i = 0; i < set->n; i++) {
                bool kept = false;

                for (size_t j = 0; j < n && !kept; j++)
                        kept = next[j] == set->targets[i];
                if (!kept) {
                        target_stop(set->targets[i]);
                        ap_daemon_log(AUTOPROCS_LOG_INFO, "target-removed", set->targets[i]->spec.label,
                                      "target %s: no longer watched", set->targets[i]->spec.label);
                }
        }
        pthread_mutex_lock(&set->lock);
        old = set->targets;
        n_old = set->n;
        set->targets = next;
        set->n = n;
        set->generation++;
        pthread_mutex_unlock(&set->lock);
        for (size_t i = 0; i < n_old; i++) {
                bool kept = false;

                for (size_t j = 0; j < n && !kept; j++)
                        kept = next[j] == old[i];
                if (!kept)
                        target_free(old[i]);
        }
        free(old);
        r = ticker_start(set);
        if (r < 0)
                ap_daemon_log(AUTOPROCS_LOG_ERR, "target-start", NULL, "cannot start the probing task: %s",
                              strerror(-r));
        return r;
}

int ap_targets_probe_now(ApTargets *set, const char *label)
{
        ApTarget *t = find(set, label);

        if (!t)
                return -ENOENT;
        if (t->agent)
                return -EOPNOTSUPP; /* its task alone touches the agent */
        tick(t);
        return 0;
}

int ap_targets_snapshot(ApTargets *set, ApSample ***ret_samples, size_t *ret_n, uint64_t *ret_generation)
{
        ApSample **v;
        size_t total = 0, k = 0;

        pthread_mutex_lock(&set->lock);
        for (size_t i = 0; i < set->n; i++)
                total += set->targets[i]->n_children ? set->targets[i]->n_children : 1;
        v = calloc(total ? total : 1, sizeof(*v));
        if (!v) {
                pthread_mutex_unlock(&set->lock);
                return -ENOMEM;
        }
        for (size_t i = 0; i < set->n; i++) {
                const ApTarget *t = set->targets[i];

                if (t->n_children == 0)
                        v[k++] = ap_sample_ref(t->sample);
                for (size_t j = 0; j < t->n_children; j++)
                        v[k++] = ap_sample_ref(t->children[j]);
        }
        *ret_n = k;
        if (ret_generation)
                *ret_generation = set->generation;
        pthread_mutex_unlock(&set->lock);
        *ret_samples = v;
        return 0;
}

void ap_targets_snapshot_free(ApSample **samples, size_t n)
{
        for (size_t i = 0; i < n; i++)
                ap_sample_unref(samples[i]);
        free(samples);
}

bool ap_targets_ready(ApTargets *set)
{
        bool ready = true;

        pthread_mutex_lock(&set->lock);
        for (size_t i = 0; i < set->n && ready; i++)
                ready = set->targets[i]->sample->probed;
        pthread_mutex_unlock(&set->lock);
        return ready;
}

int ap_targets_publish_failing(ApTargets *set, char **ret_label)
{
        int r = 0;

        pthread_mutex_lock(&set->lock);
        for (size_t i = 0; i < set->n && r == 0; i++)
                if (set->targets[i]->sample->publish_failing)
                        r = (*ret_label = strdup(set->targets[i]->spec.label)) ? 1 : -ENOMEM;
        pthread_mutex_unlock(&set->lock);
        return r;
}

uint64_t ap_targets_last_publish_ns(ApTargets *set)
{
        return atomic_load(&set->last_publish_ns);
}

size_t ap_targets_count(ApTargets *set)
{
        size_t n;

        pthread_mutex_lock(&set->lock);
        n = set->n;
        pthread_mutex_unlock(&set->lock);
        return n;
}

uint64_t ap_targets_generation(ApTargets *set)
{
        uint64_t g;

        pthread_mutex_lock(&set->lock);
        g = set->generation;
        pthread_mutex_unlock(&set->lock);
        return g;
}
