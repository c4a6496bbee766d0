/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Checked number parsing: decimal only, no sign, no trailing garbage. */
int parse_uint32(const char *s, uint32_t *ret);
int parse_boolean(const char *s);
char *strstrip(char *s);
bool ifname_valid(const char *name);
