/* SPDX-License-Identifier: MIT */
/*
 * Context switch for x86-64 (System V ABI).  Only the callee-saved state is kept: rbx, rbp,
 * r12-r15, the stack pointer (the return address sits on the stack), and the control words
 * MXCSR and x87 CW, which the ABI also declares callee-saved.
 *
 *   void ap_arch_switch(void **save_sp, void *load_sp);
 *       push the state, store rsp to *save_sp, load load_sp, pop, return into the other context.
 *   ap_arch_trampoline: first "return address" of a new context, see ap_arch_frame_init().
 *       r12 = entry function, r13 = its argument; the entry never returns.
 *
 * The file deliberately carries no GNU property note (no shadow-stack support claimed).
 */
        .text
        .globl  ap_arch_switch
        .hidden ap_arch_switch
        .type   ap_arch_switch, @function
        .p2align 4
ap_arch_switch:
        .cfi_startproc
        pushq   %rbp
        pushq   %rbx
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        subq    $8, %rsp
        stmxcsr (%rsp)
        fnstcw  4(%rsp)
        movl    (%rsp), %eax
        movzwl  4(%rsp), %edx
        movq    %rsp, (%rdi)
        movq    %rsi, %rsp
        /* loading MXCSR / the x87 CW is slow: only when the other context's differ */
        cmpl    (%rsp), %eax
        jne     2f
        cmpw    4(%rsp), %dx
        jne     2f
1:
        addq    $8, %rsp
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbx
        popq    %rbp
        ret
2:
        ldmxcsr (%rsp)
        fldcw   4(%rsp)
        jmp     1b
        .cfi_endproc
        .size   ap_arch_switch, .-ap_arch_switch

        .globl  ap_arch_trampoline
        .hidden ap_arch_trampoline
        .type   ap_arch_trampoline, @function
        .p2align 4
ap_arch_trampoline:
        .cfi_startproc
        .cfi_undefined rip
        xorl    %ebp, %ebp
        movq    %r13, %rdi
        callq   *%r12
        ud2
        .cfi_endproc
        .size   ap_arch_trampoline, .-ap_arch_trampoline

        .section .note.GNU-stack,"",@progbits
