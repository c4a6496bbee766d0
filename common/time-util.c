/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <time.h>

#include "common/time-util.h"
#include "common/macro.h"

uint64_t now_usec(int clock) {
        struct timespec ts;

        (void) clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}
