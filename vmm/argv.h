/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small helpers the backends' command-line builders share. */

#include <stdbool.h>

#include "macro.h"

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
