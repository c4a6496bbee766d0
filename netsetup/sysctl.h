/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Forwarding and per-bridge IPv6 sysctls of the current network namespace. With
 * restore_sysctls the values found before the first change are saved to a file and written
 * back at teardown. */

#include "netsetup/plan.h"

int sysctl_write(const char *name, const char *value); /* name like "net/ipv4/ip_forward" */
int sysctl_read(const char *name, char **ret);

/* Sets what c needs. saved_path: where originals are recorded (only if the file does not yet
 * exist, so a restart keeps the very first values); NULL to not record. */
int sysctl_apply(const NetConfig *c, const char *saved_path, char **ret_error);
/* Writes back what saved_path holds, then removes it. Absent file: nothing to do. */
int sysctl_restore(const char *saved_path);
