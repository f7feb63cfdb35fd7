/* SPDX-License-Identifier: MIT */
/* Fuzz target: mountinfo parser and octal unescaping (probes/cgroup-path.c). */
#include <string.h>

#include "probes/cgroup-path.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        ApMountTable mt = { 0 };
        ApWarnings w = AP_WARNINGS_NULL;
        char *u = NULL;

        if (ap_mountinfo_parse((const char *)data, size, "fuzz", &mt, &w) == 0) {
                for (size_t i = 0; i < mt.n; i++) {
                        FUZZ_ASSERT(mt.v[i].root && mt.v[i].mount_point && mt.v[i].super_opts);
                        FUZZ_ASSERT(strcmp(mt.v[i].fstype, "cgroup") == 0 || strcmp(mt.v[i].fstype, "cgroup2") == 0);
                        (void)ap_token_in_list(mt.v[i].super_opts, "cpu");
                }
        }
        if (ap_mountinfo_unescape((const char *)data, size, &u) == 0)
                FUZZ_ASSERT(strlen(u) <= size);
        free(u);
        ap_mount_table_done(&mt);
        ap_warnings_done(&w);
        return 0;
}
