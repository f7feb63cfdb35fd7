/* SPDX-License-Identifier: MIT */
/*
 * Scope-bound cleanup: _cleanup_(fnp) runs fnp(&var) when var leaves scope.
 * AP_DEFINE_CLEANUP(T, fn) makes fnp from a destructor `T fn(T)` that accepts NULL.
 */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

#define AP_DEFINE_CLEANUP(type, func)                   \
        static inline void func##p(type *p)             \
        {                                               \
                if (*p)                                 \
                        (void)func(*p);                 \
        }

static inline void ap_freep(void *p)
{
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(ap_freep)

static inline int ap_close(int fd)
{
        if (fd >= 0)
                (void)close(fd);
        return -1;
}

static inline void ap_closep(int *fd)
{
        *fd = ap_close(*fd);
}
#define _cleanup_close_ _cleanup_(ap_closep)

static inline void ap_fclosep(FILE **f)
{
        if (*f)
                (void)fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(ap_fclosep)
