/* SPDX-License-Identifier: MIT */
/*
 * Internal structures of the M:N runtime: tasks (G), worker threads (M), processors (P), the
 * global scheduler state, and the small primitives shared by its files (spin lock, futex, clock).
 * Only files of lib/runtime/ include this header.
 *
 * Ownership rules:
 *   - only a P's owner M pushes to its ring; anyone may steal from it;
 *   - P structs are never freed while the runtime runs;
 *   - a G belongs to exactly one place at a time: a ring/runnext, the global queue, a wait list,
 *     the timer heap, or an M (running).  Its state moves RUNNABLE -> RUNNING -> WAITING/... with
 *     the departing side's change committed by the arriving side (the switch hook).
 */
#pragma once

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "autoprocs.h"
#include "lib/runtime/runtime.h"
#include "lib/util/clock.h"
#include "lib/util/macro.h"

#define AP_RT_MAXPROCS 1024u
#define AP_RT_RING 256u
#define AP_RT_DEFAULT_STACK (64u * 1024u)
#define AP_RT_DEFAULT_MAX_THREADS 10000u
#define AP_RT_HOG_NS (10u * 1000u * 1000u)
#define AP_CACHELINE 64

#define AP_RELAXED memory_order_relaxed
#define AP_ACQUIRE memory_order_acquire
#define AP_RELEASE memory_order_release
#define AP_ACQ_REL memory_order_acq_rel
#define AP_SEQ_CST memory_order_seq_cst

typedef struct autoprocs_task ApG;
typedef struct ApM ApM;
typedef struct ApP ApP;
typedef struct ApStack ApStack;
typedef struct ApWaiter ApWaiter;

/* ---- small primitives ------------------------------------------------------------------- */

typedef struct ApSpin {
        _Atomic uint32_t v;
} ApSpin;

static inline void ap_cpu_relax(void)
{
#if defined(__x86_64__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ __volatile__("yield" ::: "memory");
#endif
}

/* Runtime locks held by this thread (spin locks and the scheduler mutex) in the low bits, and
 * AP_TLS_PACE_DEFERRED: the pacing signal never holds a thread back while it holds one, it sets
 * the bit and the unlock that leaves no lock held runs the deferred hold-back (pace.h).  One
 * word, so that an unlock costs one decrement and one compare. */
#define AP_TLS_PACE_DEFERRED 0x80000000u
extern __thread unsigned ap_tls_locks __attribute__((tls_model("initial-exec")));
void ap_pace_deferred(void);

static inline void ap_rt_lock_enter(void)
{
        ap_tls_locks++;
        atomic_signal_fence(memory_order_seq_cst);
}

static inline void ap_rt_lock_leave(void)
{
        atomic_signal_fence(memory_order_seq_cst);
        if (AP_UNLIKELY(--ap_tls_locks == AP_TLS_PACE_DEFERRED))
                ap_pace_deferred();
}

static inline void ap_spin_lock(ApSpin *l)
{
        unsigned n = 0;

        ap_rt_lock_enter();
        for (;;) {
                if (atomic_exchange_explicit(&l->v, 1, AP_ACQUIRE) == 0)
                        return;
                while (atomic_load_explicit(&l->v, AP_RELAXED) != 0) {
                        if (++n < 128)
                                ap_cpu_relax();
                        else
                                sched_yield();
                }
        }
}

static inline void ap_spin_unlock(ApSpin *l)
{
        atomic_store_explicit(&l->v, 0, AP_RELEASE);
        ap_rt_lock_leave();
}

static inline void ap_futex_wait(_Atomic uint32_t *addr, uint32_t val, const struct timespec *rel)
{
        (void)syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, rel, NULL, 0);
}

static inline void ap_futex_wake(_Atomic uint32_t *addr, int n)
{
        (void)syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* Relaxed counter bump by the single writer (no RMW). */
static inline void ap_stat_inc(_Atomic uint64_t *c)
{
        atomic_store_explicit(c, atomic_load_explicit(c, AP_RELAXED) + 1, AP_RELAXED);
}

/* ---- tasks -------------------------------------------------------------------------------- */

enum {
        AP_G_RUNNABLE = 1,
        AP_G_RUNNING = 2,
        AP_G_WAITING = 3,
        AP_G_DEAD = 4,
};

/* A waiter on a wait list: a parked task (g != NULL) or a blocked OS thread (futex on flag). */
struct ApWaiter {
        ApWaiter *next;
        ApG *g;
        _Atomic uint32_t flag;
        void *elem;             /* channel: where to copy from / to */
        int result;             /* channel: 0 or -EPIPE; mutex: woken as the owner or not */
        uint64_t since;         /* mutex: when it started waiting */
};

struct autoprocs_task {
        void *sp;               /* saved stack pointer; NULL before the first dispatch */
        ApStack *stack;
        ApG *next;              /* global queue, timer firing list, free lists */
        _Atomic uint32_t state;
        bool detached;
        bool in_block;          /* between autoprocs_block_begin/end */
        bool done;              /* finished (joinable tasks), under lock */
        autoprocs_task_fn fn;
        void *arg;
        uint64_t id;
        ApSpin lock;            /* join */
        ApWaiter *joiner;
        void *fiber;            /* TSan fiber (sanitizer builds only) */
};

/* ---- processors --------------------------------------------------------------------------- */

/* The monitor's view of the thread running on a P, for hog detection (hog.c; monitor-private). */
typedef struct ApHogWatch {
        ApM *m;                 /* the thread seen on the P */
        uint64_t tick;          /* its rt_tick then */
        uint64_t read_ns;       /* when to read its CPU clock next (wall) */
        uint64_t cpu0_ns;       /* its CPU clock 1 ms after the tick was seen; UINT64_MAX: none */
        bool hog;               /* counted and reported for this tick */
} ApHogWatch;

enum {
        AP_P_IDLE = 0,
        AP_P_RUNNING = 1,
        AP_P_SYSCALL = 2,
        AP_P_DEAD = 3,
};

struct ApP {
        /* the ring: head moved by anyone (CAS), tail by the owner only */
        _Alignas(AP_CACHELINE) _Atomic uint32_t head;
        _Alignas(AP_CACHELINE) _Atomic uint32_t tail;
        _Atomic(ApG *) runnext;
        _Atomic(ApG *) slots[AP_RT_RING];

        _Alignas(AP_CACHELINE) uint32_t id;
        _Atomic uint32_t status;
        _Atomic uint32_t retire;        /* set by the resizer: leave at the next scheduling point */
        _Atomic uint32_t preempt;       /* set by the monitor: the running task should yield */
        _Atomic uint32_t paused;        /* its M is held back by pacing (pace.c): no hog */
        _Atomic uint64_t schedtick;     /* dispatches; the monitor watches it for hogs */
        _Atomic uint32_t in_task;       /* its M runs a task (not the scheduler loop) */
        _Atomic uint64_t cur_task;      /* id of the task dispatched last (for hog reports) */
        _Atomic uint64_t syscalltick;   /* blocking regions entered */
        _Atomic(ApM *) m;
        ApP *idle_next;                 /* idle list, under sched.lock */
        uint32_t runnext_streak;
        uint32_t timer_polls;           /* owner-only: ap_timers_poll() calls */
        uint64_t idseq;
        uint64_t rand;

        /* owner-only caches */
        ApStack *stk_cache;
        uint32_t nstk;
        ApG *gfree;
        uint32_t ngfree;

        /* monitor-private */
        uint64_t sm_tick, sm_tick_ns, sm_sctick, sm_sctick_ns;
        ApHogWatch hw;                  /* hog.c */

        /* counters, single writer (the owner) */
        _Atomic uint64_t n_spawned, n_finished, n_switches, n_steals;
};

/* ---- worker threads ----------------------------------------------------------------------- */

enum {
        AP_HOOK_NONE = 0,
        AP_HOOK_YIELD,          /* requeue the departing task */
        AP_HOOK_PARK,           /* mark it waiting, then release hook_lock */
        AP_HOOK_GLOBAL,         /* put it on the global queue (blocking-region slow path) */
        AP_HOOK_EXIT,           /* recycle its stack, finish it */
        AP_HOOK_EXIT_JOINED,    /* same, its joiner already runs next (exit hooks last) */
};

/* ApM.revoke: the monitor's hand-off of a hog's P (hog.c). */
enum {
        AP_REVOKE_NONE = 0,
        AP_REVOKE_ASKED = 1,    /* the monitor wants the P; whoever CASes it first decides */
        AP_REVOKE_TAKEN = 2,    /* the monitor took it: this M must never touch it again */
};

struct ApM {
        void *g0_sp;            /* the scheduler context (the thread's own stack) */
        ApG *curg;
        ApP *p;                 /* written only by this M */
        ApP *oldp;              /* P left in a blocking region */
        _Atomic(ApP *) nextp;   /* P handed over by startm() */
        bool spinning;
        bool start_spinning;
        _Atomic uint32_t park;  /* futex word: 1 = woken */
        ApM *idle_next;         /* under sched.lock */
        ApM *all_next;
        pthread_t thread;
        uint32_t id;
        uint64_t rand;

        int hook;
        ApG *hook_g;
        ApSpin *hook_lock;

        /* hog.h/hog.c: calls into the runtime and the monitor's hand-off of a hog's P */
        _Alignas(AP_CACHELINE) _Atomic uint64_t rt_tick; /* odd: runtime code; even: a task's own */
        _Atomic uint32_t revoke;        /* AP_REVOKE_*: the monitor asks for / took the P */
        _Atomic bool has_cpuclock;
        _Atomic clockid_t cpuclock;     /* this thread's CPU clock (read by the monitor) */

        void *g0_fiber;
        void *g0_lo;
        size_t g0_size;
        void *altstack;
        size_t altstack_size;

        /* pacing (pace.c), this thread's own */
        uint64_t pace_cpu;      /* its CPU clock at the last charge */
        uint64_t pace_mono;     /* monotonic time of the last charge */
        timer_t pace_timer;     /* CPU-clock timer of the hold-back signal */
        bool pace_has_timer;
        bool pace_timer_on;
};

/* ---- the scheduler ------------------------------------------------------------------------ */

typedef struct ApSched {
        pthread_mutex_t lock;           /* idle lists, P status changes by the resizer */
        ApP *pidle;
        _Atomic uint32_t npidle;
        ApM *midle;
        _Atomic uint32_t nmidle;
        ApM *poll_m;                    /* the M blocked in the poller (netpoll.c), or NULL */
        _Atomic uint32_t nmspinning;
        _Atomic uint32_t nprocs;        /* Ps with id < nprocs may be acquired */
        _Atomic uint32_t maxp;          /* highest count ever allocated */
        _Atomic(ApP *) allp[AP_RT_MAXPROCS];

        ApSpin gq_lock;
        ApG *gq_head, *gq_tail;
        _Atomic uint64_t gq_size;

        ApSpin gfree_lock;
        ApG *gfree;
        uint32_t ngfree;

        _Atomic uint32_t nthreads;      /* worker Ms */
        _Atomic uint32_t nthreads_peak;
        uint32_t max_threads;
        ApM *allm;                      /* under lock */
        uint32_t next_mid;
        _Atomic bool running;
        _Atomic bool shutdown;
        size_t stack_size;
        autoprocs_log_fn log_fn;
        void *log_userdata;

        /* resize */
        _Atomic uint32_t target;
        _Atomic uint32_t in_force;
        _Atomic uint32_t req_gen, done_gen;
        _Atomic uint64_t req_ns;

        /* monitor */
        pthread_t sysmon;
        _Atomic uint32_t sm_wake;
        _Atomic uint32_t sm_deep;
        _Atomic uint32_t timers_due;    /* set by the monitor: a timer is due, Ps read the clock */
        _Atomic uint64_t sm_until;      /* the monitor sleeps until then on a timer deadline; 0 no */

        /* hogs (hog.c) */
        _Atomic uint32_t hog_threads;   /* threads running a hog whose P was handed off */
        _Atomic uint32_t hogs_now;      /* Ps the monitor sees hogged (wakep kicks it) */
        _Atomic uint32_t hog_kick;
        _Atomic uint64_t hog_handoffs;

        /* counters */
        _Atomic uint64_t ext_spawned;
        _Atomic uint64_t handoffs, hogs, resizes_up, resizes_down, cap_hits, last_resize_ns;
        _Atomic uint64_t ext_ids;
        _Atomic uint64_t cap_logged_ns;
} ApSched;

extern ApSched ap_sched;

/* The scheduler mutex, counted as a runtime lock (see ap_rt_lock_enter). */
static inline void ap_sched_lock(void)
{
        ap_rt_lock_enter();
        pthread_mutex_lock(&ap_sched.lock);
}

static inline void ap_sched_unlock(void)
{
        pthread_mutex_unlock(&ap_sched.lock);
        ap_rt_lock_leave();
}

/* The current M (NULL outside the runtime's threads).  Never cached across a switch: a task may
 * resume on another thread, so every read goes through this non-inlinable accessor. */
ApM *ap_cur_m(void);

/* sched.c */
void ap_acquirep(ApM *m, ApP *p);
void ap_wakep(void);
void ap_gq_put(ApG *g);
void ap_gq_put_list(ApG *head, ApG *tail, uint32_t n);
uint32_t ap_runq_grab(ApP *p, ApG **batch, bool stealnext);
void ap_handoffp(ApP *p);
void ap_log(autoprocs_log_level level, const char *event, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
ApP *ap_pidleget_locked(void);
void ap_pidleput_locked(ApP *p);
void ap_p_drain_to_global(ApP *p);
ApP *ap_p_new(uint32_t id);
void ap_sched_shutdown(void);

/* task.c */
/* Make @g the running task of @m (binding a stack on its first dispatch). */
void ap_g_dispatch(ApM *m, ApG *g);
/* On arrival after a switch: commit the departing task's state change (the hook). */
void ap_after_switch(ApM *m);
void ap_ready(ApG *g);
void ap_ready_ex(ApG *g, bool next);
/* Ready @g into the caller's runnext without waking another thread (the caller, holding a P,
 * runs it next: Go's netpoll hand-over); on the global queue (and wake) without a P. */
void ap_ready_here(ApG *g);
void ap_park(ApSpin *lock);
/* True when @g (the current task or NULL) can park, i.e. holds a processor. */
bool ap_task_parkable(ApG *g);
void ap_g_free(ApG *g);

/* Wait objects shared by join, wait groups, mutexes and channels. */
void ap_waiter_wake(ApWaiter *w);
/* Block on @w until woken; releases @lock (held on entry) first.  Task or thread. */
void ap_waiter_wait(ApWaiter *w, ApSpin *lock);

/* timer.c */
/* Park the current task @g until @deadline (CLOCK_MONOTONIC ns). */
void ap_timer_add(uint64_t deadline, ApG *g);
/* A callback timer: fn(arg, seq, next) runs once when due, with no lock held, on the thread that
 * fires it (next: a worker would run what it readies next).  The owner record tracks the
 * entry's heap slot (-1: not pending); initialise idx to -1. */
typedef void (*ApTimerFn)(void *arg, uint64_t seq, bool next);
typedef struct ApTimer {
        int64_t idx;
} ApTimer;
/* (Re)start @timer.  @retval 0  @retval -ENOMEM */
int ap_timer_start(ApTimer *timer, uint64_t when, ApTimerFn fn, void *arg, uint64_t seq);
/* Remove @timer before it fires: true if it was pending (its callback will not run); false if
 * it was not pending or is firing right now (its callback may still run: it must check @seq). */
bool ap_timer_stop(ApTimer *timer);
uint64_t ap_timer_next(void);
unsigned ap_timers_run(uint64_t now);
unsigned ap_timers_run_ex(uint64_t now, bool local);
extern _Atomic uint64_t ap_timer_next_ns;

/* At a scheduling point of the owner of @p (NULL: none), with no lock held: fire due timers
 * into this P's queue.  One relaxed load when no timer is pending; otherwise a clock read
 * (about 20 ns on a VM) every 4th call, or at every call once the monitor flagged a timer due
 * (sysmon.c: it wakes at the deadline while every P is busy).  @force: read the clock anyway. */
static inline void ap_timers_poll(ApP *p, bool force)
{
        uint64_t next = atomic_load_explicit(&ap_timer_next_ns, AP_RELAXED), now;

        if (AP_LIKELY(next == UINT64_MAX))
                return;
        if (!force && p && (++p->timer_polls & 3) != 0 &&
            !atomic_load_explicit(&ap_sched.timers_due, AP_RELAXED))
                return;
        now = ap_now_ns();
        if (next <= now)
                (void)ap_timers_run_ex(now, true);
        else if (atomic_load_explicit(&ap_sched.timers_due, AP_RELAXED))
                atomic_store_explicit(&ap_sched.timers_due, 0, AP_RELAXED); /* stale */
}
void ap_timers_fini(void);

/* blocking.c: at most ap_blocking_cap() tasks inside blocking regions at once */
#define AP_BLOCKING_PER_PROC 4u
void ap_blocking_init(unsigned max_blocking);
unsigned ap_blocking_cap(void);
/* The current task @g (holding a P) takes a slot, parking in the FIFO while none is free. */
void ap_blocking_enter(ApG *g);
/* Give the slot back (to the oldest waiter, if any). */
void ap_blocking_leave(void);
void ap_blocking_counts(uint64_t *ret_active, uint64_t *ret_waiting, uint64_t *ret_peak);

/* resize.c */
bool ap_resize_step(uint64_t now);
void ap_resize_try_complete_locked(void);

/* task.c: the current task holds no P (its blocking region's P was retaken, or the monitor
 * handed its hog's P away): take an idle P, else queue the task globally and park this thread. */
void ap_task_rejoin(ApM *m);
/* task.c: the slow path of ap_rt_enter() (hog.h): rejoin after a hand-off, or yield when asked. */
void ap_rt_enter_slow(ApM *m);

/* sync.c: mutexes handed to a waiter in starvation mode (for tests; not in the public stats) */
extern _Atomic uint64_t ap_mutex_starve_handoffs;

/* hog.c */
int ap_hog_init(void);
void ap_hog_m_init(ApM *m);
bool ap_hog_scan(uint64_t now);
void ap_hog_rejoin(ApM *m);
void ap_hog_kick(void);
/* Threads now running a hog without a P (at most the processor count), for pacing. */
static inline uint32_t ap_hog_threads(void)
{
        return atomic_load_explicit(&ap_sched.hog_threads, AP_RELAXED);
}

/* schedtrace.c */
typedef struct ApSchedFigures {
        uint32_t procs, procs_idle, threads, threads_idle, spinning, hog_threads;
        uint64_t runq_global, runq_local, blocked, polled;
} ApSchedFigures;
/* The figures of AUTOPROCS_SCHEDTRACE and autoprocs_stats; with @runq (room for @n), each P's
 * queue length too.  Returns the number of Ps (those with id < procs). */
uint32_t ap_sched_figures(ApSchedFigures *ret, uint32_t *runq, uint32_t n);
void ap_schedtrace_init(void);
/* Print the trace line when due; returns the next deadline (UINT64_MAX: trace off). */
uint64_t ap_schedtrace_tick(uint64_t now);

/* sysmon.c */
int ap_sysmon_start(void);
void ap_sysmon_join(void);
void ap_sysmon_wake(void);

/* stack.c */
struct ApStack {
        ApStack *next;
        char *lo;               /* lowest usable byte */
        char *hi;               /* one past the highest */
        char *map;              /* the guard page below lo; NULL when unguarded */
        bool guarded;
        bool cold;              /* its pages were given back (ap_stack_trim) */
        void *fiber;            /* TSan fiber, kept with the stack: creating one is expensive */
        unsigned valgrind_id;   /* its registration with valgrind (valgrind.h); 0 without */
};

int ap_stack_init(size_t stack_size, int guard); /* AP_STACK_GUARD_* */
void ap_stack_fini(void);
ApStack *ap_stack_get(ApP *p);
void ap_stack_put(ApP *p, ApStack *s);
void ap_stack_flush(ApP *p);
AP_NORETURN void ap_stack_report_overflow(uint64_t id, const char *how);
int ap_stack_altstack_init(ApM *m);
void ap_stack_altstack_fini(ApM *m);
void *ap_stack_fiber(ApStack *s);
bool ap_stack_trimmable(unsigned keep);
unsigned ap_stack_trim(unsigned keep, unsigned max);
void ap_stack_counts(uint64_t *ret_guarded, uint64_t *ret_unguarded);

static inline void *ap_stack_top(const ApStack *s)
{
        return s->hi;
}

static inline void *ap_stack_lo(const ApStack *s)
{
        return s->lo;
}

static inline size_t ap_stack_usable(const ApStack *s)
{
        return (size_t)(s->hi - s->lo);
}

/* At every switch-out: a stack pointer below the stack's low end is an overflow (this also
 * covers unguarded stacks; a canary word would cost a page per stack). */
static inline void ap_stack_check(const ApStack *s, const void *sp, uint64_t task_id)
{
        if (AP_UNLIKELY((const char *)sp < s->lo + 256))
                ap_stack_report_overflow(task_id, " (stack pointer below the stack)");
}
