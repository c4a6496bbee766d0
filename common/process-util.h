/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <sys/types.h>

/* Closes every fd from first up (a forked child that does not exec keeps nothing of its parent:
 * the bus, the runtime dir's lock). */
int close_from(int first);
/* Waits up to timeout_msec for pid to exit (through a pidfd; does not reap). 0 once it is gone,
 * -ETIMEDOUT if it still runs. */
int wait_pid_exit(pid_t pid, int timeout_msec);
/* Reads field 22 of /proc/PID/stat: the start time in clock ticks after boot. */
int pid_get_starttime(pid_t pid, uint64_t *ret);
