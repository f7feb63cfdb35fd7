/* SPDX-License-Identifier: MIT */
/*
 * CPU pressure stall information of a cgroup (v2 cpu.pressure):
 *   some avg10=0.00 avg60=0.00 avg300=0.00 total=0
 *   full avg10=0.00 avg60=0.00 avg300=0.00 total=0
 * avgN in percent of wall time, total in µs.  Kernel: Documentation/accounting/psi.rst.
 * Pressure measures contention, not capacity: never an input of the processor count.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "probes/probe.h"

typedef struct ApPsiLine {
        uint32_t avg10, avg60, avg300;   /* hundredths of a percent (the kernel prints 2 decimals) */
        uint64_t total_usec;
} ApPsiLine;

typedef struct ApPsi {
        ApPsiLine some;
        bool has_full;
        ApPsiLine full;
} ApPsi;

/* "some" is required; "full" optional; unknown line kinds ignored; fields in any order but all
 * four required; averages 0.00 .. 100.00.  @retval 0  @retval -EINVAL */
int ap_psi_parse(const char *buf, size_t len, ApPsi *ret);
/* cpu.pressure of directory @dir (relative to @root->mnt_fd).
 * @retval 0  @retval AP_PROBE_NOT_APPLICABLE missing or unsupported (warned) */
int ap_psi_read(const ApProbeRoot *root, const char *dir, ApPsi *ret, ApWarnings *warn);
