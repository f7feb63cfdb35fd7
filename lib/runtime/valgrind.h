/* SPDX-License-Identifier: MIT */
/*
 * Valgrind client requests for task stacks.  Built with valgrind's headers (meson option
 * 'valgrind', auto; config.h HAVE_VALGRIND), each task stack is registered once, when its slab is
 * mapped, and deregistered when the slab is unmapped, so that memcheck knows a switch between
 * stacks (ap_arch_switch) is one and does not report every read of a task's stack as
 * uninitialised.  Outside valgrind a client request costs a few instructions (no system call);
 * without the headers these are empty.
 */
#pragma once

#include <stdbool.h>

#if HAVE_VALGRIND
#include <valgrind/valgrind.h>

static inline bool ap_running_on_valgrind(void)
{
        return RUNNING_ON_VALGRIND != 0;
}

static inline unsigned ap_valgrind_stack_register(const void *lo, const void *hi)
{
        return VALGRIND_STACK_REGISTER(lo, hi);
}

static inline void ap_valgrind_stack_deregister(unsigned id)
{
        VALGRIND_STACK_DEREGISTER(id);
}
#else
static inline bool ap_running_on_valgrind(void)
{
        return false;
}

static inline unsigned ap_valgrind_stack_register(const void *lo, const void *hi)
{
        (void)lo, (void)hi;
        return 0;
}

static inline void ap_valgrind_stack_deregister(unsigned id)
{
        (void)id;
}
#endif
