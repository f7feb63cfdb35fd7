/* SPDX-License-Identifier: MIT */
/*
 * Bounded blocking: at most `cap` tasks are inside blocking regions (autoprocs_block_begin/end)
 * at once, so a burst of blocking calls (file reads, foreign calls) costs at most that many
 * threads beyond the processors.  A task beyond the cap parks, still holding its processor's
 * turn, in a FIFO; each task leaving a region hands its slot to the oldest waiter.  The cap is
 * ApRtOptions.max_blocking, or AP_BLOCKING_PER_PROC times the processors in force (it follows
 * resizes).  Go has no such bound: its sysmon hands the P of every blocked syscall to a new
 * thread.
 */
#include "lib/runtime/internal.h"

static struct {
        ApSpin lock;
        ApWaiter *head, *tail;          /* FIFO, under lock */
        _Atomic uint32_t nwait;
        _Atomic uint32_t active;        /* tasks inside regions holding a slot */
        _Atomic uint32_t peak;
        uint32_t cap_opt;               /* 0 = per processor */
} bk;

void ap_blocking_init(unsigned max_blocking)
{
        bk.head = bk.tail = NULL;
        atomic_store(&bk.nwait, 0);
        atomic_store(&bk.active, 0);
        atomic_store(&bk.peak, 0);
        bk.cap_opt = max_blocking;
}

unsigned ap_blocking_cap(void)
{
        uint32_t np = atomic_load_explicit(&ap_sched.nprocs, AP_RELAXED);

        return bk.cap_opt ? bk.cap_opt : AP_BLOCKING_PER_PROC * (np ? np : 1);
}

static bool take_slot(void)
{
        uint32_t n = atomic_load(&bk.active), cap = ap_blocking_cap(), pk;

        do {
                if (n >= cap)
                        return false;
        } while (!atomic_compare_exchange_weak(&bk.active, &n, n + 1));
        pk = atomic_load_explicit(&bk.peak, AP_RELAXED);
        while (n + 1 > pk &&
               !atomic_compare_exchange_weak_explicit(&bk.peak, &pk, n + 1, AP_RELAXED, AP_RELAXED))
                ;
        return true;
}

void ap_blocking_enter(ApG *g)
{
        ApWaiter w = { .g = g };

        /* strict FIFO: nobody overtakes a waiter */
        if (atomic_load(&bk.nwait) == 0 && take_slot())
                return;
        ap_spin_lock(&bk.lock);
        if (bk.tail)
                bk.tail->next = &w;
        else
                bk.head = &w;
        bk.tail = &w;
        atomic_fetch_add(&bk.nwait, 1);
        /* Dekker with ap_blocking_leave(): it drops `active`, then reads nwait */
        atomic_thread_fence(memory_order_seq_cst);
        if (bk.head == &w && take_slot()) {
                bk.head = bk.tail = NULL;
                atomic_fetch_sub(&bk.nwait, 1);
                ap_spin_unlock(&bk.lock);
                return;
        }
        ap_park(&bk.lock); /* woken holding a slot */
}

void ap_blocking_leave(void)
{
        ApWaiter *list = NULL, **tail = &list;

        atomic_fetch_sub(&bk.active, 1);
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load(&bk.nwait) == 0)
                return;
        ap_spin_lock(&bk.lock);
        while (bk.head && take_slot()) {
                ApWaiter *w = bk.head;

                bk.head = w->next;
                if (!bk.head)
                        bk.tail = NULL;
                w->next = NULL;
                *tail = w;
                tail = &w->next;
                atomic_fetch_sub(&bk.nwait, 1);
        }
        ap_spin_unlock(&bk.lock);
        while (list) {
                ApWaiter *w = list;

                list = w->next;
                ap_ready(w->g);
        }
}

void ap_blocking_counts(uint64_t *ret_active, uint64_t *ret_waiting, uint64_t *ret_peak)
{
        *ret_active = atomic_load(&bk.active);
        *ret_waiting = atomic_load(&bk.nwait);
        *ret_peak = atomic_load(&bk.peak);
}
