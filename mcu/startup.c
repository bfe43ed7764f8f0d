/* Bare-metal start for QEMU's mps2-an386: the vector table, .data copied and .bss zeroed, the
   FPU enabled, the stack painted (for its watermark, board.h), newlib's semihosting set up, main
   run, then QEMU left through the semihosting SYS_EXIT call. The harness (main.c) owns main and
   the SysTick handler. */
#include <stdint.h>
#include "board.h"

extern uint32_t _sidata, _sdata, _edata, __bss_start__, __bss_end__;
extern int main(void);
extern void initialise_monitor_handles(void);
extern void systick_handler(void);

void reset_handler(void);
static void default_handler(void) { for (;;) { } }

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(&_estack), reset_handler, default_handler, default_handler,
    default_handler, default_handler, default_handler, 0, 0, 0, 0, default_handler,
    default_handler, 0, default_handler, systick_handler,
};

static void semihosting_exit(void)
{
    /* SYS_EXIT (0x18) with ADP_Stopped_ApplicationExit (0x20026). */
    __asm volatile("mov r0, #0x18\n ldr r1, =0x20026\n bkpt 0xab" ::: "r0", "r1", "memory");
}

void reset_handler(void)
{
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata) *dst++ = *src++;
    for (dst = &__bss_start__; dst < &__bss_end__; dst++) *dst = 0;
    /* Paint the stack window below the current stack pointer (16 words of headroom). */
    {
        uint32_t *p = &_estack - STACK_WINDOW / 4, *sp;
        __asm volatile("mov %0, sp" : "=r"(sp));
        while (p < sp - 16) *p++ = STACK_PAINT;
    }
    /* CPACR: full access to CP10 and CP11 (the FPU). */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm volatile("dsb\n isb");
    initialise_monitor_handles();
    main();
    semihosting_exit();
    for (;;) { }
}
