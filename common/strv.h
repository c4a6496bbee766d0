/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

#include "common/macro.h"

/* NULL-terminated string vectors. */
char **strv_free(char **l);
DEFINE_CLEANUP(char **, strv_free);
size_t strv_length(char *const *l);
int strv_push(char ***l, char *value); /* takes ownership of value, also on failure */
int strv_split(const char *s, const char *separators, char ***ret);
#define STRV_FOREACH(s, l) for (char **s = (l); s && *s; s++)
