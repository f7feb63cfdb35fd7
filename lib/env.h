/* SPDX-License-Identifier: MIT */
/*
 * The AUTOPROCS_* environment overrides applied by autoprocs_init() on top of the caller's
 * configuration.  Parsing only (numbers through util/parse.c); no I/O but the lookup.
 */
#pragma once

#include "lib/init-config.h"

/* Looks a variable up; returns NULL when unset.  The result is borrowed for the call. */
typedef const char *(*ApEnvLookupFn)(const char *name, void *userdata);

/*
 * Apply AUTOPROCS_PROCS, AUTOPROCS_POLICY, AUTOPROCS_MIN, AUTOPROCS_RESERVE and AUTOPROCS_INTERVAL
 * to @config.  An empty value counts as unset.  A bad value leaves that field as it was and is
 * reported once through @config's log callback (level ERR, event "config-invalid", a message
 * naming the variable, the value, why, and the value kept).  @lookup NULL = getenv().
 * @retval number of invalid variables (>= 0); never fails otherwise.
 */
int ap_env_apply(autoprocs_config *config, ApEnvLookupFn lookup, void *userdata);
