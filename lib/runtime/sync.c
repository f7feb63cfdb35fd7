/* SPDX-License-Identifier: MIT */
/*
 * Task synchronisation: channels (buffered and unbuffered, Go's close semantics except that a
 * send on a closed channel returns -EPIPE instead of panicking), wait groups and mutexes.
 * Each object has a spin lock and FIFO wait lists of ApWaiter records that live on the waiter's
 * own stack; a parked task releases the lock only after its registers are saved (ap_park), so
 * a wakeup can never be lost or run a task whose frame is still live.  Wait groups and mutexes
 * also accept plain OS threads (they block on a futex); channels need a task.  A task inside a
 * blocking region waits like a thread (it holds no processor to give up).
 */
#include <stdlib.h>
#include <string.h>

#include "lib/runtime/hog.h"
#include "lib/runtime/internal.h"

typedef struct WaitList {
        ApWaiter *head, *tail;
} WaitList;

static void wl_push(WaitList *l, ApWaiter *w)
{
        w->next = NULL;
        if (l->tail)
                l->tail->next = w;
        else
                l->head = w;
        l->tail = w;
}

static ApWaiter *wl_pop(WaitList *l)
{
        ApWaiter *w = l->head;

        if (w) {
                l->head = w->next;
                if (!l->head)
                        l->tail = NULL;
                w->next = NULL;
        }
        return w;
}

static ApG *cur_task(void)
{
        ApM *m = ap_cur_m();

        return m ? m->curg : NULL;
}

/* Who waits: the task, or (outside a task, or inside a blocking region, where the thread has no
 * processor) the OS thread itself. */
static ApG *parkable(ApG *g)
{
        return ap_task_parkable(g) ? g : NULL;
}

/* ---- channels ------------------------------------------------------------------------------- */

struct autoprocs_chan {
        ApSpin lock;
        size_t elem_size, cap, count, head;
        bool closed;
        WaitList sendq, recvq;
        unsigned char *buf;
};

AUTOPROCS_API int autoprocs_chan_new(size_t elem_size, size_t capacity, autoprocs_chan **ret_chan)
{
        autoprocs_chan *c;

        if (!ret_chan || elem_size == 0 || elem_size > 65536 ||
            (capacity && capacity > SIZE_MAX / elem_size))
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        if (capacity) {
                c->buf = malloc(capacity * elem_size);
                if (!c->buf) {
                        free(c);
                        return -ENOMEM;
                }
        }
        c->elem_size = elem_size;
        c->cap = capacity;
        *ret_chan = c;
        return 0;
}

AUTOPROCS_API autoprocs_chan *autoprocs_chan_free(autoprocs_chan *chan)
{
        if (chan) {
                free(chan->buf);
                free(chan);
        }
        return NULL;
}

static int chan_send(autoprocs_chan *c, const void *elem)
{
        ApWaiter w = { 0 }, *r;
        ApG *g = cur_task();

        if (!c || !elem)
                return -EINVAL;
        if (!g)
                return -EPERM;
        ap_spin_lock(&c->lock);
        if (c->closed) {
                ap_spin_unlock(&c->lock);
                return -EPIPE;
        }
        r = wl_pop(&c->recvq);
        if (r) {
                /* hand-off: straight into the receiver, which runs next on this P */
                memcpy(r->elem, elem, c->elem_size);
                r->result = 0;
                ap_spin_unlock(&c->lock);
                ap_waiter_wake(r);
                return 0;
        }
        if (c->count < c->cap) {
                memcpy(c->buf + ((c->head + c->count) % c->cap) * c->elem_size, elem, c->elem_size);
                c->count++;
                ap_spin_unlock(&c->lock);
                return 0;
        }
        w.g = parkable(g);
        w.elem = (void *)elem;
        wl_push(&c->sendq, &w);
        ap_waiter_wait(&w, &c->lock);
        return w.result;
}

static int chan_recv(autoprocs_chan *c, void *ret_elem)
{
        ApWaiter w = { 0 }, *s;
        ApG *g = cur_task();

        if (!c || !ret_elem)
                return -EINVAL;
        if (!g)
                return -EPERM;
        ap_spin_lock(&c->lock);
        s = wl_pop(&c->sendq);
        if (s) {
                if (c->cap == 0) {
                        memcpy(ret_elem, s->elem, c->elem_size);
                } else {
                        /* full buffer: take its head, the sender's element goes to the tail */
                        memcpy(ret_elem, c->buf + c->head * c->elem_size, c->elem_size);
                        memcpy(c->buf + c->head * c->elem_size, s->elem, c->elem_size);
                        c->head = (c->head + 1) % c->cap;
                }
                s->result = 0;
                ap_spin_unlock(&c->lock);
                ap_waiter_wake(s);
                return 0;
        }
        if (c->count > 0) {
                memcpy(ret_elem, c->buf + c->head * c->elem_size, c->elem_size);
                c->head = (c->head + 1) % c->cap;
                c->count--;
                ap_spin_unlock(&c->lock);
                return 0;
        }
        if (c->closed) {
                ap_spin_unlock(&c->lock);
                return -EPIPE;
        }
        w.g = parkable(g);
        w.elem = ret_elem;
        wl_push(&c->recvq, &w);
        ap_waiter_wait(&w, &c->lock);
        return w.result;
}

static void chan_close(autoprocs_chan *c)
{
        WaitList all = { 0 };
        ApWaiter *w;

        if (!c)
                return;
        ap_spin_lock(&c->lock);
        c->closed = true;
        while ((w = wl_pop(&c->recvq))) {
                w->result = -EPIPE;
                wl_push(&all, w);
        }
        while ((w = wl_pop(&c->sendq))) {
                w->result = -EPIPE;
                wl_push(&all, w);
        }
        ap_spin_unlock(&c->lock);
        while ((w = wl_pop(&all)))
                ap_waiter_wake(w);
}

/* ---- wait groups ---------------------------------------------------------------------------- */

struct autoprocs_wg {
        ApSpin lock;
        int64_t count;
        WaitList waiters;
};

AUTOPROCS_API int autoprocs_wg_new(autoprocs_wg **ret_wg)
{
        autoprocs_wg *wg;

        if (!ret_wg)
                return -EINVAL;
        wg = calloc(1, sizeof(*wg));
        if (!wg)
                return -ENOMEM;
        *ret_wg = wg;
        return 0;
}

AUTOPROCS_API autoprocs_wg *autoprocs_wg_free(autoprocs_wg *wg)
{
        free(wg);
        return NULL;
}

static int wg_add(autoprocs_wg *wg, int64_t delta)
{
        WaitList all = { 0 };
        ApWaiter *w;

        if (!wg)
                return -EINVAL;
        ap_spin_lock(&wg->lock);
        if (delta < 0 ? wg->count < -delta : wg->count > INT64_MAX - delta) {
                /* more done() than add(), a caller bug (Go panics): refused, nothing changes */
                ap_spin_unlock(&wg->lock);
                return -EINVAL;
        }
        wg->count += delta;
        if (wg->count == 0) {
                all = wg->waiters;
                wg->waiters = (WaitList){ 0 };
        }
        ap_spin_unlock(&wg->lock);
        while ((w = wl_pop(&all)))
                ap_waiter_wake(w);
        return 0;
}

AUTOPROCS_API int autoprocs_wg_done(autoprocs_wg *wg)
{
        return autoprocs_wg_add(wg, -1);
}

static void wg_wait(autoprocs_wg *wg)
{
        ApWaiter w = { 0 };

        if (!wg)
                return;
        ap_spin_lock(&wg->lock);
        if (wg->count == 0) {
                ap_spin_unlock(&wg->lock);
                return;
        }
        w.g = parkable(cur_task());
        wl_push(&wg->waiters, &w);
        ap_waiter_wait(&w, &wg->lock);
}

/* ---- mutexes -------------------------------------------------------------------------------- */

/*
 * Go's mutex, simplified.  Normal mode: unlock releases the mutex and wakes the first waiter,
 * which competes with newcomers (barging keeps throughput: no convoy of hand-offs); a woken
 * waiter that loses requeues at the front.  A waiter that has waited more than 1 ms switches
 * the mutex to starvation mode: unlock then hands it straight to the first waiter and
 * newcomers queue, until the queue is empty.
 */
#define MU_LOCKED 1u
#define MU_WAITERS 2u           /* the queue may be non-empty: unlock takes the slow path */
#define MU_STARVING 4u
#define MU_WOKEN 8u             /* a woken waiter is on its way: unlock wakes nobody else */
#define MU_HANDOFF 1            /* ApWaiter.result: woken as the owner */
#define MU_STARVE_NS 1000000u

_Atomic uint64_t ap_mutex_starve_handoffs;

struct autoprocs_mutex {
        _Atomic uint32_t state;
        ApSpin lock;            /* the queue, and every change of MU_WAITERS / MU_STARVING */
        WaitList waiters;
};

static void wl_push_front(WaitList *l, ApWaiter *w)
{
        w->next = l->head;
        l->head = w;
        if (!l->tail)
                l->tail = w;
}

AUTOPROCS_API int autoprocs_mutex_new(autoprocs_mutex **ret_mutex)
{
        autoprocs_mutex *mu;

        if (!ret_mutex)
                return -EINVAL;
        mu = calloc(1, sizeof(*mu));
        if (!mu)
                return -ENOMEM;
        *ret_mutex = mu;
        return 0;
}

AUTOPROCS_API autoprocs_mutex *autoprocs_mutex_free(autoprocs_mutex *mutex)
{
        free(mutex);
        return NULL;
}

static void mutex_lock(autoprocs_mutex *mu)
{
        ApWaiter w = { 0 };
        uint64_t wait_start = 0;
        bool requeue = false, woken = false;
        uint32_t s = 0, want;

        if (!mu)
                return;
        if (atomic_compare_exchange_strong_explicit(&mu->state, &s, MU_LOCKED, AP_ACQUIRE,
                                                    AP_RELAXED))
                return;
        for (;;) {
                /* brief spin: the owner may be about to unlock */
                for (int i = 0; i < 64; i++) {
                        s = atomic_load_explicit(&mu->state, AP_RELAXED);
                        want = (s | MU_LOCKED) & ~(woken ? MU_WOKEN : 0u);
                        if (!(s & (MU_LOCKED | MU_STARVING)) &&
                            atomic_compare_exchange_weak_explicit(&mu->state, &s, want,
                                                                  AP_ACQUIRE, AP_RELAXED))
                                return;
                        ap_cpu_relax();
                }
                ap_spin_lock(&mu->lock);
                s = atomic_load_explicit(&mu->state, AP_RELAXED);
                if (!(s & (MU_LOCKED | MU_STARVING))) {
                        bool got;

                        want = (s | MU_LOCKED) & ~(woken ? MU_WOKEN : 0u);
                        got = atomic_compare_exchange_strong_explicit(&mu->state, &s, want,
                                                                      AP_ACQUIRE, AP_RELAXED);
                        ap_spin_unlock(&mu->lock);
                        if (got)
                                return;
                        continue;
                }
                /* must wait: announce it (under the queue lock, so unlock sees the waiter) */
                want = (s | MU_WAITERS) & ~(woken ? MU_WOKEN : 0u);
                if (wait_start && ap_now_ns() - wait_start > MU_STARVE_NS)
                        want |= MU_STARVING;
                if (!atomic_compare_exchange_strong_explicit(&mu->state, &s, want, AP_RELAXED,
                                                             AP_RELAXED)) {
                        ap_spin_unlock(&mu->lock);
                        continue;
                }
                woken = false;
                if (!wait_start)
                        wait_start = ap_now_ns();
                w.since = wait_start;
                w.g = parkable(cur_task());
                atomic_store_explicit(&w.flag, 0, AP_RELAXED);
                w.result = 0;
                if (requeue)
                        wl_push_front(&mu->waiters, &w);
                else
                        wl_push(&mu->waiters, &w);
                ap_waiter_wait(&w, &mu->lock);
                if (w.result == MU_HANDOFF) {
                        atomic_thread_fence(memory_order_acquire);
                        return;
                }
                requeue = true;
                woken = true;
        }
}

static int mutex_unlock(autoprocs_mutex *mu)
{
        uint32_t s = MU_LOCKED;
        ApWaiter *w = NULL;

        if (!mu)
                return -EINVAL;
        if (atomic_compare_exchange_strong_explicit(&mu->state, &s, 0, AP_RELEASE, AP_RELAXED))
                return 0;
        ap_spin_lock(&mu->lock);
        /* we own MU_LOCKED; MU_WAITERS and MU_STARVING change only under the queue lock, and
         * MU_WOKEN is only cleared by the woken waiter once it holds MU_LOCKED or the queue
         * lock, so the state cannot change under us here */
        s = atomic_load_explicit(&mu->state, AP_RELAXED);
        if (!(s & MU_LOCKED)) {
                /* unlock of an unlocked mutex, a caller bug (Go throws): refused */
                ap_spin_unlock(&mu->lock);
                return -EPERM;
        }
        if (s & MU_STARVING) {
                /* hand it over: it stays locked; back to normal mode once the queue is empty
                 * or the waiter served did not wait long (Go's rule) */
                uint32_t next = MU_LOCKED | (s & MU_WOKEN);

                w = wl_pop(&mu->waiters);
                if (mu->waiters.head) {
                        next |= MU_WAITERS;
                        if (w && ap_now_ns() - w->since >= MU_STARVE_NS)
                                next |= MU_STARVING;
                }
                atomic_store_explicit(&mu->state, next, AP_RELEASE);
                if (w) {
                        w->result = MU_HANDOFF;
                        atomic_fetch_add_explicit(&ap_mutex_starve_handoffs, 1, AP_RELAXED);
                }
        } else if (s & MU_WOKEN) {
                /* somebody already woken will compete for it */
                atomic_store_explicit(&mu->state, s & ~MU_LOCKED, AP_RELEASE);
        } else {
                w = wl_pop(&mu->waiters);
                atomic_store_explicit(&mu->state,
                                      (mu->waiters.head ? MU_WAITERS : 0u) | (w ? MU_WOKEN : 0u),
                                      AP_RELEASE);
                if (w)
                        w->result = 0;
        }
        ap_spin_unlock(&mu->lock);
        if (w)
                ap_waiter_wake(w);
        return 0;
}

/* ---- the public entry points: each is a scheduling point (hog.h) ---------------------------- */

AUTOPROCS_API int autoprocs_chan_send(autoprocs_chan *chan, const void *elem)
{
        ApM *m;
        bool rt = ap_rt_enter(&m);
        int r = chan_send(chan, elem);

        ap_rt_exit(rt);
        return r;
}

AUTOPROCS_API int autoprocs_chan_recv(autoprocs_chan *chan, void *ret_elem)
{
        ApM *m;
        bool rt = ap_rt_enter(&m);
        int r = chan_recv(chan, ret_elem);

        ap_rt_exit(rt);
        return r;
}

AUTOPROCS_API void autoprocs_chan_close(autoprocs_chan *chan)
{
        ApM *m;
        bool rt = ap_rt_enter(&m);

        chan_close(chan);
        ap_rt_exit(rt);
}

AUTOPROCS_API int autoprocs_wg_add(autoprocs_wg *wg, int64_t delta)
{
        ApM *m;
        bool rt = ap_rt_enter(&m);
        int r = wg_add(wg, delta);

        ap_rt_exit(rt);
        return r;
}

AUTOPROCS_API void autoprocs_wg_wait(autoprocs_wg *wg)
{
        ApM *m;
        bool rt = ap_rt_enter(&m);

        wg_wait(wg);
        ap_rt_exit(rt);
}

AUTOPROCS_API void autoprocs_mutex_lock(autoprocs_mutex *mutex)
{
        ApM *m;
        bool rt = ap_rt_enter(&m);

        mutex_lock(mutex);
        ap_rt_exit(rt);
}

AUTOPROCS_API int autoprocs_mutex_unlock(autoprocs_mutex *mutex)
{
        ApM *m;
        bool rt = ap_rt_enter(&m);
        int r = mutex_unlock(mutex);

        ap_rt_exit(rt);
        return r;
}
