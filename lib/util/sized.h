/* SPDX-License-Identifier: MIT */
/*
 * Output structs filled through a size (autoprocs.h, top): the caller passes sizeof(*ret) of the
 * header it was built with; the library copies what it has up to that size and zeroes the rest.
 */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <string.h>

/* The size of the first version of a struct: up to the end of its last field then. */
#define AP_SIZE_TO(type, last) (offsetof(type, last) + sizeof(((type *)0)->last))

/* Copy @full bytes of @src into @dst of the caller's @size.  -EINVAL for no @dst or a @size
 * below @min (the first version's); nothing is written then. */
static inline int ap_fill_sized(void *dst, size_t size, const void *src, size_t full, size_t min)
{
        if (!dst || size < min)
                return -EINVAL;
        if (size > full) {
                memcpy(dst, src, full);
                memset((char *)dst + full, 0, size - full);
        } else {
                memcpy(dst, src, size);
        }
        return 0;
}
