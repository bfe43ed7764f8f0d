/* What the start-up code and the harness share: the top of RAM (from the linker script) and the
   painted window of the stack below it, whose lowest repainted word is the stack's watermark. */
#ifndef BOARD_H
#define BOARD_H
#include <stdint.h>

extern uint32_t _estack;

/* Newlib's heap grows up from the end of .bss, far below this window: it never touches it. */
#define STACK_WINDOW (64u * 1024u)
#define STACK_PAINT 0xC0FFEE42u

#endif
