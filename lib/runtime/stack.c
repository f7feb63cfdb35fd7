/* SPDX-License-Identifier: MIT */
/*
 * Task stacks: mmap'd, lazily committed (MAP_NORESERVE), pooled (a per-P LIFO cache and a
 * global cache) so that spawning never faults a fresh stack in the steady state.
 *
 * A guarded stack is its own mapping with a PROT_NONE page below it; it costs two VMAs, so only
 * a budget derived from vm.max_map_count gets one.  Beyond the budget stacks are carved from
 * slabs without guard pages.  Every stack (guarded or not) is also checked whenever its task
 * switches out or exits: a stack pointer below the stack's low end aborts with the same report.
 * (A canary word at the low end would touch one more page per stack, doubling the memory of a
 * parked task, so the check uses the stack pointer instead; an overflow that has unwound again
 * before the next switch goes unnoticed on an unguarded stack.)  A SIGSEGV handler on an alternate signal stack turns a fault
 * in the current task's guard page into "task N overflowed its S KiB stack" and aborts.
 *
 * The stack header (ApStack) lives at the top of the stack itself, in the page every task
 * touches anyway.  Stacks are never unmapped on the hot path.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "runtime/fiber.h"
#include "runtime/internal.h"

#define PAGE 4096u
#define P_CACHE_MAX 64u
#define G_CACHE_MAX 1024u
#define SLAB_STACKS 32u
#define SP_MARGIN 256u

struct ApStack {
        ApStack *next;
        char *lo;               /* lowest usable byte */
        char *map;              /* guarded: the mapping (guard page first); slab: NULL */
        size_t map_len;
        bool guarded;
        void *fiber;            /* TSan fiber, kept with the stack: creating one is expensive */
};

typedef struct Slab {
        struct Slab *next;
        char *base;
        size_t len;
} Slab;

static struct {
        size_t size;            /* usable bytes, page multiple */
        size_t hdr;             /* bytes reserved at the top for the header */
        ApSpin lock;
        ApStack *cache;
        uint32_t ncache;
        Slab *slabs;
        ApStack *slab_free;     /* unguarded stacks never return to the kernel before fini */
        _Atomic uint64_t guarded, unguarded;   /* stacks in existence */
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
        return s && s->guarded && addr >= (uintptr_t)s->map && addr < (uintptr_t)s->map + PAGE;
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

static AP_NORETURN void report_overflow(uint64_t id, const char *how)
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
                report_overflow(g->id, " (guard page hit)");
        /* Not ours: restore the previous disposition; the fault repeats and is handled there. */
        sigaction(SIGSEGV, &st.old_segv, NULL);
        (void)sig, (void)uctx;
}

int ap_stack_init(size_t stack_size)
{
        struct sigaction sa;

        memset(&st.lock, 0, sizeof(st.lock));
        st.size = (stack_size + PAGE - 1) & ~(size_t)(PAGE - 1);
        st.hdr = (sizeof(ApStack) + 63) & ~(size_t)63;
        st.cache = NULL;
        st.ncache = 0;
        st.slabs = NULL;
        st.slab_free = NULL;
        atomic_store(&st.guarded, 0);
        atomic_store(&st.unguarded, 0);
        st.budget = guard_budget();
        if (getenv("AUTOPROCS_STACK_GUARD")) {
                const char *v = getenv("AUTOPROCS_STACK_GUARD");

                if (strcmp(v, "never") == 0)
                        st.budget = 0;
                else if (strcmp(v, "always") == 0)
                        st.budget = UINT64_MAX;
        }
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

static void unmap_guarded(ApStack *s)
{
        char *map = s->map;
        size_t len = s->map_len;

        atomic_fetch_sub(&st.guarded, 1);
        ap_fiber_destroy(s->fiber);
        munmap(map, len);
}

void ap_stack_fini(void)
{
        ApStack *s;

        while ((s = st.cache)) {
                st.cache = s->next;
                if (s->guarded)
                        unmap_guarded(s);
        }
        st.ncache = 0;
        while (st.slab_free) {
                ap_fiber_destroy(st.slab_free->fiber);
                st.slab_free = st.slab_free->next;
        }
        while (st.slabs) {
                Slab *sl = st.slabs;

                st.slabs = sl->next;
                munmap(sl->base, sl->len);
                free(sl);
        }
        st.slab_free = NULL;
        atomic_store(&st.unguarded, 0);
        if (st.handler) {
                sigaction(SIGSEGV, &st.old_segv, NULL);
                st.handler = false;
        }
}

static ApStack *hdr_at(char *lo)
{
        ApStack *s = (ApStack *)(lo + st.size - st.hdr);

        s->lo = lo;
        s->next = NULL;
        s->fiber = NULL;
        return s;
}

static ApStack *new_guarded(void)
{
        size_t len = PAGE + st.size;
        char *map = mmap(NULL, len, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        ApStack *s;

        if (map == MAP_FAILED)
                return NULL;
        if (mprotect(map, PAGE, PROT_NONE) < 0) {
                munmap(map, len);
                return NULL;
        }
        s = hdr_at(map + PAGE);
        s->map = map;
        s->map_len = len;
        s->guarded = true;
        return s;
}

/* Under st.lock. */
static ApStack *new_unguarded_locked(void)
{
        ApStack *s = st.slab_free;

        if (!s) {
                size_t len = (size_t)SLAB_STACKS * st.size;
                char *base = mmap(NULL, len, PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
                Slab *sl;

                if (base == MAP_FAILED)
                        return NULL;
                sl = malloc(sizeof(*sl));
                if (!sl) {
                        munmap(base, len);
                        return NULL;
                }
                (void)madvise(base, len, MADV_NOHUGEPAGE);
                *sl = (Slab){ .next = st.slabs, .base = base, .len = len };
                st.slabs = sl;
                /* hand out the highest first: an overflow then lands in a mapped neighbour */
                for (unsigned i = 0; i < SLAB_STACKS; i++) {
                        ApStack *t = hdr_at(base + (size_t)i * st.size);

                        t->map = NULL;
                        t->map_len = 0;
                        t->guarded = false;
                        t->next = st.slab_free;
                        st.slab_free = t;
                }
                atomic_fetch_add(&st.unguarded, SLAB_STACKS);
                s = st.slab_free;
        }
        st.slab_free = s->next;
        s->next = NULL;
        return s;
}

ApStack *ap_stack_get(ApP *p)
{
        ApStack *s = NULL;

        if (p && p->stk_cache) {
                s = p->stk_cache;
                p->stk_cache = s->next;
                p->nstk--;
        } else {
                ap_spin_lock(&st.lock);
                if (st.cache) {
                        s = st.cache;
                        st.cache = s->next;
                        st.ncache--;
                }
                if (!s && atomic_load_explicit(&st.guarded, AP_RELAXED) < st.budget) {
                        /* count it before the syscalls so concurrent callers respect the budget */
                        atomic_fetch_add(&st.guarded, 1);
                        ap_spin_unlock(&st.lock);
                        s = new_guarded();
                        if (s)
                                return s;
                        atomic_fetch_sub(&st.guarded, 1);
                        ap_spin_lock(&st.lock);
                }
                if (!s)
                        s = new_unguarded_locked();
                ap_spin_unlock(&st.lock);
                if (!s)
                        return NULL;
        }
        s->next = NULL;
        return s;
}

/* Return a stack the caller no longer runs on. */
void ap_stack_put(ApP *p, ApStack *s)
{
        if (p && p->nstk < P_CACHE_MAX) {
                s->next = p->stk_cache;
                p->stk_cache = s;
                p->nstk++;
                return;
        }
        ap_spin_lock(&st.lock);
        if (!s->guarded) {
                s->next = st.slab_free;
                st.slab_free = s;
                ap_spin_unlock(&st.lock);
                return;
        }
        if (st.ncache < G_CACHE_MAX) {
                s->next = st.cache;
                st.cache = s;
                st.ncache++;
                ap_spin_unlock(&st.lock);
                return;
        }
        ap_spin_unlock(&st.lock);
        unmap_guarded(s);
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

void *ap_stack_top(const ApStack *s)
{
        return (void *)s;
}

void *ap_stack_lo(const ApStack *s)
{
        return s->lo;
}

size_t ap_stack_usable(const ApStack *s)
{
        return (size_t)((const char *)s - s->lo);
}

void ap_stack_check(const ApStack *s, const void *sp, uint64_t task_id)
{
        if (AP_UNLIKELY((const char *)sp < s->lo + SP_MARGIN))
                report_overflow(task_id, " (stack pointer below the stack)");
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
        if (!s->fiber)
                s->fiber = ap_fiber_create();
        return s->fiber;
}

void ap_stack_counts(uint64_t *ret_guarded, uint64_t *ret_unguarded)
{
        *ret_guarded = atomic_load_explicit(&st.guarded, AP_RELAXED);
        *ret_unguarded = atomic_load_explicit(&st.unguarded, AP_RELAXED);
}
