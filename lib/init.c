/* SPDX-License-Identifier: MIT */
/*
 * autoprocs_init(): the one place that wires detection to the runtime.
 *
 *   config (+ AUTOPROCS_* environment, env.c)
 *     -> ApWatch resolves the process's limit chain (probes, policy)   [watch.c]
 *     -> ap_rt_start(procs)                                            [runtime/]
 *     -> the watcher thread: every interval ap_watch_tick() (cached fds, pread), the damper
 *        decides, ap_rt_set_procs() resizes live, the procs-changed callback is told.
 *
 * Threads and locks.  `state_lock` serialises init and shutdown and guards `state`.  The watcher
 * thread sleeps on `watch_cond` (CLOCK_MONOTONIC) under `watch_lock`, which also guards the
 * damper and the manual-size record against autoprocs_procs_set().  Callbacks (log, procs
 * changed) are always called with no library lock held, from the watcher thread (and, for the
 * first procs-changed call with old = 0 and for configuration events, from autoprocs_init()).
 * The runtime's own functions are thread-safe; the counts read by autoprocs_procs() are its.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autoprocs.h"
#include "lib/env.h"
#include "lib/init-config.h"
#include "lib/init.h"
#include "lib/policy.h"
#include "lib/runtime/runtime.h"
#include "lib/util/macro.h"
#include "lib/watch-damper.h"
#include "lib/watch.h"

/* The re-read that confirms a changed limit: long enough for a writer to finish a v1 quota and
 * period pair, short against any interval (the reaction target is one interval + 1 ms). */
#define CONFIRM_NS (1000u * 1000u)

typedef enum InitState {
        STATE_STOPPED,
        STATE_RUNNING,
        STATE_STOPPING,
} InitState;

static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t state_cond = PTHREAD_COND_INITIALIZER;
static InitState state;

static struct {
        autoprocs_config *config;       /* the effective configuration (copy + environment) */
        ApWatch *watch;                 /* NULL when the count is fixed or watching is off */
        pthread_t thread;
        bool has_thread;

        pthread_mutex_t watch_lock;
        pthread_cond_t watch_cond;      /* CLOCK_MONOTONIC */
        bool stop;                      /* shutdown asked */
        bool go;                        /* the initial callback has been delivered */
        unsigned generation;            /* of the watcher thread, counted by start_watcher() */
        ApWatchDamper damper;
        bool manual;                    /* autoprocs_procs_set() overrode the watcher ... */
        unsigned manual_base;           /* ... while the recommendation stays at this value */
        unsigned last_recommendation;
        bool failed;                    /* the last tick could read nothing */
        atomic_ulong ticks;
} W = {
        .watch_lock = PTHREAD_MUTEX_INITIALIZER,
};

static void emit(const autoprocs_config *c, autoprocs_log_level level, const char *event,
                 const char *fmt, ...) AP_PRINTF(4, 5);

static void emit(const autoprocs_config *c, autoprocs_log_level level, const char *event,
                 const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        if (!c->log_fn)
                return;
        va_start(ap, fmt);
        (void)vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        c->log_fn(level, event, msg, c->log_userdata);
}

static void timespec_add_ms(struct timespec *ts, unsigned ms)
{
        ts->tv_sec += ms / 1000;
        ts->tv_nsec += (long)(ms % 1000) * 1000000L;
        if (ts->tv_nsec >= 1000000000L) {
                ts->tv_sec++;
                ts->tv_nsec -= 1000000000L;
        }
}

static bool timespec_before(const struct timespec *a, const struct timespec *b)
{
        return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void report_tick(const autoprocs_config *c, const ApWatchResult *res, bool was_failed)
{
        const char *why = (res->flags & AP_WATCH_MOVED)       ? " (moved to another cgroup)"
                          : (res->flags & AP_WATCH_REMOUNTED) ? " (mounts changed)"
                          : (res->flags & AP_WATCH_RERESOLVED) ? " (re-resolved)"
                                                               : "";

        if (res->flags & AP_WATCH_FAILED) {
                if (!was_failed)
                        emit(c, AUTOPROCS_LOG_WARNING, "probe-failed",
                             "cannot read the CPU limit any more%s; keeping the current size", why);
                return;
        }
        /* A move or a changed mount table with the same answer is no news: every container start
         * on a host changes the mount table (a line per change was logged on busy hosts). */
        if (!(res->flags & AP_WATCH_LIMIT_CHANGED) && !was_failed)
                return;
        if (res->has_limit)
                emit(c, AUTOPROCS_LOG_INFO, "limit-changed",
                     "limit %.3f CPUs (quota %llu us / period %llu us), affinity %u%s: recommend %u",
                     (double)res->quota_us / (double)res->period_us,
                     (unsigned long long)res->quota_us, (unsigned long long)res->period_us,
                     res->affinity, why, res->procs);
        else
                emit(c, AUTOPROCS_LOG_INFO, "limit-changed", "no CPU limit, affinity %u%s: recommend %u",
                     res->affinity, why, res->procs);
}

/* Pace the runtime to @res's limit when the configuration and the limit ask for it (limits.h),
 * else turn pacing off.  Cheap when nothing changed. */
static void apply_pacing(const autoprocs_config *c, const ApWatchResult *res)
{
        if (ap_policy_pacing(c->pacing, res->has_limit, res->quota_us, res->period_us, res->affinity))
                (void)ap_rt_pace_set(res->quota_us * 1000u, res->period_us * 1000u);
        else
                (void)ap_rt_pace_set(0, 0);
}

/* The kernel's counters of the binding cgroup, for the pacing feedback. */
static void pacing_feedback(ApWatch *w)
{
        uint64_t periods, throttled, usage;

        if (ap_watch_cpu_stat(w, &periods, &throttled, &usage) == 0)
                ap_rt_pace_feedback(periods, throttled, usage);
}

/* Under watch_lock: what the damper says about @rec, honouring a manual autoprocs_procs_set(). */
static unsigned decide_locked(unsigned rec)
{
        if (W.manual) {
                /* The manual size holds until the limit itself changes. */
                if (rec == 0 || rec == W.manual_base)
                        return 0;
                W.manual = false;
        }
        return ap_watch_damper_step(&W.damper, rec);
}

static void *watcher_main(void *arg)
{
        const autoprocs_config *c = arg;
        struct timespec next, now;
        ApWatchResult res;

        pthread_mutex_lock(&W.watch_lock);
        while (!W.go && !W.stop)
                pthread_cond_wait(&W.watch_cond, &W.watch_lock);
        clock_gettime(CLOCK_MONOTONIC, &next);
        for (;;) {
                unsigned old, n;
                bool was_failed;
                int r;

                timespec_add_ms(&next, c->interval_ms);
                while (!W.stop) {
                        if (pthread_cond_timedwait(&W.watch_cond, &W.watch_lock, &next) == ETIMEDOUT)
                                break;
                }
                if (W.stop)
                        break;
                pthread_mutex_unlock(&W.watch_lock);

                (void)ap_watch_tick(W.watch, CONFIRM_NS, &res);
                atomic_fetch_add(&W.ticks, 1);

                pthread_mutex_lock(&W.watch_lock);
                was_failed = W.failed;
                W.failed = res.flags & AP_WATCH_FAILED;
                W.last_recommendation = res.procs ? res.procs : W.last_recommendation;
                old = W.damper.current;
                n = decide_locked(res.procs);
                /* Resize under the lock (it returns at once) so that a concurrent
                 * autoprocs_procs_set() is ordered before or after, never overwritten. */
                r = n != 0 && n != old ? ap_rt_set_procs(n) : 0;
                pthread_mutex_unlock(&W.watch_lock);
                /* pacing follows the limit in the same tick; a failed read keeps it as it is */
                if (!(res.flags & AP_WATCH_FAILED))
                        apply_pacing(c, &res);
                pacing_feedback(W.watch);

                report_tick(c, &res, was_failed);
                if (n != 0 && n != old) {
                        if (r < 0)
                                emit(c, AUTOPROCS_LOG_ERR, "resize", "resizing %u -> %u failed: %s",
                                     old, n, strerror(-r));
                        else
                                emit(c, AUTOPROCS_LOG_INFO, "resize", "%u -> %u processor%s", old, n, n == 1 ? "" : "s");
                        if (r == 0 && c->procs_changed_fn)
                                c->procs_changed_fn(old, n, c->procs_changed_userdata);
                }

                pthread_mutex_lock(&W.watch_lock);
                /* Fell behind (a slow callback, a stopped process): no burst of catch-up ticks. */
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (timespec_before(&next, &now))
                        next = now;
        }
        pthread_mutex_unlock(&W.watch_lock);
        return NULL;
}

static int start_watcher(void)
{
        pthread_condattr_t ca;
        pthread_attr_t ta;
        sigset_t all, old;
        int r;

        W.stop = W.go = false;
        W.generation++;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        r = pthread_cond_init(&W.watch_cond, &ca);
        pthread_condattr_destroy(&ca);
        if (r != 0)
                return -r;
        pthread_attr_init(&ta);
        /* Small stack: the watcher reads a few small files; 256 KiB leaves room for callbacks. */
        (void)pthread_attr_setstacksize(&ta, 256 * 1024);
        /* Signals belong to the application's threads, never to the watcher. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        r = pthread_create(&W.thread, &ta, watcher_main, W.config);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&ta);
        if (r != 0) {
                pthread_cond_destroy(&W.watch_cond);
                return -r;
        }
        (void)pthread_setname_np(W.thread, "autoprocs-watch");
        pthread_mutex_lock(&W.watch_lock);
        W.has_thread = true;
        pthread_mutex_unlock(&W.watch_lock);
        return 0;
}

/* True when called on the watcher thread (from a callback).  Lock order: state_lock, watch_lock. */
static bool on_watcher_thread(void)
{
        bool r;

        pthread_mutex_lock(&W.watch_lock);
        r = W.has_thread && pthread_equal(pthread_self(), W.thread);
        pthread_mutex_unlock(&W.watch_lock);
        return r;
}

static void release_go(unsigned generation)
{
        pthread_mutex_lock(&W.watch_lock);
        /* Not if a shutdown (and maybe a new init) came in between. */
        if (W.has_thread && !W.stop && W.generation == generation) {
                W.go = true;
                pthread_cond_broadcast(&W.watch_cond);
        }
        pthread_mutex_unlock(&W.watch_lock);
}

static void teardown(void)
{
        if (W.has_thread) {
                pthread_mutex_lock(&W.watch_lock);
                W.stop = true;
                pthread_cond_broadcast(&W.watch_cond);
                pthread_mutex_unlock(&W.watch_lock);
                pthread_join(W.thread, NULL);
                pthread_mutex_lock(&W.watch_lock);
                W.has_thread = false;
                pthread_cond_destroy(&W.watch_cond);
                pthread_mutex_unlock(&W.watch_lock);
        }
        W.watch = ap_watch_free(W.watch);
        W.config = autoprocs_config_free(W.config);
        atomic_store(&W.ticks, 0);
}

AUTOPROCS_API int autoprocs_init(const autoprocs_config *config)
{
        autoprocs_config *c = NULL;
        autoprocs_procs_changed_fn cb;
        void *cb_userdata;
        ApRtOptions opts;
        unsigned procs;
        unsigned generation = 0;
        ApWatchResult first = {};
        bool watching, detected = false;
        int r;

        pthread_mutex_lock(&state_lock);
        for (;;) {
                if (state == STATE_RUNNING) {
                        pthread_mutex_unlock(&state_lock);
                        return 1;
                }
                if (state == STATE_STOPPED)
                        break;
                /* Shutting down: wait for it, unless that is us (a callback on the watcher). */
                if (on_watcher_thread()) {
                        pthread_mutex_unlock(&state_lock);
                        return -EDEADLK;
                }
                pthread_cond_wait(&state_cond, &state_lock);
        }

        r = ap_config_copy(config, &c);
        if (r < 0)
                goto fail;
        W.config = c;
        /* Configuration events go out under state_lock: nothing else runs yet that could wait on
         * it, and a callback calling autoprocs_init() gets "already running" only later. */
        (void)ap_env_apply(c, NULL, NULL);

        if (c->procs > 0) {
                procs = c->procs; /* fixed: no detection, no watching */
        } else {
                r = ap_watch_new(c, &W.watch);
                if (r < 0)
                        goto fail;
                first = *ap_watch_last(W.watch);
                detected = true;
                procs = first.procs;
                if (procs == 0) {
                        r = -ENOENT;
                        goto fail;
                }
                if (c->interval_ms == 0)
                        W.watch = ap_watch_free(W.watch);
        }

        opts = (ApRtOptions){
                .procs = procs,
                .stack_size = c->stack_size,
                .max_threads = c->max_threads,
                .max_blocking = c->max_blocking,
                .stack_guard = c->stack_guard,
                .log_fn = c->log_fn,
                .log_userdata = c->log_userdata,
        };
        r = ap_rt_start(&opts);
        if (r == -EALREADY) {
                /* Someone drives the runtime directly (ap_rt_start): size it, do not own it. */
                r = -EBUSY;
        }
        if (r < 0)
                goto fail;

        if (detected)
                apply_pacing(c, &first);
        ap_watch_damper_init(&W.damper, procs);
        W.manual = W.failed = false;
        W.last_recommendation = procs;
        if (W.watch) {
                r = start_watcher();
                if (r < 0) {
                        ap_rt_stop();
                        goto fail;
                }
        }
        state = STATE_RUNNING;
        /* Copies: after the unlock a concurrent autoprocs_shutdown() may free the config. */
        cb = c->procs_changed_fn;
        cb_userdata = c->procs_changed_userdata;
        watching = W.has_thread;
        generation = W.generation;
        pthread_mutex_unlock(&state_lock);

        if (cb)
                cb(0, procs, cb_userdata);
        /* The watcher's first callback comes only after this first one. */
        if (watching)
                release_go(generation);
        return 0;

fail:
        teardown();
        pthread_mutex_unlock(&state_lock);
        return r;
}

AUTOPROCS_API void autoprocs_shutdown(void)
{
        /* Documented as forbidden from a task or a callback, where it would wait for itself:
         * refuse quietly instead of hanging. */
        if (autoprocs_in_task())
                return;
        pthread_mutex_lock(&state_lock);
        if (state != STATE_RUNNING || on_watcher_thread()) {
                pthread_mutex_unlock(&state_lock);
                return;
        }
        state = STATE_STOPPING;
        pthread_mutex_unlock(&state_lock);

        /* Without state_lock: a callback still running on the watcher may call autoprocs_*. */
        teardown();
        ap_rt_stop();

        pthread_mutex_lock(&state_lock);
        state = STATE_STOPPED;
        pthread_cond_broadcast(&state_cond);
        pthread_mutex_unlock(&state_lock);
}

AUTOPROCS_API unsigned autoprocs_procs(void)
{
        return ap_rt_procs();
}

AUTOPROCS_API int autoprocs_procs_set(unsigned procs)
{
        int r;

        if (procs == 0)
                return -EINVAL;
        pthread_mutex_lock(&W.watch_lock);
        r = ap_rt_set_procs(procs);
        if (r == 0) {
                ap_watch_damper_reset(&W.damper, procs);
                W.manual = true;
                W.manual_base = W.last_recommendation;
        }
        pthread_mutex_unlock(&W.watch_lock);
        return r;
}

AUTOPROCS_API int autoprocs_procs_wait(uint64_t timeout_ns)
{
        uint64_t ms = timeout_ns / 1000000u + (timeout_ns % 1000000u != 0);

        return ap_rt_wait_procs(ms > UINT_MAX ? UINT_MAX : (unsigned)ms);
}

int ap_init_watcher_clock(clockid_t *ret)
{
        int r = -ESRCH;

        pthread_mutex_lock(&state_lock);
        if (state == STATE_RUNNING && W.has_thread)
                r = -pthread_getcpuclockid(W.thread, ret);
        pthread_mutex_unlock(&state_lock);
        return r;
}

unsigned long ap_init_watcher_ticks(void)
{
        return atomic_load(&W.ticks);
}
