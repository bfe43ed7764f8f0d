/* Runs the exported model on the images compiled in (images.h, written by scripts/mcu-check.sh
   with the host's classes) and prints, per image, the class and the SysTick ticks of one
   neuropos_predict; then the totals and the stack used. */
#include <stdint.h>
#include <stdio.h>
#include "board.h"
#include "neuropos_model.h"
#include "images.h"

static volatile uint32_t systick_wraps;

/* The SysTick interrupt: one more wrap of the 24-bit counter. */
void systick_handler(void);
void systick_handler(void) { systick_wraps++; }

/* The stack used so far: from the top of RAM down to the lowest word no longer painted. */
static uint32_t stack_used(void)
{
    uint32_t *p = &_estack - STACK_WINDOW / 4;
    while (p < &_estack && *p == STACK_PAINT) p++;
    return (uint32_t)((uintptr_t)&_estack - (uintptr_t)p);
}

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

static uint64_t ticks(void)
{
    uint32_t wraps, value;
    do {
        wraps = systick_wraps;
        value = SYST_CVR;
    } while (wraps != systick_wraps);
    return (uint64_t)wraps * 0x1000000u + (0xFFFFFFu - value);
}

int main(void)
{
    static float input[NEUROPOS_INPUTS];
    float scores[NEUROPOS_CLASSES];
    uint64_t total = 0;
    int i, k, mismatches = 0;
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* processor clock, interrupt, enabled */
    for (i = 0; i < IMAGES; i++) {
        uint64_t start, spent;
        int c;
        for (k = 0; k < NEUROPOS_INPUTS; k++) input[k] = (float)image_pixels[i][k] / 255.0f;
        start = ticks();
        c = neuropos_predict(input, scores);
        spent = ticks() - start;
        total += spent;
        if (c != host_class[i]) mismatches++;
        printf("image %d class %d host %d ticks %lu\n", i, c, host_class[i], (unsigned long)spent);
    }
    printf("images %d mismatches %d ticks %lu stack %lu\n", IMAGES, mismatches,
           (unsigned long)total, (unsigned long)stack_used());
    return 0;
}
