/* SPDX-License-Identifier: MIT */
/*
 * The architecture layer: the assembly context switch (arch/switch-<cpu>.S) and the hand-built
 * first frame of a new context.  Nothing else in the runtime knows a register name.
 */
#pragma once

#include <stdint.h>
#include <string.h>

/* Save the callee-saved state on the current stack, store the stack pointer in *save_sp, load
 * load_sp and resume the context saved there. */
void ap_arch_switch(void **save_sp, void *load_sp);
void ap_arch_trampoline(void);

typedef void (*ApArchEntry)(void *arg);

/* Build the first frame of a context on the stack whose highest usable address is @top, so that
 * switching to the returned stack pointer calls entry(arg) (which must never return). */
static inline void *ap_arch_frame_init(void *top, ApArchEntry entry, void *arg)
{
        uintptr_t t = (uintptr_t)top & ~(uintptr_t)15;
#if defined(__x86_64__)
        /* [mxcsr|x87cw] r15 r14 r13 r12 rbx rbp ret; after ret rsp = t - 16 (aligned). */
        uint64_t *f = (uint64_t *)(t - 16 - 64);

        memset(f, 0, 80);
        f[0] = 0x1F80u | ((uint64_t)0x037Fu << 32);
        f[3] = (uint64_t)(uintptr_t)arg;        /* r13 */
        f[4] = (uint64_t)(uintptr_t)entry;      /* r12 */
        f[7] = (uint64_t)(uintptr_t)ap_arch_trampoline;
        return f;
#elif defined(__aarch64__)
        /* x19..x30 at 0..88, d8..d15 at 96..152, fpcr at 160; sp after = t - 16. */
        uint64_t *f = (uint64_t *)(t - 16 - 176);

        memset(f, 0, 192);
        f[0] = (uint64_t)(uintptr_t)entry;      /* x19 */
        f[1] = (uint64_t)(uintptr_t)arg;        /* x20 */
        f[11] = (uint64_t)(uintptr_t)ap_arch_trampoline; /* x30 */
        return f;
#else
#error "unsupported architecture"
#endif
}
