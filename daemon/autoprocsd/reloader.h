/* SPDX-License-Identifier: MIT */
/*
 * A reload (SIGHUP) runs on a thread of its own, so that the thread reading signals never waits
 * for it: a config file on a hung file system, a target task slow to stop, nothing delays SIGTERM.
 * One run at a time; a request during a run starts one more run after it (requests in between
 * fold into that one).  Not thread-safe: one thread (the main loop) calls all of these.
 */
#pragma once

typedef struct ApReloader ApReloader;

/* The reload itself; runs on the reloader's thread with the signals blocked (inherited). */
typedef void (*ApReloadFn)(void *userdata);

/* @retval 0  @retval -errno (eventfd) */
int ap_reloader_new(ApReloadFn fn, void *userdata, ApReloader **ret);
/* Waits for a run in progress (the caller arms its stop deadline first), then frees. */
ApReloader *ap_reloader_free(ApReloader *r);

/* Readable (POLLIN) when a run has finished: then call ap_reloader_dispatch(). */
int ap_reloader_fd(const ApReloader *r);

/* Start a run, or remember one for after the current run.  @retval 0  @retval -errno (thread) */
int ap_reloader_request(ApReloader *r);

/* After the fd polled readable: join the finished run, start the pending one.  @retval 0
 * @retval -errno (thread) */
int ap_reloader_dispatch(ApReloader *r);
