/* SPDX-License-Identifier: MIT */
/* Fuzz target: /proc/<pid>/cgroup parser (probes/cgroup-path.c). */
#include <string.h>

#include "probes/cgroup-path.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        ApProcCgroup pc = { 0 };
        ApWarnings w = AP_WARNINGS_NULL;

        if (ap_proc_cgroup_parse((const char *)data, size, "fuzz", &pc, &w) == 0) {
                for (size_t i = 0; i < pc.n; i++) {
                        FUZZ_ASSERT(pc.v[i].path[0] == '/');
                        FUZZ_ASSERT((pc.v[i].id == 0) == (pc.v[i].controllers[0] == 0));
                }
                (void)ap_proc_cgroup_find(&pc, "cpu");
                (void)ap_proc_cgroup_find(&pc, NULL);
        }
        ap_proc_cgroup_done(&pc);
        ap_warnings_done(&w);
        return 0;
}
