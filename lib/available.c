/* SPDX-License-Identifier: MIT */
/*
 * autoprocs_available_procs(): the one-call answer, for programs that size their own pools.
 * The AUTOPROCS_* environment applies as it does for autoprocs_init(); then a full detection; if
 * that finds nothing, the affinity count; if even that fails, 1.  Starts no thread, logs nothing.
 */
#include <sched.h>
#include <stdlib.h>

#include "autoprocs.h"
#include "lib/init-config.h"
#include "lib/env.h"

/* CPUs in this thread's affinity mask (a mask grown until the kernel takes it); 0 if unknown. */
static unsigned affinity_count(void)
{
        for (unsigned n = 1024; n <= (1u << 20); n *= 2) {
                cpu_set_t *set = CPU_ALLOC(n);
                size_t size = CPU_ALLOC_SIZE(n);
                int r;

                if (!set)
                        return 0;
                r = sched_getaffinity(0, size, set);
                if (r == 0) {
                        unsigned c = (unsigned)CPU_COUNT_S(size, set);

                        CPU_FREE(set);
                        return c;
                }
                CPU_FREE(set);
        }
        return 0;
}

AUTOPROCS_API unsigned autoprocs_available_procs(void)
{
        autoprocs_config c;
        autoprocs_facts *f = NULL;
        unsigned n = 0;

        ap_config_init_defaults(&c);
        /* No log callback: a bad variable is ignored silently, as documented. */
        (void)ap_env_apply(&c, NULL, NULL);
        if (c.procs > 0)
                n = c.procs;
        else if (autoprocs_detect(&c, &f) == 0)
                n = autoprocs_facts_procs(f);
        autoprocs_facts_free(f);
        ap_config_deinit(&c);
        if (n == 0)
                n = affinity_count();
        return n > 0 ? n : 1;
}
