/* SPDX-License-Identifier: MIT */
/*
 * Task stacks: mmap'd, lazily committed (MAP_NORESERVE), pooled (a per-P LIFO cache and a
 * global cache) so that spawning never faults a fresh stack in the steady state.
 *
 * Stacks are carved from slabs of 32 (one mmap each).  A guarded stack has a PROT_NONE page
 * below it, which splits the slab and costs two VMAs per stack, so only a budget derived from
 * vm.max_map_count gets one.  Beyond the budget stacks come from slabs without guard pages.  Every stack (guarded or not) is also checked whenever its task
 * switches out or exits: a stack pointer below the stack's low end aborts with the same report.
 * (A canary word at the low end would touch one more page per stack, doubling the memory of a
 * parked task, so the check uses the stack pointer instead; an overflow that has unwound again
 * before the next switch goes unnoticed on an unguarded stack.)  A SIGSEGV handler on an alternate signal stack turns a fault
 * in the current task's guard page into "task N overflowed its S KiB stack" and aborts.
 *
 * Stacks are never unmapped on the hot path (only at ap_stack_fini); when the runtime has been
 * idle for a while the monitor gives the pages of cached stacks beyond a working set back to
 * the kernel (ap_stack_trim).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/runtime/fiber.h"
#include "lib/runtime/internal.h"
#include "lib/runtime/runtime.h"
#include "lib/runtime/valgrind.h"

#define P_CACHE_MAX 64u
#define SLAB_STACKS 32u

/* The headers live here, not in the stacks, so that trimming can drop every page of a stack. */
typedef struct Slab {
        struct Slab *next;
        char *base;
        size_t len;
        ApStack stacks[SLAB_STACKS];
} Slab;

static struct {
        size_t page;            /* the kernel's page size: a guard is one page (64 KiB on some
                                 * aarch64 kernels) */
        size_t size;            /* usable bytes, page multiple */
        ApSpin lock;
        ApStack *free;          /* the global cache, most recently used first */
        _Atomic uint32_t nfree;
        ApStack *cold;          /* cached stacks whose pages were given back */
        Slab *slabs;
        _Atomic uint64_t guarded, unguarded;   /* stacks in existence */
        _Atomic uint32_t nfibers;               /* TSan fibers kept with stacks */
        uint64_t budget;
        struct sigaction old_segv;
        bool handler;
} st;

static uint64_t guard_budget(void)
{
        char buf[64];
        long max = 65530, maps = 0;
        int fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);

        if (fd >= 0) {
                ssize_t n = read(fd, buf, sizeof(buf) - 1);

                if (n > 0) {
                        buf[n] = '\0';
                        max = strtol(buf, NULL, 10);
                }
                close(fd);
        }
        fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                char big[4096];
                ssize_t n;

                while ((n = read(fd, big, sizeof(big))) > 0)
                        for (ssize_t i = 0; i < n; i++)
                                maps += big[i] == '\n';
                close(fd);
        }
        if (max - maps - 4096 <= 0)
                return 0;
        return AP_MIN((uint64_t)16384, (uint64_t)(max - maps - 4096) / 2);
}

static bool fault_in_guard(ApStack *s, uintptr_t addr)
{
        return s && s->guarded && addr >= (uintptr_t)s->map && addr < (uintptr_t)s->map + st.page;
}

static size_t fmt_u64(char *p, uint64_t v)
{
        char tmp[24];
        size_t n = 0, i;

        do {
                tmp[n++] = (char)('0' + v % 10);
                v /= 10;
        } while (v);
        for (i = 0; i < n; i++)
                p[i] = tmp[n - 1 - i];
        return n;
}

AP_NORETURN void ap_stack_report_overflow(uint64_t id, const char *how)
{
        char msg[160];
        size_t n = 0;
        const char *a = "autoprocs: task ", *b = " overflowed its ", *c = " KiB stack";

        memcpy(msg + n, a, strlen(a)), n += strlen(a);
        n += fmt_u64(msg + n, id);
        memcpy(msg + n, b, strlen(b)), n += strlen(b);
        n += fmt_u64(msg + n, st.size / 1024);
        memcpy(msg + n, c, strlen(c)), n += strlen(c);
        memcpy(msg + n, how, strlen(how)), n += strlen(how);
        msg[n++] = '\n';
        (void)!write(STDERR_FILENO, msg, n);
        signal(SIGABRT, SIG_DFL);
        abort();
}

static void segv_handler(int sig, siginfo_t *si, void *uctx)
{
        ApM *m = ap_cur_m();
        ApG *g = m ? m->curg : NULL;

        if (g && fault_in_guard(g->stack, (uintptr_t)si->si_addr))
                ap_stack_report_overflow(g->id, " (guard page hit)");
        /* Not ours: restore the previous disposition; the fault repeats and is handled there. */
        sigaction(SIGSEGV, &st.old_segv, NULL);
        (void)sig, (void)uctx;
}

int ap_stack_init(size_t stack_size, int guard)
{
        struct sigaction sa;
        long page = sysconf(_SC_PAGESIZE);

        memset(&st.lock, 0, sizeof(st.lock));
        st.page = page > 0 ? (size_t)page : 4096u;
        st.size = (stack_size + st.page - 1) & ~(st.page - 1);
        st.free = NULL;
        st.cold = NULL;
        atomic_store(&st.nfree, 0);
        st.slabs = NULL;
        atomic_store(&st.guarded, 0);
        atomic_store(&st.unguarded, 0);
        st.budget = guard == AP_STACK_GUARD_NEVER    ? 0
                    : guard == AP_STACK_GUARD_ALWAYS ? UINT64_MAX
                                                     : guard_budget();
        if (!st.handler) {
                memset(&sa, 0, sizeof(sa));
                sa.sa_sigaction = segv_handler;
                sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
                sigemptyset(&sa.sa_mask);
                if (sigaction(SIGSEGV, &sa, &st.old_segv) < 0)
                        return AP_NEG_ERRNO();
                st.handler = true;
        }
        return 0;
}

void ap_stack_fini(void)
{
        while (st.slabs) {
                Slab *sl = st.slabs;

                st.slabs = sl->next;
                for (unsigned i = 0; i < SLAB_STACKS; i++) {
                        ap_fiber_destroy(sl->stacks[i].fiber);
                        ap_valgrind_stack_deregister(sl->stacks[i].valgrind_id);
                }
                munmap(sl->base, sl->len);
                free(sl);
        }
        st.free = NULL;
        st.cold = NULL;
        atomic_store(&st.nfree, 0);
        atomic_store(&st.nfibers, 0);
        atomic_store(&st.guarded, 0);
        atomic_store(&st.unguarded, 0);
        if (st.handler) {
                sigaction(SIGSEGV, &st.old_segv, NULL);
                st.handler = false;
        }
}

/* Map a slab of SLAB_STACKS stacks (each below a guard page when @guarded) and put them on the
 * free list.  Called without st.lock: the system calls happen outside it. */
static int add_slab(bool guarded)
{
        size_t stride = st.size + (guarded ? st.page : 0), len = (size_t)SLAB_STACKS * stride;
        char *base = mmap(NULL, len, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        Slab *sl;

        if (base == MAP_FAILED)
                return AP_NEG_ERRNO();
        sl = malloc(sizeof(*sl));
        if (!sl) {
                munmap(base, len);
                return -ENOMEM;
        }
        (void)madvise(base, len, MADV_NOHUGEPAGE);
        for (unsigned i = 0; guarded && i < SLAB_STACKS; i++)
                if (mprotect(base + (size_t)i * stride, st.page, PROT_NONE) < 0) {
                        int r = AP_NEG_ERRNO();

                        munmap(base, len);
                        free(sl);
                        return r;
                }
        sl->base = base;
        sl->len = len;
        for (unsigned i = 0; i < SLAB_STACKS; i++) {
                char *lo = base + (size_t)i * stride + (guarded ? st.page : 0);

                sl->stacks[i] = (ApStack){ .lo = lo, .hi = lo + st.size,
                                           .map = guarded ? lo - st.page : NULL, .guarded = guarded,
                                           .valgrind_id = ap_valgrind_stack_register(lo, lo + st.size) };
        }
        ap_spin_lock(&st.lock);
        sl->next = st.slabs;
        st.slabs = sl;
        /* the highest first: an overflow of an unguarded stack lands in a mapped neighbour */
        for (unsigned i = 0; i < SLAB_STACKS; i++) {
                sl->stacks[i].next = st.free;
                st.free = &sl->stacks[i];
        }
        atomic_store_explicit(&st.nfree, atomic_load(&st.nfree) + SLAB_STACKS, AP_RELAXED);
        ap_spin_unlock(&st.lock);
        atomic_fetch_add(guarded ? &st.guarded : &st.unguarded, SLAB_STACKS);
        return 0;
}

ApStack *ap_stack_get(ApP *p)
{
        ApStack *s;

        if (p && (s = p->stk_cache)) {
                p->stk_cache = s->next;
                p->nstk--;
                s->next = NULL;
                return s;
        }
        for (;;) {
                ap_spin_lock(&st.lock);
                s = st.free;
                if (s) {
                        st.free = s->next;
                        atomic_store_explicit(&st.nfree, atomic_load(&st.nfree) - 1, AP_RELAXED);
                } else if ((s = st.cold)) {
                        st.cold = s->next;
                        s->cold = false;
                }
                ap_spin_unlock(&st.lock);
                if (s) {
                        s->next = NULL;
                        return s;
                }
                if (atomic_load(&st.guarded) + SLAB_STACKS <= st.budget && add_slab(true) == 0)
                        continue;
                if (add_slab(false) < 0)
                        return NULL;
        }
}

/* Return a stack the caller no longer runs on.  The mappings stay until ap_stack_fini(); the
 * pages of stacks cached beyond a working set are given back by ap_stack_trim(). */
void ap_stack_put(ApP *p, ApStack *s)
{
        if (p && p->nstk < P_CACHE_MAX) {
                s->next = p->stk_cache;
                p->stk_cache = s;
                p->nstk++;
                return;
        }
        if (AP_TSAN && s->fiber && atomic_load(&st.nfibers) > 4096) {
                /* TSan counts fibers as threads (at most 8128 at once): past half of that,
                 * cached stacks give theirs up */
                ap_fiber_destroy(s->fiber);
                s->fiber = NULL;
                atomic_fetch_sub(&st.nfibers, 1);
        }
        ap_spin_lock(&st.lock);
        s->next = st.free;
        st.free = s;
        atomic_store_explicit(&st.nfree, atomic_load(&st.nfree) + 1, AP_RELAXED);
        ap_spin_unlock(&st.lock);
}

bool ap_stack_trimmable(unsigned keep)
{
        return atomic_load_explicit(&st.nfree, AP_RELAXED) > keep;
}

/* Give the pages of globally cached stacks beyond the @keep most recently used back to the
 * kernel (MADV_DONTNEED, ~7 us each here), at most @max of them; returns how many. */
unsigned ap_stack_trim(unsigned keep, unsigned max)
{
        ApStack *batch = NULL, *s, *last = NULL, **pp = &st.free;
        unsigned n = 0;

        ap_spin_lock(&st.lock);
        /* skip the most recently used; take from the cold end */
        for (unsigned i = 0; i < keep && *pp; i++)
                pp = &(*pp)->next;
        while (atomic_load(&st.nfree) > keep && n < max && (s = *pp)) {
                *pp = s->next;
                atomic_store_explicit(&st.nfree, atomic_load(&st.nfree) - 1, AP_RELAXED);
                s->next = batch;
                batch = s;
                n++;
        }
        ap_spin_unlock(&st.lock);
        for (s = batch; s; s = s->next) {
                (void)madvise(s->lo, (size_t)(s->hi - s->lo), MADV_DONTNEED);
                s->cold = true;
                last = s;
        }
        if (last) {
                ap_spin_lock(&st.lock);
                last->next = st.cold;
                st.cold = batch;
                ap_spin_unlock(&st.lock);
        }
        return n;
}

/* Move a P's cache to the global one (the P is retiring or the runtime stops). */
void ap_stack_flush(ApP *p)
{
        ApStack *s;

        while ((s = p->stk_cache)) {
                p->stk_cache = s->next;
                p->nstk--;
                ap_stack_put(NULL, s);
        }
}

int ap_stack_altstack_init(ApM *m)
{
        stack_t ss;
        size_t len = AP_MAX((size_t)SIGSTKSZ, (size_t)64 * 1024);
        void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        if (p == MAP_FAILED)
                return AP_NEG_ERRNO();
        ss = (stack_t){ .ss_sp = p, .ss_size = len, .ss_flags = 0 };
        if (sigaltstack(&ss, NULL) < 0) {
                int r = AP_NEG_ERRNO();

                munmap(p, len);
                return r;
        }
        m->altstack = p;
        m->altstack_size = len;
        return 0;
}

void ap_stack_altstack_fini(ApM *m)
{
        stack_t ss = { .ss_flags = SS_DISABLE };

        if (!m->altstack)
                return;
        (void)sigaltstack(&ss, NULL);
        munmap(m->altstack, m->altstack_size);
        m->altstack = NULL;
}

void *ap_stack_fiber(ApStack *s)
{
        if (!s->fiber) {
                s->fiber = ap_fiber_create();
                atomic_fetch_add(&st.nfibers, 1);
        }
        return s->fiber;
}

void ap_stack_counts(uint64_t *ret_guarded, uint64_t *ret_unguarded)
{
        *ret_guarded = atomic_load_explicit(&st.guarded, AP_RELAXED);
        *ret_unguarded = atomic_load_explicit(&st.unguarded, AP_RELAXED);
}
