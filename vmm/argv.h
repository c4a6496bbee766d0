/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small helpers the backends' command-line builders share. */

#include <stdbool.h>

#include "common/macro.h"
#include "vmm/spec.h"

int argv_add(char ***l, const char *s);
int argv_addf(char ***l, const char *fmt, ...) _printf_(2, 3);
/* Adds each string up to a NULL. */
int argv_add_many(char ***l, ...);

/* A regular file we may execute. */
bool is_executable_file(const char *path);
/* The first executable "dir/name" over $PATH's absolute entries, then /usr/bin and
 * /usr/local/bin. A relative $PATH entry is skipped: the daemon runs as root. */
int find_in_path(const char *name, char **ret);
/* $env_name if set (a name without '/' is looked up in PATH), else name in PATH. */
int find_program(const char *env_name, const char *name, char **ret);

/* An absolute path within the spec's string bound. */
bool argv_path_ok(const char *p);
/* "00:1a:11:e1:cf:02" */
bool argv_mac_ok(const char *m);
/* What every VM backend's builder checks: n_nics within nics_max with a valid MAC each, cpus and
 * memory set, kernel/initrd/bios absolute when given. -EINVAL otherwise. */
int argv_check_vm(const InstanceSpec *spec, unsigned n_nics, unsigned nics_max, const char *const *macs);
