/* SPDX-License-Identifier: MIT */
/*
 * Run queues: each P's bounded ring (Go's algorithm: the owner pushes with a store-release of
 * tail, anyone pops or steals with a CAS on head, thieves copy before they commit) plus runnext,
 * and the global queue (intrusive list under a spin lock, with an atomic size for lock-free
 * emptiness checks).
 */
#pragma once

#include "lib/runtime/internal.h"

static inline bool ap_runq_empty(ApP *p)
{
        for (;;) {
                uint32_t h = atomic_load_explicit(&p->head, AP_ACQUIRE);
                uint32_t t = atomic_load_explicit(&p->tail, AP_ACQUIRE);
                ApG *rn = atomic_load_explicit(&p->runnext, AP_ACQUIRE);

                if (t == atomic_load_explicit(&p->tail, AP_ACQUIRE))
                        return h == t && rn == NULL;
        }
}

/* Owner only: move half of a full ring plus @g to the global queue.  False if thieves raced. */
static inline bool ap_runq_put_slow(ApP *p, ApG *g, uint32_t h, uint32_t t)
{
        ApG *batch[AP_RT_RING / 2 + 1];
        uint32_t n = (t - h) / 2;

        for (uint32_t i = 0; i < n; i++)
                batch[i] = atomic_load_explicit(&p->slots[(h + i) % AP_RT_RING], AP_RELAXED);
        if (!atomic_compare_exchange_strong_explicit(&p->head, &h, h + n, AP_RELEASE, AP_RELAXED))
                return false;
        batch[n] = g;
        for (uint32_t i = 0; i < n; i++)
                batch[i]->next = batch[i + 1];
        g->next = NULL;
        ap_gq_put_list(batch[0], g, n + 1);
        return true;
}

/* Owner only: queue @g at the tail, or in runnext (kicking the old one to the tail). */
static inline void ap_runq_put(ApP *p, ApG *g, bool next)
{
        if (next) {
                ApG *old = atomic_exchange_explicit(&p->runnext, g, AP_ACQ_REL);

                if (!old)
                        return;
                g = old;
        }
        for (;;) {
                uint32_t h = atomic_load_explicit(&p->head, AP_ACQUIRE);
                uint32_t t = atomic_load_explicit(&p->tail, AP_RELAXED);

                if (t - h < AP_RT_RING) {
                        atomic_store_explicit(&p->slots[t % AP_RT_RING], g, AP_RELAXED);
                        atomic_store_explicit(&p->tail, t + 1, AP_RELEASE);
                        return;
                }
                if (ap_runq_put_slow(p, g, h, t))
                        return;
        }
}

/* Owner only: next task; runnext first unless it was taken @streak_cap times in a row. */
static inline ApG *ap_runq_get(ApP *p)
{
        ApG *rn = atomic_load_explicit(&p->runnext, AP_RELAXED);

        if (rn && p->runnext_streak < 3) {
                if (atomic_compare_exchange_strong_explicit(&p->runnext, &rn, NULL, AP_ACQ_REL,
                                                            AP_RELAXED)) {
                        p->runnext_streak++;
                        return rn;
                }
        }
        p->runnext_streak = 0;
        for (;;) {
                uint32_t h = atomic_load_explicit(&p->head, AP_ACQUIRE);
                uint32_t t = atomic_load_explicit(&p->tail, AP_RELAXED);
                ApG *g;

                if (t == h)
                        break;
                g = atomic_load_explicit(&p->slots[h % AP_RT_RING], AP_RELAXED);
                if (atomic_compare_exchange_strong_explicit(&p->head, &h, h + 1, AP_RELEASE,
                                                            AP_RELAXED))
                        return g;
        }
        /* ring empty: runnext even past the cap */
        rn = atomic_exchange_explicit(&p->runnext, NULL, AP_ACQ_REL);
        return rn;
}

/* Global queue. */
static inline bool ap_gq_nonempty(void)
{
        return atomic_load_explicit(&ap_sched.gq_size, AP_RELAXED) != 0;
}

/* Take a batch from the global queue: return one task, move up to @max - 1 more into p's ring
 * (owner only; p may be NULL for max == 1). */
static inline ApG *ap_gq_get(ApP *p, uint32_t max)
{
        ApG *g, *x;
        uint64_t n, sz;
        uint32_t np = atomic_load_explicit(&ap_sched.nprocs, AP_RELAXED);

        if (!ap_gq_nonempty())
                return NULL;
        ap_spin_lock(&ap_sched.gq_lock);
        sz = atomic_load_explicit(&ap_sched.gq_size, AP_RELAXED);
        if (sz == 0) {
                ap_spin_unlock(&ap_sched.gq_lock);
                return NULL;
        }
        n = sz / (np ? np : 1) + 1;
        if (n > sz)
                n = sz;
        if (n > max)
                n = max;
        if (n > AP_RT_RING / 2)
                n = AP_RT_RING / 2;
        g = ap_sched.gq_head;
        x = g;
        for (uint64_t i = 1; i < n; i++)
                x = x->next;
        ap_sched.gq_head = x->next;
        if (!ap_sched.gq_head)
                ap_sched.gq_tail = NULL;
        atomic_store_explicit(&ap_sched.gq_size, sz - n, AP_RELAXED);
        ap_spin_unlock(&ap_sched.gq_lock);
        x->next = NULL;
        for (ApG *y = g->next; y;) {
                ApG *nx = y->next;

                ap_runq_put(p, y, false);
                y = nx;
        }
        g->next = NULL;
        return g;
}
