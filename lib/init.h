/* SPDX-License-Identifier: MIT */
/*
 * Internals of autoprocs_init() that tests and the reaction benchmark look at.  Not public.
 */
#pragma once

#include <time.h>

/* The CPU-time clock of the watcher thread (pthread_getcpuclockid), for measuring its cost.
 * @retval 0  @retval -ESRCH no watcher running */
int ap_init_watcher_clock(clockid_t *ret);

/* Ticks the watcher has run since autoprocs_init(); 0 when none is running. */
unsigned long ap_init_watcher_ticks(void);
