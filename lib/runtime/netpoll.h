/* SPDX-License-Identifier: MIT */
/*
 * The netpoller (Go's netpoll on epoll): one edge-triggered epoll set per runtime, created at
 * first use, and one poll descriptor per fd number that records, for each direction, whether an
 * edge arrived since the last wait and which task waits (at most one per direction).  Tasks
 * park on a descriptor with an optional deadline (a callback timer, timer.c); the poll delivers
 * them to whoever polls: a P's owner at its scheduling loop (before stealing and while it
 * spins), the last idle M before it parks (blocking in epoll_wait without a P, woken through an
 * eventfd when a P is handed to it), and the monitor when nobody polled for 10 ms.  Only
 * files of lib/runtime/ include this header; the public wrappers are in fd.c.
 */
#pragma once

#include "lib/runtime/internal.h"

enum {
        AP_POLL_READ = 0,
        AP_POLL_WRITE = 1,
};

enum {
        AP_PD_NEW = 0,          /* not yet seen, or closed through autoprocs_fd_close() */
        AP_PD_POLLED = 1,       /* in the epoll set, O_NONBLOCK */
        AP_PD_BLOCKING = 2,     /* epoll refuses it (a regular file): blocking regions */
};

typedef struct ApPollDesc ApPollDesc;

/* The descriptor of @fd, registered on first use (sets O_NONBLOCK).
 * @retval 0 (*ret_pd set; ap_netpoll_kind() tells how to wait)  @retval -errno */
int ap_netpoll_prepare(int fd, ApPollDesc **ret_pd);
unsigned ap_netpoll_kind(const ApPollDesc *pd);
/* Park the current task (it must be parkable) until @fd is ready in direction @dir, @deadline
 * (CLOCK_MONOTONIC ns, 0 = none) passes, or the fd is closed.
 * @retval 0 ready (retry the call)  @retval -ETIMEDOUT  @retval -ECANCELED closed
 * @retval -EBUSY another task waits in this direction  @retval -ENOMEM */
int ap_netpoll_wait(ApPollDesc *pd, unsigned dir, uint64_t deadline);
/* autoprocs_fd_close() minus the close: wake the waiters of @fd with -ECANCELED, forget it. */
void ap_netpoll_forget(int fd);

/* True while tasks wait on the poller. */
bool ap_netpoll_pending(void);
/* True while an M blocks in epoll_wait (it delivers the edges itself). */
bool ap_netpoll_blocked(void);
/* Poll once: @timeout_ms as epoll_wait's (0 = do not block, -1 = until an edge or a break).
 * Returns the tasks made ready, linked by ->next, still WAITING: the caller readies them
 * (ap_netpoll_ready_list). */
ApG *ap_netpoll_poll(int timeout_ms);
/* Ready every task of @list where the caller runs (its P, else the global queue). */
unsigned ap_netpoll_ready_list(ApG *list);
/* Make a blocked ap_netpoll_poll() return. */
void ap_netpoll_break(void);
/* The monitor's share: poll when nobody did for 10 ms.  True if it readied something. */
bool ap_netpoll_sysmon(uint64_t now);
/* Tasks parked on the poller now. */
uint64_t ap_netpoll_waiters(void);
/* Close the epoll set and free the descriptors (runtime stop; no task is left). */
void ap_netpoll_fini(void);
