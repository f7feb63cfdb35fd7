/* SPDX-License-Identifier: MIT */
/*
 * autoprocs_watch_start()/autoprocs_watch_stop(): the watcher without the runtime.  A thread of
 * its own ticks an ApWatch (watch.c: cached fds, a confirming re-read of every change) every
 * interval and calls the application's callback, with no library lock held, first once at
 * start and then whenever the answer (limit, affinity, recommendation) changes.  No damper: the
 * callback sees every confirmed change; an application that resizes pools may add its own.
 *
 * Locks: `lock` guards `stop`; the thread sleeps on `cond` (CLOCK_MONOTONIC).  Stopping from
 * the callback itself cannot join: it marks the watch as stopped and the thread frees it when
 * the callback returns.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "autoprocs.h"
#include "lib/init-config.h"
#include "lib/util/macro.h"
#include "lib/watch.h"

/* As for autoprocs_init(): long enough for a writer to finish a v1 quota and period pair. */
#define CONFIRM_NS (1000u * 1000u)

struct autoprocs_watch {
        ApWatch *watch;
        unsigned interval_ms;
        autoprocs_watch_fn fn;
        void *userdata;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool go;                  /* start has stored the thread's id and the caller's handle */
        bool stop;
        bool self_stopped;        /* stopped from the callback: the thread frees the watch */
};

static void watch_destroy(autoprocs_watch *w)
{
        ap_watch_free(w->watch);
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w);
}

static void to_event(const ApWatchResult *res, unsigned old_procs, autoprocs_watch_event *ev)
{
        *ev = (autoprocs_watch_event){
                .size = sizeof(*ev),
                .procs = res->flags & AP_WATCH_FAILED ? 0 : res->procs,
                .old_procs = old_procs,
                .has_limit = res->has_limit,
                .quota_ns = res->quota_us * 1000u,
                .period_ns = res->period_us * 1000u,
                .affinity_cpus = res->affinity,
                .moved = (res->flags & (AP_WATCH_MOVED | AP_WATCH_REMOUNTED)) != 0,
        };
}

static void add_ms(struct timespec *ts, unsigned ms)
{
        ts->tv_sec += ms / 1000;
        ts->tv_nsec += (long)(ms % 1000) * 1000000L;
        if (ts->tv_nsec >= 1000000000L) {
                ts->tv_sec++;
                ts->tv_nsec -= 1000000000L;
        }
}

/* Call the callback; true when the watch was stopped from inside it (the thread must exit). */
static bool deliver(autoprocs_watch *w, const autoprocs_watch_event *ev)
{
        bool self;

        w->fn(ev, w->userdata);
        pthread_mutex_lock(&w->lock);
        self = w->self_stopped;
        pthread_mutex_unlock(&w->lock);
        return self;
}

static bool same_answer(const autoprocs_watch_event *a, const autoprocs_watch_event *b)
{
        return a->procs == b->procs && a->has_limit == b->has_limit && a->quota_ns == b->quota_ns &&
               a->period_ns == b->period_ns && a->affinity_cpus == b->affinity_cpus;
}

static void *watch_main(void *arg)
{
        autoprocs_watch *w = arg;
        autoprocs_watch_event last, ev;
        struct timespec next, now;
        unsigned failures = 0;

        pthread_mutex_lock(&w->lock);
        while (!w->go)
                pthread_cond_wait(&w->cond, &w->lock);
        pthread_mutex_unlock(&w->lock);
        to_event(ap_watch_last(w->watch), 0, &last);
        if (deliver(w, &last))
                goto self_stopped;
        clock_gettime(CLOCK_MONOTONIC, &next);
        pthread_mutex_lock(&w->lock);
        for (;;) {
                ApWatchResult res;

                add_ms(&next, w->interval_ms);
                while (!w->stop)
                        if (pthread_cond_timedwait(&w->cond, &w->lock, &next) == ETIMEDOUT)
                                break;
                if (w->stop)
                        break;
                pthread_mutex_unlock(&w->lock);

                (void)ap_watch_tick(w->watch, CONFIRM_NS, &res);
                to_event(&res, last.procs, &ev);
                /* A failure counts once it is seen on two ticks in a row (a file caught between
                 * truncation and write is not one); a change of the answer at once (the tick
                 * has confirmed it with a second read). */
                failures = res.flags & AP_WATCH_FAILED ? failures + 1 : 0;
                if (failures ? failures == 2 && last.procs != 0 : !same_answer(&ev, &last)) {
                        last = ev;
                        if (deliver(w, &ev))
                                goto self_stopped;
                }

                pthread_mutex_lock(&w->lock);
                /* Fell behind (a slow callback, a stopped process): no burst of catch-up ticks. */
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (next.tv_sec < now.tv_sec || (next.tv_sec == now.tv_sec && next.tv_nsec < now.tv_nsec))
                        next = now;
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;

self_stopped:
        watch_destroy(w);
        return NULL;
}

AUTOPROCS_API int autoprocs_watch_start(const autoprocs_config *config, autoprocs_watch_fn fn, void *userdata,
                                        autoprocs_watch **ret_watch)
{
        autoprocs_watch *w;
        pthread_condattr_t ca;
        pthread_attr_t ta;
        sigset_t all, old;
        int r;

        if (!fn || !ret_watch || (config && config->interval_ms == 0))
                return -EINVAL;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->fn = fn;
        w->userdata = userdata;
        w->interval_ms = config ? config->interval_ms : AP_CONFIG_DEFAULT_INTERVAL_MS;
        r = ap_watch_new(config, &w->watch);
        if (r < 0) {
                free(w);
                return r;
        }
        pthread_mutex_init(&w->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        r = -pthread_cond_init(&w->cond, &ca);
        pthread_condattr_destroy(&ca);
        if (r < 0) {
                pthread_mutex_destroy(&w->lock);
                ap_watch_free(w->watch);
                free(w);
                return r;
        }
        pthread_attr_init(&ta);
        /* The watcher reads a few small files; 256 KiB leaves room for the callback. */
        (void)pthread_attr_setstacksize(&ta, 256 * 1024);
        /* Signals belong to the application's threads, never to the watcher. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        r = -pthread_create(&w->thread, &ta, watch_main, w);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&ta);
        if (r < 0) {
                watch_destroy(w);
                return r;
        }
        (void)pthread_setname_np(w->thread, "autoprocs-watch");
        pthread_mutex_lock(&w->lock);
        *ret_watch = w;
        w->go = true;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
        return 0;
}

AUTOPROCS_API void autoprocs_watch_stop(autoprocs_watch *w)
{
        if (!w)
                return;
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        if (pthread_equal(pthread_self(), w->thread)) {
                /* From the callback: the thread frees the watch when the callback returns. */
                w->self_stopped = true;
                pthread_mutex_unlock(&w->lock);
                (void)pthread_detach(w->thread);
                return;
        }
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
        (void)pthread_join(w->thread, NULL);
        watch_destroy(w);
}
