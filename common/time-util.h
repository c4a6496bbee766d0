/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

/* Milliseconds/microseconds since CLOCK_MONOTONIC's epoch. */
uint64_t now_usec(int clock);
#define USEC_PER_SEC UINT64_C(1000000)
#define USEC_PER_MSEC UINT64_C(1000)
