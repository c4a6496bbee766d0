/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A copy with every byte outside printable ASCII written as \xNN: safe for D-Bus (valid UTF-8)
 * and the journal whatever the input. Takes ownership of s; NULL on OOM (s is freed). */
char *escape_nonprintable(char *s);
