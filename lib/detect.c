/* SPDX-License-Identifier: MIT */
/*
 * autoprocs_detect(): run the probes over one root and apply the policy (policy.c).  Starts no
 * thread; every call opens, reads and closes, except that this process's own mountinfo on the live
 * system comes from a cache the kernel validates (mountinfo-cache.h).  A fact that cannot be read is left
 * unknown with a warning; only the absence of any CPU count at all is an error, and for another
 * process (--pid) a cgroup that no view we have can verify (-EACCES: see probes/cgroup-view.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/facts.h"
#include "lib/init-config.h"
#include "lib/mountinfo-cache.h"
#include "lib/policy.h"
#include "lib/util/cleanup.h"
#include "probes/cgroup-limit.h"
#include "probes/cgroup-path.h"
#include "probes/cgroup-resolve.h"
#include "probes/cpuset.h"
#include "probes/cpustat.h"
#include "probes/psi.h"

AUTOPROCS_API autoprocs_facts *autoprocs_facts_free(autoprocs_facts *f)
{
        if (!f)
                return NULL;
        free(f->cgroup_path);
        free(f->limit_cgroup);
        free(f->limit_file);
        for (size_t i = 0; i < f->n_warnings; i++)
                free(f->warnings[i]);
        free(f->warnings);
        for (size_t i = 0; i < f->n_notes; i++)
                free(f->notes[i]);
        free(f->notes);
        free(f);
        return NULL;
}

AP_DEFINE_CLEANUP(autoprocs_facts *, autoprocs_facts_free)

static int dup_opt(const char *s, char **ret)
{
        *ret = NULL;
        if (s && !(*ret = strdup(s)))
                return -ENOMEM;
        return 0;
}

/* Limit, throttling and usage over the cpu hierarchy of @m. */
static int detect_limit(const ApProbeRoot *root, const ApCgroupModel *m, autoprocs_facts *f,
                        ApWarnings *warn)
{
        ApLimitChain chain = AP_LIMIT_CHAIN_NULL;
        ApCpuLimit lim;
        ApCpuStat st;
        const char *stat_dir, *acct_dir = NULL;
        int r;

        if (m->cpu.version == 0)
                return 0;
        if (!m->cpu.dir) {
                f->limit_unknown = true;
                return 0;
        }
        r = ap_limit_chain_open(root, &m->cpu, &chain, warn);
        if (r < 0)
                return r;
        if (r > 0)
                return 0;
        (void)ap_limit_chain_read(&chain, &lim, NULL, warn);
        stat_dir = m->cpu.dir;
        if (lim.limited) {
                f->has_limit = true;
                f->quota_us = lim.quota_us;
                f->period_us = lim.period_us;
                if (dup_opt(lim.cgroup, &f->limit_cgroup) < 0 || dup_opt(lim.file, &f->limit_file) < 0) {
                        ap_limit_chain_done(&chain);
                        return -ENOMEM;
                }
                stat_dir = chain.levels[lim.level].dir;
        }
        /* v1 usage: cpuacct.usage in the same directory when cpuacct is co-mounted with cpu, else in
         * the process's own cpuacct cgroup. */
        if (m->cpu.version == 1 && m->cpuacct.version == 1 && m->cpuacct.dir)
                acct_dir = m->cpuacct.top && m->cpu.top && strcmp(m->cpuacct.top, m->cpu.top) == 0 ? stat_dir
                                                                                                  : m->cpuacct.dir;
        r = ap_cpu_stat_read(root, stat_dir, acct_dir, &st, warn);
        ap_limit_chain_done(&chain);
        if (r < 0)
                return r;
        if (r == 0) {
                f->has_throttling = st.has_throttling;
                f->throttling = (autoprocs_throttling){
                        .nr_periods = st.nr_periods,
                        .nr_throttled = st.nr_throttled,
                        .throttled_ns = st.throttled_usec * 1000u,
                        .has_usage = st.has_usage,
                        .usage_ns = st.usage_usec * 1000u,
                };
        }
        return 0;
}

static int detect_run(const autoprocs_config *c, autoprocs_facts *f, ApWarnings *warn)
{
        ApProbeRoot root = AP_PROBE_ROOT_NULL;
        ApCgroupModel m = { 0 };
        ApAffinity aff;
        int r;

        if (!c->root && c->pid > 0 && !c->cgroup_dir) {
                /* Another process: the view that is verified to hold it, or -EACCES. */
                r = ap_cgroup_model_read_pid("/", c->pid, &root, &m, warn);
                if (r < 0)
                        return r;
                goto located;
        }
        r = ap_probe_root_open(c->root ? c->root : "/", c->pid, !c->root, &root);
        if (r < 0)
                return r;
        if (c->cgroup_dir)
                r = ap_cgroup_model_for_dir(&root, c->cgroup_dir, &m, warn);
        else if (!c->root && c->pid == 0) {
                /* This process on the live system: mountinfo from the validated cache. */
                ApMountTable mt = { 0 };

                r = ap_mountinfo_cache_copy(root.root_fd, &mt);
                if (r == 0)
                        r = ap_cgroup_model_read_with_mounts(&root, &mt, &m, warn);
                else if (r > 0)
                        r = ap_cgroup_model_read(&root, &m, warn);
        } else
                r = ap_cgroup_model_read(&root, &m, warn);
        if (r < 0)
                goto out;
located:
        f->cgroup_version = m.cpu.version;
        if (m.cpu.version != 0 && (r = dup_opt(m.cpu.path, &f->cgroup_path)) < 0)
                goto out;
        r = detect_limit(&root, &m, f, warn);
        if (r < 0)
                goto out;
        if (m.unified.version == 2 && m.unified.dir) {
                r = ap_psi_read(&root, m.unified.dir, &f->pressure, warn);
                if (r < 0)
                        goto out;
                f->has_pressure = r == 0;
        } else
                ap_warn(warn, "cpu.pressure: no cgroup v2 directory for this process (CPU PSI of the cgroup unknown)");
        r = ap_affinity_read(&root, &m.cpuset, &aff, warn);
        if (r < 0)
                goto out;
        if (r > 0) {
                r = -ENOENT;
                goto out;
        }
        f->affinity_cpus = aff.cpus;
        f->affinity_from_cpuset = ap_affinity_is_cpuset(&root, &m.cpuset, &aff);
        f->procs = ap_policy_procs(&(ApPolicyInput){
                .has_limit = f->has_limit,
                .quota_us = f->quota_us,
                .period_us = f->period_us,
                .affinity = f->affinity_cpus,
                .policy = f->policy,
                .min_procs = f->min_procs,
                .reserve_millicpus = f->reserve_millicpus,
        });
        r = 0;
out:
        ap_cgroup_model_done(&m);
        ap_probe_root_done(&root);
        return r;
}

AUTOPROCS_API int autoprocs_detect(const autoprocs_config *config, autoprocs_facts **ret_facts)
{
        _cleanup_(autoprocs_facts_freep) autoprocs_facts *f = NULL;
        ApWarnings warn = AP_WARNINGS_NULL;
        autoprocs_config defaults;
        int r;

        if (!ret_facts)
                return -EINVAL;
        if (!config) {
                ap_config_init_defaults(&defaults);
                config = &defaults;
        }
        if ((unsigned)config->policy > AUTOPROCS_POLICY_AUTOMAXPROCS || config->pid < 0)
                return -EINVAL;
        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->policy = config->policy;
        f->min_procs = config->min_procs;
        f->reserve_millicpus = config->reserve_millicpus;
        r = detect_run(config, f, &warn);
        if (r >= 0) {
                /* Hand the warnings and notes over (steal the arrays). */
                f->warnings = warn.v;
                f->n_warnings = warn.n;
                f->notes = warn.notes;
                f->n_notes = warn.n_notes;
                warn = AP_WARNINGS_NULL;
        }
        ap_warnings_done(&warn);
        if (r < 0)
                return r;
        *ret_facts = AP_TAKE_PTR(f);
        return 0;
}
