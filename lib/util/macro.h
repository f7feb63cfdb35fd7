/* SPDX-License-Identifier: MIT */
/*
 * Small macros used everywhere.  The only place (with cleanup.h) where GNU extensions appear.
 */
#pragma once

#include <stddef.h>

#define AP_ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define AP_UNUSED __attribute__((unused))
#define AP_LIKELY(x) __builtin_expect(!!(x), 1)
#define AP_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define AP_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define AP_NORETURN __attribute__((noreturn))
#define AP_HIDDEN __attribute__((visibility("hidden")))

#define AP_MIN(a, b) ((a) < (b) ? (a) : (b))
#define AP_MAX(a, b) ((a) > (b) ? (a) : (b))

#define AP_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* Take ownership out of a variable: returns its value and sets it to NULL. */
#define AP_TAKE_PTR(p)                          \
        ({                                      \
                __typeof__(p) _ptr_ = (p);      \
                (p) = NULL;                     \
                _ptr_;                          \
        })

#define AP_TAKE_FD(fd)                          \
        ({                                      \
                int _fd_ = (fd);                \
                (fd) = -1;                      \
                _fd_;                           \
        })

/* Negative errno of the last libc failure, never 0. */
#define AP_NEG_ERRNO() (errno > 0 ? -errno : -EIO)
