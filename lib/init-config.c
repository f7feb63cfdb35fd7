/* SPDX-License-Identifier: MIT */
/*
 * autoprocs_config: defaults, setters with range checks, deep copy.  The environment is applied by
 * init.c, not here, so that detect() with an explicit config is reproducible.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/init-config.h"
#include "lib/util/cleanup.h"
#include "lib/util/macro.h"

void ap_config_init_defaults(autoprocs_config *config)
{
        *config = (autoprocs_config){
                .policy = AUTOPROCS_POLICY_GO125,
                .interval_ms = AP_CONFIG_DEFAULT_INTERVAL_MS,
                .stack_size = AP_CONFIG_DEFAULT_STACK_SIZE,
                .max_threads = AP_CONFIG_DEFAULT_MAX_THREADS,
        };
}

void ap_config_deinit(autoprocs_config *config)
{
        free(config->root);
        free(config->cgroup_dir);
        config->root = config->cgroup_dir = NULL;
}

static int dup_or_null(const char *s, char **ret)
{
        char *d = NULL;

        if (s) {
                d = strdup(s);
                if (!d)
                        return -ENOMEM;
        }
        *ret = d;
        return 0;
}

int ap_config_copy(const autoprocs_config *src, autoprocs_config **ret)
{
        autoprocs_config *c;

        c = malloc(sizeof(*c));
        if (!c)
                return -ENOMEM;
        if (!src) {
                ap_config_init_defaults(c);
                *ret = c;
                return 0;
        }
        *c = *src;
        c->root = c->cgroup_dir = NULL;
        if (dup_or_null(src->root, &c->root) < 0 || dup_or_null(src->cgroup_dir, &c->cgroup_dir) < 0) {
                ap_config_deinit(c);
                free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

AUTOPROCS_API int autoprocs_config_new(autoprocs_config **ret_config)
{
        if (!ret_config)
                return -EINVAL;
        return ap_config_copy(NULL, ret_config);
}

AUTOPROCS_API autoprocs_config *autoprocs_config_free(autoprocs_config *config)
{
        if (config) {
                ap_config_deinit(config);
                free(config);
        }
        return NULL;
}

AUTOPROCS_API int autoprocs_config_set_policy(autoprocs_config *config, autoprocs_policy policy)
{
        if (!config || (unsigned)policy > AUTOPROCS_POLICY_AUTOMAXPROCS)
                return -EINVAL;
        config->policy = policy;
        return 0;
}

AUTOPROCS_API int autoprocs_config_set_min(autoprocs_config *config, unsigned min_procs)
{
        if (!config || min_procs > 1000000)
                return -EINVAL;
        config->min_procs = min_procs;
        return 0;
}

AUTOPROCS_API int autoprocs_config_set_reserve_millicpus(autoprocs_config *config, uint64_t millicpus)
{
        if (!config || millicpus > UINT64_C(1000000000))
                return -EINVAL;
        config->reserve_millicpus = millicpus;
        return 0;
}

static int set_string(char **field, const char *value)
{
        char *d = NULL;
        int r;

        r = dup_or_null(value, &d);
        if (r < 0)
                return r;
        free(*field);
        *field = d;
        return 0;
}

AUTOPROCS_API int autoprocs_config_set_root(autoprocs_config *config, const char *dir)
{
        if (!config || (dir && !*dir))
                return -EINVAL;
        return set_string(&config->root, dir);
}

AUTOPROCS_API int autoprocs_config_set_pid(autoprocs_config *config, int pid)
{
        if (!config || pid < 0)
                return -EINVAL;
        config->pid = pid;
        return 0;
}

AUTOPROCS_API int autoprocs_config_set_cgroup_dir(autoprocs_config *config, const char *dir)
{
        if (!config || (dir && !*dir))
                return -EINVAL;
        return set_string(&config->cgroup_dir, dir);
}

AUTOPROCS_API int autoprocs_config_set_procs(autoprocs_config *config, unsigned procs)
{
        if (!config || procs > 1000000)
                return -EINVAL;
        config->procs = procs;
        return 0;
}

AUTOPROCS_API int autoprocs_config_set_interval_ns(autoprocs_config *config, uint64_t interval_ns)
{
        const uint64_t ms = 1000000u;

        if (!config || interval_ns % ms != 0 ||
            (interval_ns != 0 && (interval_ns < 10 * ms || interval_ns > 3600000 * ms)))
                return -EINVAL;
        config->interval_ms = (unsigned)(interval_ns / ms);
        return 0;
}

AUTOPROCS_API int autoprocs_config_set_stack_size(autoprocs_config *config, size_t bytes)
{
        if (!config || bytes < 16 * 1024 || bytes > 64 * 1024 * 1024)
                return -EINVAL;
        config->stack_size = bytes;
        return 0;
}

AUTOPROCS_API int autoprocs_config_set_max_threads(autoprocs_config *config, unsigned max_threads)
{
        if (!config || max_threads < 1 || max_threads > 100000)
                return -EINVAL;
        config->max_threads = max_threads;
        return 0;
}

AUTOPROCS_API int autoprocs_config_set_max_blocking(autoprocs_config *config, unsigned max_blocking)
{
        if (!config || max_blocking > 100000)
                return -EINVAL;
        config->max_blocking = max_blocking;
        return 0;
}

AUTOPROCS_API int autoprocs_config_set_log_callback(autoprocs_config *config, autoprocs_log_fn fn,
                                                    void *userdata)
{
        if (!config)
                return -EINVAL;
        config->log_fn = fn;
        config->log_userdata = userdata;
        return 0;
}

AUTOPROCS_API int autoprocs_config_set_procs_changed_callback(autoprocs_config *config,
                                                              autoprocs_procs_changed_fn fn,
                                                              void *userdata)
{
        if (!config)
                return -EINVAL;
        config->procs_changed_fn = fn;
        config->procs_changed_userdata = userdata;
        return 0;
}

AUTOPROCS_API int autoprocs_config_set_pacing(autoprocs_config *config, autoprocs_pacing pacing)
{
        if (!config || (pacing != AUTOPROCS_PACING_AUTO && pacing != AUTOPROCS_PACING_ON &&
                        pacing != AUTOPROCS_PACING_OFF))
                return -EINVAL;
        config->pacing = pacing;
        return 0;
}

AUTOPROCS_API int autoprocs_pacing_from_string(const char *name, autoprocs_pacing *ret_pacing)
{
        static const char *const names[] = { "auto", "on", "off" };

        if (!name || !ret_pacing)
                return -EINVAL;
        for (size_t i = 0; i < AP_ELEMENTSOF(names); i++)
                if (strcmp(name, names[i]) == 0) {
                        *ret_pacing = (autoprocs_pacing)i;
                        return 0;
                }
        return -EINVAL;
}

AUTOPROCS_API int autoprocs_policy_from_string(const char *name, autoprocs_policy *ret_policy)
{
        static const char *const names[] = { "go125", "ceil", "floor", "automaxprocs" };

        if (!name || !ret_policy)
                return -EINVAL;
        for (size_t i = 0; i < AP_ELEMENTSOF(names); i++)
                if (strcmp(name, names[i]) == 0) {
                        *ret_policy = (autoprocs_policy)i;
                        return 0;
                }
        return -EINVAL;
}

AUTOPROCS_API const char *autoprocs_policy_to_string(autoprocs_policy policy)
{
        switch (policy) {
        case AUTOPROCS_POLICY_GO125:
                return "go125";
        case AUTOPROCS_POLICY_CEIL:
                return "ceil";
        case AUTOPROCS_POLICY_FLOOR:
                return "floor";
        case AUTOPROCS_POLICY_AUTOMAXPROCS:
                return "automaxprocs";
        }
        return "unknown";
}

AUTOPROCS_API const char *autoprocs_version(void)
{
        return AP_VERSION_STRING;
}
