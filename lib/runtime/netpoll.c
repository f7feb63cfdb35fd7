/* SPDX-License-Identifier: MIT */
/*
 * The netpoller (see netpoll.h): the epoll set, the poll descriptors, parking a task on one,
 * and turning epoll's edges, deadlines and closes into ready tasks.
 *
 * A descriptor lives in a two-level table indexed by the fd number and is never freed while
 * the runtime runs, so that a late edge or deadline can always lock it; a sequence number,
 * bumped at each close and carried by each registration's epoll data, drops the edges of an
 * older file that had the same number.  Each direction holds a "ready" flag (an edge arrived
 * and nobody consumed it: Go's pdReady), the waiter (a record on the parked task's stack) and a
 * callback timer for its deadline.  Lock order: a descriptor's lock, then the timer lock; the
 * poll and the timer callbacks take a descriptor's lock with nothing else held, and ready the
 * tasks they took only after releasing it.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "lib/runtime/netpoll.h"

#define CHUNK_BITS 9u
#define CHUNK (1u << CHUNK_BITS)
#define NCHUNKS 4096u                 /* fds below 2^21 */
#define MAX_EVENTS 128
#define BREAK_TAG UINT64_MAX
#define SYSMON_POLL_NS 10000000ull

typedef struct ApPollWaiter {
        ApG *g;
        int result;
} ApPollWaiter;

typedef struct ApPollDir {
        ApPollWaiter *w;
        bool ready;
        bool timed;             /* the waiter has a deadline timer */
        uint64_t wgen;
        ApTimer timer;
} ApPollDir;

struct ApPollDesc {
        ApSpin lock;
        int fd;
        uint32_t seq;
        _Atomic uint32_t kind;
        bool closing;
        ApPollDir dir[2];
};

static struct {
        pthread_mutex_t init_lock;
        _Atomic int epfd;
        int evfd;
        _Atomic uint32_t break_pending;
        _Atomic uint32_t blocked;
        _Atomic uint64_t waiters;
        _Atomic uint64_t last_ns;
        _Atomic(ApPollDesc *) chunks[NCHUNKS];
} np = {
        .init_lock = PTHREAD_MUTEX_INITIALIZER,
        .epfd = -1,
        .evfd = -1,
};

/* ---- the epoll set ------------------------------------------------------------------------ */

static int netpoll_init(void)
{
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = BREAK_TAG };
        int epfd, evfd, r = 0;

        if (atomic_load_explicit(&np.epfd, AP_ACQUIRE) >= 0)
                return 0;
        pthread_mutex_lock(&np.init_lock);
        if (atomic_load(&np.epfd) >= 0)
                goto out;
        epfd = epoll_create1(EPOLL_CLOEXEC);
        if (epfd < 0) {
                r = -errno;
                goto out;
        }
        evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (evfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, evfd, &ev) < 0) {
                r = -errno;
                if (evfd >= 0)
                        (void)close(evfd);
                (void)close(epfd);
                goto out;
        }
        np.evfd = evfd;
        atomic_store(&np.last_ns, ap_now_ns());
        atomic_store_explicit(&np.epfd, epfd, AP_RELEASE);
out:
        pthread_mutex_unlock(&np.init_lock);
        return r;
}

void ap_netpoll_break(void)
{
        uint64_t one = 1;
        uint32_t z = 0;

        if (np.evfd < 0 || !atomic_compare_exchange_strong(&np.break_pending, &z, 1))
                return;
        (void)!write(np.evfd, &one, sizeof(one));
}

void ap_netpoll_fini(void)
{
        int epfd = atomic_exchange(&np.epfd, -1);

        if (epfd >= 0)
                (void)close(epfd);
        if (np.evfd >= 0)
                (void)close(np.evfd);
        np.evfd = -1;
        atomic_store(&np.break_pending, 0);
        atomic_store(&np.blocked, 0);
        atomic_store(&np.waiters, 0);
        for (uint32_t i = 0; i < NCHUNKS; i++)
                free(atomic_exchange(&np.chunks[i], NULL));
}

/* ---- descriptors -------------------------------------------------------------------------- */

static ApPollDesc *pd_get(int fd, bool create)
{
        uint32_t c = (uint32_t)fd >> CHUNK_BITS;
        ApPollDesc *chunk, *fresh;

        if (fd < 0 || c >= NCHUNKS)
                return NULL;
        chunk = atomic_load_explicit(&np.chunks[c], AP_ACQUIRE);
        if (!chunk) {
                if (!create)
                        return NULL;
                fresh = calloc(CHUNK, sizeof(*fresh));
                if (!fresh)
                        return NULL;
                for (uint32_t i = 0; i < CHUNK; i++) {
                        fresh[i].fd = (int)((c << CHUNK_BITS) | i);
                        fresh[i].dir[0].timer.idx = -1;
                        fresh[i].dir[1].timer.idx = -1;
                }
                if (atomic_compare_exchange_strong_explicit(&np.chunks[c], &chunk, fresh,
                                                            AP_ACQ_REL, AP_ACQUIRE))
                        chunk = fresh;
                else
                        free(fresh);
        }
        return &chunk[(uint32_t)fd & (CHUNK - 1)];
}

unsigned ap_netpoll_kind(const ApPollDesc *pd)
{
        return atomic_load_explicit(&pd->kind, AP_ACQUIRE);
}

static int set_nonblock(int fd)
{
        int fl = fcntl(fd, F_GETFL);

        if (fl < 0)
                return -errno;
        if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
                return -errno;
        return 0;
}

int ap_netpoll_prepare(int fd, ApPollDesc **ret_pd)
{
        struct epoll_event ev;
        ApPollDesc *pd;
        int r = 0;

        if (fd < 0)
                return -EBADF;
        pd = pd_get(fd, true);
        if (!pd)
                return (uint32_t)fd >> CHUNK_BITS >= NCHUNKS ? -EMFILE : -ENOMEM;
        if (AP_LIKELY(ap_netpoll_kind(pd) != AP_PD_NEW)) {
                *ret_pd = pd;
                return 0;
        }
        r = netpoll_init();
        if (r < 0)
                return r;
        ap_spin_lock(&pd->lock);
        if (atomic_load(&pd->kind) != AP_PD_NEW)
                goto out;
        ev = (struct epoll_event){ .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                   .data.u64 = ((uint64_t)pd->seq << 32) | (uint32_t)fd };
        pd->closing = false;
        pd->dir[0].ready = pd->dir[1].ready = false;
        if (epoll_ctl(atomic_load(&np.epfd), EPOLL_CTL_ADD, fd, &ev) == 0 || errno == EEXIST) {
                r = set_nonblock(fd);
                if (r < 0) {
                        (void)epoll_ctl(atomic_load(&np.epfd), EPOLL_CTL_DEL, fd, NULL);
                        goto out;
                }
                atomic_store_explicit(&pd->kind, AP_PD_POLLED, AP_RELEASE);
        } else if (errno == EPERM) {
                atomic_store_explicit(&pd->kind, AP_PD_BLOCKING, AP_RELEASE);
        } else {
                r = -errno;
        }
out:
        ap_spin_unlock(&pd->lock);
        if (r == 0)
                *ret_pd = pd;
        return r;
}

/* Take the waiter of @d with @result (under pd->lock); its task is the caller's to ready. */
static ApG *take_waiter(ApPollDesc *pd, unsigned d, int result)
{
        ApPollDir *dir = &pd->dir[d];
        ApPollWaiter *w = dir->w;

        if (!w)
                return NULL;
        dir->w = NULL;
        if (dir->timed) {
                dir->timed = false;
                (void)ap_timer_stop(&dir->timer); /* a firing callback finds no waiter */
        }
        w->result = result;
        atomic_fetch_sub_explicit(&np.waiters, 1, AP_RELAXED);
        return w->g;
}

static void on_deadline(void *arg, uint64_t seq, bool next)
{
        ApPollDesc *pd = arg;
        unsigned d = (unsigned)(seq & 1);
        ApG *g = NULL;

        ap_spin_lock(&pd->lock);
        if (pd->dir[d].w && pd->dir[d].wgen == seq >> 1) {
                pd->dir[d].timed = false; /* it fired: nothing to stop */
                g = take_waiter(pd, d, -ETIMEDOUT);
        }
        ap_spin_unlock(&pd->lock);
        if (g)
                ap_ready_ex(g, next);
}

int ap_netpoll_wait(ApPollDesc *pd, unsigned d, uint64_t deadline)
{
        ApM *m = ap_cur_m();
        ApPollWaiter w = { .g = m->curg };
        ApPollDir *dir = &pd->dir[d];

        ap_spin_lock(&pd->lock);
        if (pd->closing) {
                ap_spin_unlock(&pd->lock);
                return -ECANCELED;
        }
        if (dir->ready) {
                dir->ready = false;
                ap_spin_unlock(&pd->lock);
                return 0;
        }
        if (dir->w) {
                ap_spin_unlock(&pd->lock);
                return -EBUSY;
        }
        if (deadline != 0) {
                if (ap_now_ns() >= deadline) {
                        ap_spin_unlock(&pd->lock);
                        return -ETIMEDOUT;
                }
                dir->wgen++;
                if (ap_timer_start(&dir->timer, deadline, on_deadline, pd, (dir->wgen << 1) | d) < 0) {
                        ap_spin_unlock(&pd->lock);
                        return -ENOMEM;
                }
                dir->timed = true;
        }
        dir->w = &w;
        atomic_fetch_add_explicit(&np.waiters, 1, AP_RELAXED);
        ap_park(&pd->lock);
        return w.result;
}

void ap_netpoll_forget(int fd)
{
        ApPollDesc *pd = pd_get(fd, false);
        ApG *g[2];
        uint32_t kind;

        if (!pd || ap_netpoll_kind(pd) == AP_PD_NEW)
                return;
        ap_spin_lock(&pd->lock);
        kind = atomic_load(&pd->kind);
        pd->closing = true;
        pd->seq++;
        g[0] = take_waiter(pd, AP_POLL_READ, -ECANCELED);
        g[1] = take_waiter(pd, AP_POLL_WRITE, -ECANCELED);
        atomic_store_explicit(&pd->kind, AP_PD_NEW, AP_RELEASE);
        ap_spin_unlock(&pd->lock);
        /* a dup of the fd would keep the registration alive: remove it explicitly */
        if (kind == AP_PD_POLLED && atomic_load(&np.epfd) >= 0)
                (void)epoll_ctl(atomic_load(&np.epfd), EPOLL_CTL_DEL, fd, NULL);
        for (int i = 0; i < 2; i++)
                if (g[i])
                        ap_ready(g[i]);
}

/* ---- polling ------------------------------------------------------------------------------ */

bool ap_netpoll_pending(void)
{
        return atomic_load_explicit(&np.waiters, AP_RELAXED) != 0;
}

bool ap_netpoll_blocked(void)
{
        return atomic_load_explicit(&np.blocked, AP_RELAXED) != 0;
}

uint64_t ap_netpoll_waiters(void)
{
        return atomic_load_explicit(&np.waiters, AP_RELAXED);
}

ApG *ap_netpoll_poll(int timeout_ms)
{
        struct epoll_event ev[MAX_EVENTS];
        ApG *head = NULL, **tail = &head;
        int epfd = atomic_load_explicit(&np.epfd, AP_ACQUIRE), n;

        if (epfd < 0)
                return NULL;
        if (timeout_ms != 0)
                atomic_store(&np.blocked, 1);
        n = epoll_wait(epfd, ev, MAX_EVENTS, timeout_ms);
        if (timeout_ms != 0)
                atomic_store(&np.blocked, 0);
        atomic_store_explicit(&np.last_ns, ap_now_ns(), AP_RELAXED);
        for (int i = 0; i < n; i++) {
                uint64_t tag = ev[i].data.u64;
                uint32_t e = ev[i].events, seq = (uint32_t)(tag >> 32);
                bool rd = e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
                bool wr = e & (EPOLLOUT | EPOLLHUP | EPOLLERR);
                ApPollDesc *pd;

                if (tag == BREAK_TAG) {
                        uint64_t v;

                        /* Only the blocking poll consumes a break (it is level-triggered): a
                         * non-blocking poll that ate it could leave the blocked M asleep with
                         * a P handed to it (Go's rule too). */
                        if (timeout_ms != 0) {
                                (void)!read(np.evfd, &v, sizeof(v));
                                atomic_store(&np.break_pending, 0);
                        }
                        continue;
                }
                pd = pd_get((int)(uint32_t)tag, false);
                if (!pd)
                        continue;
                ap_spin_lock(&pd->lock);
                if (pd->seq == seq && atomic_load_explicit(&pd->kind, AP_RELAXED) == AP_PD_POLLED) {
                        for (unsigned d = 0; d < 2; d++) {
                                ApG *g;

                                if (!(d == AP_POLL_READ ? rd : wr))
                                        continue;
                                g = take_waiter(pd, d, 0);
                                if (g) {
                                        g->next = NULL;
                                        *tail = g;
                                        tail = &g->next;
                                } else {
                                        pd->dir[d].ready = true;
                                }
                        }
                }
                ap_spin_unlock(&pd->lock);
        }
        return head;
}

unsigned ap_netpoll_ready_list(ApG *list)
{
        unsigned n = 0;

        while (list) {
                ApG *g = list;

                list = g->next;
                g->next = NULL;
                /* the caller runs the first itself: waking a spinner for it costs a futex wake
                 * and a spinning thread's CPU per message (Go's findrunnable does the same) */
                if (n == 0)
                        ap_ready_here(g);
                else
                        ap_ready_ex(g, false);
                n++;
        }
        return n;
}

bool ap_netpoll_sysmon(uint64_t now)
{
        uint64_t last = atomic_load_explicit(&np.last_ns, AP_RELAXED);

        if (!ap_netpoll_pending() || ap_netpoll_blocked() || now < last + SYSMON_POLL_NS)
                return false;
        return ap_netpoll_ready_list(ap_netpoll_poll(0)) > 0;
}
