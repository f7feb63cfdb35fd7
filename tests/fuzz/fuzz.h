/* SPDX-License-Identifier: MIT */
/*
 * The fuzz targets' shared bits.  Each fuzz-<parser>.c defines LLVMFuzzerTestOneInput(); built with
 * clang -fsanitize=fuzzer by run-fuzzers.sh, or with fuzz-main.c as a plain regression runner
 * over tests/fuzz/seeds/<parser>/ in the meson test suite.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant broken: abort, so both libFuzzer and the regression runner report it. */
#define FUZZ_ASSERT(x)                                                                  \
        do {                                                                            \
                if (!(x)) {                                                             \
                        fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #x); \
                        abort();                                                        \
                }                                                                       \
        } while (0)
