/* SPDX-License-Identifier: MIT */
/*
 * Sanitizer fiber hooks around the context switch.  Compiled in only when the compiler builds
 * with ThreadSanitizer or AddressSanitizer; empty inline functions otherwise (no hot-path cost).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#ifndef __has_feature
#define __has_feature(x) 0
#endif

#if defined(__SANITIZE_THREAD__) || __has_feature(thread_sanitizer)
#define AP_TSAN 1
#else
#define AP_TSAN 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#define AP_ASAN 1
#else
#define AP_ASAN 0
#endif

#if AP_TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#endif
#if AP_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old,
                                     size_t *size_old);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#endif

static inline void *ap_fiber_current(void)
{
#if AP_TSAN
        return __tsan_get_current_fiber();
#else
        return NULL;
#endif
}

static inline void *ap_fiber_create(void)
{
#if AP_TSAN
        return __tsan_create_fiber(0);
#else
        return NULL;
#endif
}

static inline void ap_fiber_destroy(void *fiber)
{
#if AP_TSAN
        if (fiber)
                __tsan_destroy_fiber(fiber);
#else
        (void)fiber;
#endif
}

/* Before the switch: @fake receives ASan's fake-stack handle (NULL when the departing context
 * never comes back). */
static inline void ap_fiber_leave(void *to_fiber, void **fake, const void *to_lo, size_t to_size)
{
#if AP_TSAN
        __tsan_switch_to_fiber(to_fiber, 0);
#else
        (void)to_fiber;
#endif
#if AP_ASAN
        __sanitizer_start_switch_fiber(fake, to_lo, to_size);
#else
        (void)fake, (void)to_lo, (void)to_size;
#endif
}

/* After the switch, on the arriving side. */
static inline void ap_fiber_arrive(void *fake)
{
#if AP_ASAN
        __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#else
        (void)fake;
#endif
}

static inline void ap_fiber_unpoison(void *lo, size_t size)
{
#if AP_ASAN
        __asan_unpoison_memory_region(lo, size);
#else
        (void)lo, (void)size;
#endif
}
