/* SPDX-License-Identifier: MIT */
/*
 * Context switch for aarch64 (AAPCS64).  Only the callee-saved state is kept: x19-x28, x29 (fp),
 * x30 (lr), the low halves d8-d15 and FPCR (rounding mode, like MXCSR on x86-64).
 *
 *   void ap_arch_switch(void **save_sp, void *load_sp);
 *   ap_arch_trampoline: first lr of a new context; x19 = entry function, x20 = its argument.
 *
 * Frame layout (176 bytes): x19..x30 at 0..88, d8..d15 at 96..152, fpcr at 160.
 */
        .text
        .globl  ap_arch_switch
        .hidden ap_arch_switch
        .type   ap_arch_switch, %function
        .p2align 4
ap_arch_switch:
        .cfi_startproc
        sub     sp, sp, #176
        stp     x19, x20, [sp, #0]
        stp     x21, x22, [sp, #16]
        stp     x23, x24, [sp, #32]
        stp     x25, x26, [sp, #48]
        stp     x27, x28, [sp, #64]
        stp     x29, x30, [sp, #80]
        stp     d8, d9, [sp, #96]
        stp     d10, d11, [sp, #112]
        stp     d12, d13, [sp, #128]
        stp     d14, d15, [sp, #144]
        mrs     x10, fpcr
        str     x10, [sp, #160]
        mov     x9, sp
        str     x9, [x0]
        mov     sp, x1
        ldp     x19, x20, [sp, #0]
        ldp     x21, x22, [sp, #16]
        ldp     x23, x24, [sp, #32]
        ldp     x25, x26, [sp, #48]
        ldp     x27, x28, [sp, #64]
        ldp     x29, x30, [sp, #80]
        ldp     d8, d9, [sp, #96]
        ldp     d10, d11, [sp, #112]
        ldp     d12, d13, [sp, #128]
        ldp     d14, d15, [sp, #144]
        /* writing FPCR is slow: only when the other context's differs (x10 = ours) */
        ldr     x9, [sp, #160]
        cmp     x9, x10
        b.eq    1f
        msr     fpcr, x9
1:
        add     sp, sp, #176
        ret
        .cfi_endproc
        .size   ap_arch_switch, .-ap_arch_switch

        .globl  ap_arch_trampoline
        .hidden ap_arch_trampoline
        .type   ap_arch_trampoline, %function
        .p2align 4
ap_arch_trampoline:
        .cfi_startproc
        .cfi_undefined x30
        mov     x29, #0
        mov     x0, x20
        blr     x19
        brk     #0
        .cfi_endproc
        .size   ap_arch_trampoline, .-ap_arch_trampoline

        .section .note.GNU-stack,"",%progbits
