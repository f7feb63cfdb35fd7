/* SPDX-License-Identifier: MIT */
/*
 * The accessors of autoprocs_facts (autoprocs.h, section 2).  NULL facts read as "unknown".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/facts.h"
#include "lib/util/sized.h"

AUTOPROCS_API int autoprocs_facts_cgroup_version(const autoprocs_facts *f)
{
        return f ? f->cgroup_version : 0;
}

AUTOPROCS_API const char *autoprocs_facts_cgroup_path(const autoprocs_facts *f)
{
        return f ? f->cgroup_path : NULL;
}

AUTOPROCS_API bool autoprocs_facts_has_limit(const autoprocs_facts *f)
{
        return f && f->has_limit;
}

AUTOPROCS_API uint64_t autoprocs_facts_quota_ns(const autoprocs_facts *f)
{
        return f && f->has_limit ? f->quota_us * 1000u : 0;
}

AUTOPROCS_API uint64_t autoprocs_facts_period_ns(const autoprocs_facts *f)
{
        return f && f->has_limit ? f->period_us * 1000u : 0;
}

AUTOPROCS_API double autoprocs_facts_limit_cpus(const autoprocs_facts *f)
{
        if (!f || !f->has_limit || f->period_us == 0)
                return 0.0;
        return (double)f->quota_us / (double)f->period_us;
}

AUTOPROCS_API const char *autoprocs_facts_limit_cgroup(const autoprocs_facts *f)
{
        return f && f->has_limit ? f->limit_cgroup : NULL;
}

AUTOPROCS_API const char *autoprocs_facts_limit_file(const autoprocs_facts *f)
{
        return f && f->has_limit ? f->limit_file : NULL;
}

AUTOPROCS_API const char *autoprocs_facts_affinity_source(const autoprocs_facts *f)
{
        if (!f || f->affinity_cpus == 0)
                return NULL;
        return f->affinity_from_cpuset ? "cpuset" : "affinity";
}

AUTOPROCS_API unsigned autoprocs_facts_affinity_cpus(const autoprocs_facts *f)
{
        return f ? f->affinity_cpus : 0;
}

AUTOPROCS_API unsigned autoprocs_facts_procs(const autoprocs_facts *f)
{
        return f && f->procs ? f->procs : 1;
}

AUTOPROCS_API autoprocs_policy autoprocs_facts_policy(const autoprocs_facts *f)
{
        return f ? f->policy : AUTOPROCS_POLICY_GO125;
}

AUTOPROCS_API int autoprocs_facts_throttling(const autoprocs_facts *f, autoprocs_throttling *ret,
                                             size_t size)
{
        if (!f || !ret || size < AP_SIZE_TO(autoprocs_throttling, usage_ns))
                return -EINVAL;
        if (!f->has_throttling)
                return -ENODATA;
        return ap_fill_sized(ret, size, &f->throttling, sizeof(f->throttling),
                             AP_SIZE_TO(autoprocs_throttling, usage_ns));
}

static void psi_line(const ApPsiLine *l, double *a10, double *a60, double *a300, uint64_t *total)
{
        *a10 = l->avg10 / 100.0;
        *a60 = l->avg60 / 100.0;
        *a300 = l->avg300 / 100.0;
        *total = l->total_usec * 1000u;
}

AUTOPROCS_API int autoprocs_facts_pressure(const autoprocs_facts *f, autoprocs_pressure *ret,
                                           size_t size)
{
        const size_t first = AP_SIZE_TO(autoprocs_pressure, full_total_ns);
        autoprocs_pressure p = { 0 };

        if (!f || !ret || size < first)
                return -EINVAL;
        if (!f->has_pressure)
                return -ENODATA;
        psi_line(&f->pressure.some, &p.some_avg10, &p.some_avg60, &p.some_avg300, &p.some_total_ns);
        p.has_full = f->pressure.has_full;
        if (p.has_full)
                psi_line(&f->pressure.full, &p.full_avg10, &p.full_avg60, &p.full_avg300, &p.full_total_ns);
        return ap_fill_sized(ret, size, &p, sizeof(p), first);
}

AUTOPROCS_API size_t autoprocs_facts_warning_count(const autoprocs_facts *f)
{
        return f ? f->n_warnings : 0;
}

AUTOPROCS_API const char *autoprocs_facts_warning(const autoprocs_facts *f, size_t i)
{
        return f && i < f->n_warnings ? f->warnings[i] : NULL;
}

int ap_facts_add_warning(autoprocs_facts *f, const char *w)
{
        char **v = realloc(f->warnings, (f->n_warnings + 1) * sizeof(*v));
        char *d;

        if (!v)
                return -ENOMEM;
        f->warnings = v;
        d = strdup(w);
        if (!d)
                return -ENOMEM;
        f->warnings[f->n_warnings++] = d;
        return 0;
}

AUTOPROCS_API size_t autoprocs_facts_note_count(const autoprocs_facts *f)
{
        return f ? f->n_notes : 0;
}

AUTOPROCS_API const char *autoprocs_facts_note(const autoprocs_facts *f, size_t i)
{
        return f && i < f->n_notes ? f->notes[i] : NULL;
}
