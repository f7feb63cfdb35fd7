/* SPDX-License-Identifier: MIT */
/*
 * The environment variables that carry a processor count to other runtimes (procs-env.c): what
 * `autoprocs exec` sets before it executes a program and what `autoprocsd --publish` writes into
 * each target's file.  One table, so that the two never differ.
 */
#pragma once

#define AP_PROCS_ENV_N 6

/* AUTOPROCS_PROCS first (ours), then Go, OpenMP, OpenBLAS, MKL, libuv: the order of the file. */
extern const char *const ap_procs_env_vars[AP_PROCS_ENV_N];
