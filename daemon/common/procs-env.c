/* SPDX-License-Identifier: MIT */
/*
 * The processor-count environment variables (procs-env.h).
 */
#include "daemon/common/procs-env.h"

const char *const ap_procs_env_vars[AP_PROCS_ENV_N] = {
        "AUTOPROCS_PROCS",      "GOMAXPROCS",      "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "UV_THREADPOOL_SIZE",
};
