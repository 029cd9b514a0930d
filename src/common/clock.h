/* SPDX-License-Identifier: MIT */
/* Monotonic and wall clocks. */
#ifndef FIEF_CLOCK_H
#define FIEF_CLOCK_H

#include <stdint.h>

uint64_t clock_mono_ns(void); /* CLOCK_MONOTONIC, nanoseconds */
double clock_mono_s(void);    /* CLOCK_MONOTONIC, seconds */
uint64_t clock_wall_ms(void); /* Unix time, milliseconds */

#endif
