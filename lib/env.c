/* SPDX-License-Identifier: MIT */
/*
 * AUTOPROCS_* environment overrides.  The rule, as GOMAXPROCS and DOTNET_PROCESSOR_COUNT: the
 * environment wins over the program's own configuration, since it is what the operator controls;
 * a value that does not parse is reported once through the log callback and ignored, so a typo in
 * a deployment never takes a service down.  Nothing here prints or aborts.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/env.h"
#include "lib/runtime/runtime.h"
#include "lib/util/macro.h"
#include "lib/util/parse.h"

static const char *lookup_getenv(const char *name, void *userdata)
{
        (void)userdata;
        return getenv(name);
}

static void AP_PRINTF(4, 5) report(const autoprocs_config *config, const char *name,
                                   const char *value, const char *fmt, ...)
{
        char why[160], msg[512];
        va_list ap;

        if (!config->log_fn)
                return;
        va_start(ap, fmt);
        (void)vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        /* The value is quoted and cut so that a huge or odd value still gives one short line. */
        (void)snprintf(msg, sizeof(msg), "%s=\"%.64s\"%s: %s", name, value,
                       strlen(value) > 64 ? "..." : "", why);
        config->log_fn(AUTOPROCS_LOG_ERR, "config-invalid", msg, config->log_userdata);
}

static bool apply_procs(autoprocs_config *config, const char *v)
{
        unsigned n;

        if (ap_parse_uint_range(v, 1, 1000000, &n) < 0 || autoprocs_config_set_procs(config, n) < 0) {
                if (config->procs)
                        report(config, "AUTOPROCS_PROCS", v,
                               "not a processor count (1..1000000); keeping %u", config->procs);
                else
                        report(config, "AUTOPROCS_PROCS", v,
                               "not a processor count (1..1000000); detecting instead");
                return false;
        }
        return true;
}

static bool apply_policy(autoprocs_config *config, const char *v)
{
        autoprocs_policy p;

        if (autoprocs_policy_from_string(v, &p) < 0) {
                report(config, "AUTOPROCS_POLICY", v,
                       "not one of go125, ceil, floor, automaxprocs; keeping %s",
                       autoprocs_policy_to_string(config->policy));
                return false;
        }
        (void)autoprocs_config_set_policy(config, p);
        return true;
}

static bool apply_pacing(autoprocs_config *config, const char *v)
{
        static const char *const names[] = { "auto", "on", "off" };
        autoprocs_pacing p;

        if (autoprocs_pacing_from_string(v, &p) < 0) {
                report(config, "AUTOPROCS_PACING", v, "not one of auto, on, off; keeping %s",
                       names[config->pacing]);
                return false;
        }
        (void)autoprocs_config_set_pacing(config, p);
        return true;
}

static bool apply_min(autoprocs_config *config, const char *v)
{
        unsigned n;

        if (ap_parse_uint_range(v, 0, 1000000, &n) < 0 || autoprocs_config_set_min(config, n) < 0) {
                report(config, "AUTOPROCS_MIN", v, "not a processor count (0..1000000); keeping %u",
                       config->min_procs);
                return false;
        }
        return true;
}

static bool apply_reserve(autoprocs_config *config, const char *v)
{
        uint64_t m;

        if (ap_parse_milli(v, &m) < 0 || autoprocs_config_set_reserve_millicpus(config, m) < 0) {
                report(config, "AUTOPROCS_RESERVE", v,
                       "not a CPU amount (e.g. 0.5, at most 3 decimals); keeping %llu.%03llu",
                       (unsigned long long)(config->reserve_millicpus / 1000),
                       (unsigned long long)(config->reserve_millicpus % 1000));
                return false;
        }
        return true;
}

static bool apply_stack_guard(autoprocs_config *config, const char *v)
{
        static const char *const names[] = {
                [AP_STACK_GUARD_AUTO] = "auto",
                [AP_STACK_GUARD_ALWAYS] = "always",
                [AP_STACK_GUARD_NEVER] = "never",
        };

        for (int i = 0; i < (int)AP_ELEMENTSOF(names); i++)
                if (strcmp(v, names[i]) == 0) {
                        config->stack_guard = i;
                        return true;
                }
        report(config, "AUTOPROCS_STACK_GUARD", v, "not one of auto, always, never; keeping %s",
               names[config->stack_guard]);
        return false;
}

static bool apply_max_blocking(autoprocs_config *config, const char *v)
{
        unsigned n;

        if (ap_parse_uint_range(v, 0, 100000, &n) < 0 ||
            autoprocs_config_set_max_blocking(config, n) < 0) {
                report(config, "AUTOPROCS_MAX_BLOCKING", v,
                       "not a task count (0 = 4 per processor, else 1..100000); keeping %u",
                       config->max_blocking);
                return false;
        }
        return true;
}

static bool apply_interval(autoprocs_config *config, const char *v)
{
        uint64_t ns;
        int r;

        r = ap_parse_duration_ns(v, &ns);
        if (r < 0) {
                report(config, "AUTOPROCS_INTERVAL", v,
                       "not a duration (e.g. 250ms, 1s, 0 = no watching); keeping %u ms",
                       config->interval_ms);
                return false;
        }
        if (ns % 1000000 != 0) {
                report(config, "AUTOPROCS_INTERVAL", v,
                       "not a whole number of milliseconds; keeping %u ms", config->interval_ms);
                return false;
        }
        if (autoprocs_config_set_interval_ns(config, ns) < 0) {
                report(config, "AUTOPROCS_INTERVAL", v,
                       "out of range (0 = no watching, else 10ms..1h); keeping %u ms",
                       config->interval_ms);
                return false;
        }
        return true;
}

int ap_env_apply(autoprocs_config *config, ApEnvLookupFn lookup, void *userdata)
{
        static const struct {
                const char *name;
                bool (*apply)(autoprocs_config *config, const char *value);
        } vars[] = {
                { "AUTOPROCS_PROCS", apply_procs },       { "AUTOPROCS_POLICY", apply_policy },
                { "AUTOPROCS_MIN", apply_min },           { "AUTOPROCS_RESERVE", apply_reserve },
                { "AUTOPROCS_INTERVAL", apply_interval }, { "AUTOPROCS_PACING", apply_pacing },
                { "AUTOPROCS_MAX_BLOCKING", apply_max_blocking },
                { "AUTOPROCS_STACK_GUARD", apply_stack_guard },
        };
        int invalid = 0;

        if (!lookup)
                lookup = lookup_getenv;
        for (size_t i = 0; i < AP_ELEMENTSOF(vars); i++) {
                const char *v = lookup(vars[i].name, userdata);

                if (!v || !*v)
                        continue;
                if (!vars[i].apply(config, v))
                        invalid++;
        }
        return invalid;
}
