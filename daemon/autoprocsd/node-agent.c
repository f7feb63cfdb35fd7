/* SPDX-License-Identifier: MIT */
/*
 * A discovery target's containers (see node-agent.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/autoprocsd/log.h"
#include "daemon/autoprocsd/node-agent.h"
#include "daemon/autoprocsd/pod-logs.h"
#include "lib/policy.h"
#include "lib/util/json.h"
#include "lib/util/macro.h"

/* Sandbox weights are written right after the cgroup is made: look during the first ticks. */
#define SANDBOX_CHECK_TICKS 3u
/* Names of a young kube container not in the log tree yet: look again every tick this long. */
#define NAMES_WAIT_TICKS 60u

typedef struct Counters {
        ApCounter periods, throttled, throttled_usec, usage, psi_some, psi_full;
        bool has_throttling, has_usage, has_pressure, has_pressure_full;
        uint64_t resizes_up, resizes_down;
} Counters;

typedef struct Container {
        ApCgNode *node;
        char *target;                  /* "<spec>/<id>": the key of its tombstone, in logs */
        char id[AP_KUBE_ID_LEN + 1];
        char *ns, *pod, *name;         /* from the log tree; NULL = unknown */
        bool names_done;               /* found, or not a pod's container */
        bool sandbox;
        unsigned age;                  /* ticks read */
        Counters c;
        unsigned procs;
        /* what the labels were built from */
        /* Borrowed from the tree: paths of the container's node or of its ancestors, which live
         * at least as long as it does (a subtree goes children first). */
        const char *limit_cgroup, *throttling_cgroup, *usage_cgroup;
        const char *limit_scope;       /* static */
        ApLabels *labels;
        char *json;                    /* the fixed part of its /v1/limits object */
        ApText *json_full;             /* ... with the values of json_key, shared with the samples */
        struct {
                bool has_limit;
                uint64_t quota_us, period_us;
                unsigned affinity, procs;
                autoprocs_policy policy;
                const char *limit_cgroup;   /* a node's path: the same pointer while it binds */
        } json_key;
        ApSample *sample;
} Container;

typedef struct Tomb {
        char *target;
        Counters c;
        uint64_t until_tick;
} Tomb;

struct ApNodeAgent {
        char *label;
        ApDiscoveryMode mode;
        char *dir;
        bool include_sandboxes;
        ApDiscovery *disc;
        ApPodLogs *logs;
        bool logs_failed;
        Container **v;
        size_t n, cap;
        Tomb *tombs;
        size_t n_tombs;
        uint64_t tick, next_rescan_tick;
        bool changed;
        bool start_logged, probed;
        int last_start_err;
        autoprocs_policy policy;
        ApSample *self;
};

static bool str_eq(const char *a, const char *b)
{
        return a == b || (a && b && strcmp(a, b) == 0);
}

static int str_set(char **dst, const char *s)
{
        char *c = NULL;

        if (str_eq(*dst, s))
                return 0;
        if (s && !(c = strdup(s)))
                return -ENOMEM;
        free(*dst);
        *dst = c;
        return 1;
}

/* ---------------------------------------------------------------------------------------------
 * Tombstones
 * ------------------------------------------------------------------------------------------- */

static void tomb_drop(ApNodeAgent *a, size_t i)
{
        free(a->tombs[i].target);
        a->tombs[i] = a->tombs[--a->n_tombs];
}

static void tombs_expire(ApNodeAgent *a)
{
        for (size_t i = 0; i < a->n_tombs;) {
                if (a->tombs[i].until_tick <= a->tick)
                        tomb_drop(a, i);
                else
                        i++;
        }
}

static void tomb_bury(ApNodeAgent *a, const Container *c)
{
        Tomb t = { .target = strdup(c->target), .c = c->c, .until_tick = a->tick + AP_NODE_AGENT_TOMB_TICKS };

        if (!t.target)
                return;
        if (!a->tombs && !(a->tombs = calloc(AP_NODE_AGENT_TOMBS, sizeof(*a->tombs)))) {
                free(t.target);
                return;
        }
        if (a->n_tombs == AP_NODE_AGENT_TOMBS) {
                size_t oldest = 0;

                for (size_t i = 1; i < a->n_tombs; i++)
                        if (a->tombs[i].until_tick < a->tombs[oldest].until_tick)
                                oldest = i;
                tomb_drop(a, oldest);
        }
        a->tombs[a->n_tombs++] = t;
}

/* A container made again under the same target continues its counters: its new cgroup counts
 * from 0, which ap_counter_feed() adds on top (last = 0). */
static void tomb_raise(ApNodeAgent *a, Container *c)
{
        for (size_t i = 0; i < a->n_tombs; i++) {
                if (strcmp(a->tombs[i].target, c->target) != 0)
                        continue;
                c->c = a->tombs[i].c;
                c->c.periods.last = c->c.throttled.last = c->c.throttled_usec.last = 0;
                c->c.usage.last = c->c.psi_some.last = c->c.psi_full.last = 0;
                tomb_drop(a, i);
                return;
        }
}

/* ---------------------------------------------------------------------------------------------
 * Containers
 * ------------------------------------------------------------------------------------------- */

static void container_free(Container *c)
{
        if (!c)
                return;
        free(c->target);
        free(c->ns);
        free(c->pod);
        free(c->name);
        free(c->json);
        ap_text_unref(c->json_full);
        ap_labels_unref(c->labels);
        ap_sample_unref(c->sample);
        free(c);
}

/* Names from the log tree.  @retval true when they changed */
static bool learn_names(ApNodeAgent *a, Container *c)
{
        const ApKubePath *kp = ap_cg_node_kube(c->node);
        ApPodLogNames n;
        bool changed = false;

        if (c->names_done)
                return false;
        if (!a->logs || !kp->in_kubepods || !kp->pod_uid[0]) {
                c->names_done = true;
                return false;
        }
        if (ap_pod_logs_find_container(a->logs, c->id, &n)) {
                changed = str_set(&c->ns, n.namespace_) > 0;
                changed = str_set(&c->pod, n.pod) > 0 || changed;
                changed = str_set(&c->name, n.container) > 0 || changed;
                c->names_done = true;
        } else if (ap_pod_logs_find_pod(a->logs, kp->pod_uid, &n)) {
                /* the pod is known, its container not (yet): a sandbox, or a link still to come */
                changed = str_set(&c->ns, n.namespace_) > 0;
                changed = str_set(&c->pod, n.pod) > 0 || changed;
        }
        return changed;
}

/* A string kept for long at its length, not its buffer's capacity. */
static char *shrink(char *s)
{
        char *t = realloc(s, strlen(s) + 1);

        return t ? t : s;
}

static void rebuild_labels(ApNodeAgent *a, Container *c, int version)
{
        const ApKubePath *kp = ap_cg_node_kube(c->node);
        char short_id[AP_KUBE_SHORT_ID_LEN + 1], ver[8];
        const char *series[] = {
                "target", a->label,
                "pod_uid", kp->pod_uid,
                "container_id", c->id,
                "qos_class", ap_kube_qos_to_string(kp->qos),
                "namespace", c->ns,
                "pod", c->pod,
                "container", c->name,
                NULL,
        };
        const char *info[] = {
                "container_id_short", short_id,
                "runtime", kp->runtime,
                "cgroup", ap_cg_node_path(c->node),
                "limit_cgroup", c->limit_cgroup,
                "limit_scope", c->limit_scope,
                "throttling_cgroup", c->throttling_cgroup,
                "usage_cgroup", c->usage_cgroup,
                "cgroup_version", ver,
                NULL,
        };
        ApLabels *l;
        ApBuf b = AP_BUF_NULL;

        memcpy(short_id, c->id, AP_KUBE_SHORT_ID_LEN);
        short_id[AP_KUBE_SHORT_ID_LEN] = '\0';
        (void)snprintf(ver, sizeof(ver), "%d", version);
        l = ap_labels_new(series, info);
        if (l) {
                ap_labels_unref(c->labels);
                c->labels = l;
        }
        /* /v1/limits: the detect fields a container has, and its names */
        ap_buf_puts(&b, "{\"target\":");
        ap_buf_json_string_or_null(&b, a->label);
        for (size_t i = 2; series[i]; i += 2) {
                ap_buf_printf(&b, ",\"%s\":", series[i]);
                ap_buf_json_string_or_null(&b, series[i + 1] && series[i + 1][0] ? series[i + 1] : NULL);
        }
        ap_buf_printf(&b, ",\"cgroup_version\":%d,\"cgroup_path\":", version);
        ap_buf_json_string_or_null(&b, ap_cg_node_path(c->node));
        ap_buf_puts(&b, "}");
        free(c->json);
        c->json = NULL;
        if (ap_buf_steal(&b, &c->json) == 0)
                c->json = shrink(c->json);
        c->json_full = ap_text_unref(c->json_full);
}

/* The /v1/limits object: the fixed part, then the values of this tick (made again only when they
 * changed: most ticks change none).  A new reference, or NULL. */
static ApText *container_json(Container *c, const ApCgReading *r, autoprocs_policy policy)
{
        ApBuf b = AP_BUF_NULL;
        char *out = NULL;
        size_t len;

        if (!c->json)
                return NULL;
        if (c->json_full && c->json_key.has_limit == r->has_limit && c->json_key.quota_us == r->quota_us &&
            c->json_key.period_us == r->period_us && c->json_key.affinity == r->affinity &&
            c->json_key.procs == c->procs && c->json_key.policy == policy &&
            c->json_key.limit_cgroup == r->limit_cgroup)
                return ap_text_ref(c->json_full);
        len = strlen(c->json);
        ap_buf_append(&b, c->json, len - 1);
        ap_buf_puts(&b, ",\"limit\":");
        if (r->has_limit) {
                ap_buf_printf(&b, "{\"quota_us\":%llu,\"period_us\":%llu,\"cpus\":",
                              (unsigned long long)r->quota_us, (unsigned long long)r->period_us);
                ap_buf_decimal(&b, r->quota_us, r->period_us, 6);
                ap_buf_puts(&b, ",\"cgroup\":");
                ap_buf_json_string_or_null(&b, r->limit_cgroup);
                ap_buf_puts(&b, "}");
        } else {
                ap_buf_puts(&b, "null");
        }
        ap_buf_printf(&b, ",\"affinity_cpus\":%u,\"procs\":%u,\"policy\":\"%s\"}", r->affinity, c->procs,
                      autoprocs_policy_to_string(policy));
        if (ap_buf_steal(&b, &out) < 0)
                return NULL;
        ap_text_unref(c->json_full);
        c->json_full = ap_text_new(out);
        free(out);
        c->json_key.has_limit = r->has_limit;
        c->json_key.quota_us = r->quota_us;
        c->json_key.period_us = r->period_us;
        c->json_key.affinity = r->affinity;
        c->json_key.procs = c->procs;
        c->json_key.policy = policy;
        c->json_key.limit_cgroup = r->limit_cgroup;
        return ap_text_ref(c->json_full);
}

static void feed(Container *c, const ApCgReading *r)
{
        if (r->has_throttling) {
                c->c.has_throttling = true;
                ap_counter_feed(&c->c.periods, r->nr_periods);
                ap_counter_feed(&c->c.throttled, r->nr_throttled);
                ap_counter_feed(&c->c.throttled_usec, r->throttled_usec);
        }
        if (r->has_usage) {
                c->c.has_usage = true;
                ap_counter_feed(&c->c.usage, r->usage_usec);
        }
        if (r->has_pressure) {
                c->c.has_pressure = true;
                ap_counter_feed(&c->c.psi_some, r->pressure_some_usec);
                if (r->has_pressure_full) {
                        c->c.has_pressure_full = true;
                        ap_counter_feed(&c->c.psi_full, r->pressure_full_usec);
                }
        }
}

/* Read @c now and replace its sample. */
static void container_read(ApNodeAgent *a, Container *c)
{
        const ApKubePath *kp = ap_cg_node_kube(c->node);
        /* a pod's container not known from the log tree as an app container, in its first ticks */
        bool check = kp->pod_uid[0] && !c->name && c->age < SANDBOX_CHECK_TICKS;
        ApDiscoveryStats st;
        ApCgReading r;
        ApSample *s;
        bool relabel = c->labels == NULL;
        unsigned procs;

        ap_discovery_read(a->disc, c->node, a->tick, check, &r);
        c->age++;
        if (learn_names(a, c))
                relabel = true;
        if (check && r.sandbox_hint && !c->name && !c->sandbox) {
                c->sandbox = true;
                a->changed = true;
        }
        if (c->name && c->sandbox) {
                c->sandbox = false; /* its log link says it is an app container */
                a->changed = true;
        }
        if (r.found && (c->limit_cgroup != r.limit_cgroup || c->throttling_cgroup != r.throttling_cgroup ||
                        c->usage_cgroup != r.usage_cgroup)) {
                c->limit_cgroup = r.limit_cgroup;
                c->throttling_cgroup = r.throttling_cgroup;
                c->usage_cgroup = r.usage_cgroup;
                c->limit_scope = r.limit_scope;
                relabel = true;
        }
        ap_discovery_stats(a->disc, &st);
        if (relabel)
                rebuild_labels(a, c, st.cgroup_version);

        s = ap_sample_new(c->target);
        if (!s)
                return;
        s->probed = true;
        s->ok = r.found;
        s->is_container = true;
        s->labels = ap_labels_ref(c->labels);
        if (r.found) {
                feed(c, &r);
                procs = ap_policy_procs(&(ApPolicyInput){
                        .has_limit = r.has_limit,
                        .quota_us = r.quota_us,
                        .period_us = r.period_us,
                        .affinity = r.affinity,
                        .policy = a->policy,
                });
                if (c->procs > 0 && procs != c->procs) {
                        if (procs > c->procs)
                                c->c.resizes_up++;
                        else
                                c->c.resizes_down++;
                }
                c->procs = procs;
                s->has_limit = r.has_limit;
                if (r.has_limit && r.period_us > 0) {
                        s->quota_seconds = (double)r.quota_us / 1e6;
                        s->period_seconds = (double)r.period_us / 1e6;
                        s->limit_cores = (double)r.quota_us / (double)r.period_us;
                }
                s->affinity_cpus = r.affinity;
                s->recommended_procs = procs;
                s->json_shared = container_json(c, &r, a->policy);
        } else {
                s->probe_errors[AP_PROBE_KIND_TARGET] = 1;
        }
        s->has_throttling = c->c.has_throttling;
        s->has_usage = c->c.has_usage;
        s->periods = c->c.periods.total;
        s->throttled_periods = c->c.throttled.total;
        s->throttled_usec = c->c.throttled_usec.total;
        s->usage_usec = c->c.usage.total;
        s->has_pressure = c->c.has_pressure;
        s->has_pressure_full = c->c.has_pressure_full;
        s->pressure_some_usec = c->c.psi_some.total;
        s->pressure_full_usec = c->c.psi_full.total;
        s->resizes_up = c->c.resizes_up;
        s->resizes_down = c->c.resizes_down;
        ap_sample_unref(c->sample);
        c->sample = s;
}

static void on_container(ApCgNode *node, bool added, void *userdata)
{
        ApNodeAgent *a = userdata;
        const ApKubePath *kp = ap_cg_node_kube(node);
        Container *c;

        a->changed = true;
        if (!added) {
                c = ap_cg_node_userdata(node);
                if (!c)
                        return;
                for (size_t i = 0; i < a->n; i++) {
                        if (a->v[i] == c) {
                                a->v[i] = a->v[--a->n];
                                break;
                        }
                }
                ap_daemon_log(AUTOPROCS_LOG_DEBUG, "container-gone", c->target, "%s: container %s gone (%s)",
                              a->label, c->id, ap_cg_node_path(node));
                tomb_bury(a, c);
                container_free(c);
                ap_cg_node_set_userdata(node, NULL);
                return;
        }
        if (a->n == a->cap) {
                size_t cap = a->cap ? a->cap * 2 : 64;
                Container **v = realloc(a->v, cap * sizeof(*v));

                if (!v)
                        return;
                a->v = v;
                a->cap = cap;
        }
        c = calloc(1, sizeof(*c));
        if (!c)
                return;
        c->node = node;
        memcpy(c->id, kp->container_id, sizeof(c->id));
        if (asprintf(&c->target, "%s/%s", a->label, c->id) < 0) {
                free(c);
                return;
        }
        tomb_raise(a, c);
        ap_cg_node_set_userdata(node, c);
        a->v[a->n++] = c;
        ap_daemon_log(AUTOPROCS_LOG_DEBUG, "container-found", c->target, "%s: container %s (%s)", a->label,
                      c->id, ap_cg_node_path(node));
        container_read(a, c);
}

/* ---------------------------------------------------------------------------------------------
 * The agent
 * ------------------------------------------------------------------------------------------- */

int ap_node_agent_new(const ApNodeAgentOptions *opts, ApNodeAgent **ret)
{
        ApNodeAgent *a = calloc(1, sizeof(*a));
        int r;

        if (!a)
                return -ENOMEM;
        a->mode = opts->mode;
        a->tick = 1; /* 0 is "never read" for the tree's per-tick caches */
        a->include_sandboxes = opts->include_sandboxes;
        a->label = strdup(opts->label);
        a->dir = strdup(opts->dir);
        if (!a->label || !a->dir) {
                ap_node_agent_free(a);
                return -ENOMEM;
        }
        r = ap_discovery_new(opts->mode, opts->dir, on_container, a, &a->disc);
        if (r < 0) {
                ap_node_agent_free(a);
                return r;
        }
        if (opts->pod_logs_dir) {
                r = ap_pod_logs_new(opts->pod_logs_dir, &a->logs);
                if (r < 0)
                        ap_daemon_log(AUTOPROCS_LOG_WARNING, "pod-logs", a->label, "%s: --pod-logs %s: %s; "
                                      "containers get no namespace, pod and container names", a->label,
                                      opts->pod_logs_dir, strerror(-r));
                else
                        (void)ap_pod_logs_scan(a->logs);
        }
        *ret = a;
        return 0;
}

ApNodeAgent *ap_node_agent_free(ApNodeAgent *a)
{
        if (!a)
                return NULL;
        /* Freeing the discovery reports every container gone: free them through it. */
        a->disc = ap_discovery_free(a->disc);
        for (size_t i = 0; i < a->n; i++)
                container_free(a->v[i]);
        free(a->v);
        for (size_t i = 0; i < a->n_tombs; i++)
                free(a->tombs[i].target);
        free(a->tombs);
        ap_pod_logs_free(a->logs);
        ap_sample_unref(a->self);
        free(a->label);
        free(a->dir);
        free(a);
        return NULL;
}

int ap_node_agent_fd(const ApNodeAgent *a)
{
        return ap_discovery_fd(a->disc);
}

bool ap_node_agent_events(ApNodeAgent *a, autoprocs_policy policy)
{
        int r;

        a->policy = policy;
        r = ap_discovery_process(a->disc);
        if (r < 0)
                ap_daemon_log(AUTOPROCS_LOG_WARNING, "discovery", a->label, "%s: reading inotify events "
                              "failed: %s; re-walking at the next tick", a->label, strerror(-r));
        if (r < 0)
                a->next_rescan_tick = a->tick + 1;
        return a->changed;
}

static void start(ApNodeAgent *a)
{
        const char *why = NULL;
        ApDiscoveryStats st;
        int r;

        r = ap_discovery_start(a->disc, &why);
        if (r < 0) {
                if (!a->start_logged || r != a->last_start_err)
                        ap_daemon_log(a->start_logged ? AUTOPROCS_LOG_WARNING : AUTOPROCS_LOG_NOTICE,
                                      "target-lost", a->label, "%s: %s: %s; retrying every interval",
                                      a->label, a->dir, why ? why : strerror(-r));
                a->start_logged = true;
                a->last_start_err = r;
                return;
        }
        ap_discovery_stats(a->disc, &st);
        ap_daemon_log(AUTOPROCS_LOG_INFO, "target-found", a->label, "%s: cgroup v%d, %zu containers, "
                      "%zu directories watched", a->label, st.cgroup_version, st.containers, st.watches);
        a->start_logged = false;
        a->changed = true;
}

static bool names_pending(const ApNodeAgent *a)
{
        for (size_t i = 0; i < a->n; i++)
                if (!a->v[i]->names_done && a->v[i]->age < NAMES_WAIT_TICKS)
                        return true;
        return false;
}

/* Containers in the output (sandboxes left out). */
static size_t published(const ApNodeAgent *a)
{
        size_t k = 0;

        for (size_t i = 0; i < a->n; i++)
                k += !a->v[i]->sandbox || a->include_sandboxes;
        return k;
}

void ap_node_agent_tick(ApNodeAgent *a, autoprocs_policy policy, uint64_t interval_ns)
{
        uint64_t rescan_ticks = interval_ns ? AP_MAX(AP_NODE_AGENT_RESCAN_NS / interval_ns, 1) : 30;
        ApDiscoveryStats st;
        ApSample *s;

        a->policy = policy;
        a->tick++;
        tombs_expire(a);
        if (!ap_discovery_started(a->disc)) {
                start(a);
                a->next_rescan_tick = a->tick + rescan_ticks;
        } else if (a->tick >= a->next_rescan_tick) {
                int r = ap_discovery_rescan(a->disc);

                if (r < 0)
                        ap_daemon_log(AUTOPROCS_LOG_WARNING, "discovery", a->label, "%s: re-walk failed: %s",
                                      a->label, strerror(-r));
                if (a->logs)
                        (void)ap_pod_logs_scan(a->logs);
                a->next_rescan_tick = a->tick + rescan_ticks;
        }
        if (a->logs && names_pending(a))
                (void)ap_pod_logs_scan(a->logs);
        for (size_t i = 0; i < a->n; i++)
                container_read(a, a->v[i]);

        ap_discovery_stats(a->disc, &st);
        s = ap_sample_new(a->label);
        if (s) {
                s->probed = true;
                s->ok = ap_discovery_started(a->disc);
                s->is_discovery = true;
                s->discovered_containers = published(a);
                s->discovery_watches = st.watches;
                s->discovery_events = st.events;
                s->discovery_rescans = st.rescans;
                s->probe_errors[AP_PROBE_KIND_TARGET] = a->self ? a->self->probe_errors[AP_PROBE_KIND_TARGET] : 0;
                if (!s->ok)
                        s->probe_errors[AP_PROBE_KIND_TARGET]++;
                ap_sample_unref(a->self);
                a->self = s;
        }
        a->changed = true;
}

int ap_node_agent_samples(ApNodeAgent *a, ApSample ***ret, size_t *ret_n)
{
        ApSample **v = calloc(a->n + 1, sizeof(*v));
        size_t k = 0;

        if (!v)
                return -ENOMEM;
        if (!a->self) {
                a->self = ap_sample_new(a->label);
                if (!a->self) {
                        free(v);
                        return -ENOMEM;
                }
        }
        v[k++] = ap_sample_ref(a->self);
        for (size_t i = 0; i < a->n; i++) {
                Container *c = a->v[i];

                if (c->sample && (!c->sandbox || a->include_sandboxes))
                        v[k++] = ap_sample_ref(c->sample);
        }
        a->changed = false;
        *ret = v;
        *ret_n = k;
        return 0;
}
