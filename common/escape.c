/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>

#include "common/escape.h"
#include "common/macro.h"

char *escape_nonprintable(char *s) {
        _cleanup_free_ char *orig = s;
        size_t n = 0;
        char *e, *o;

        if (!s)
                return NULL;
        for (const char *c = s; *c; c++)
                n += (unsigned char) *c < 0x20 || (unsigned char) *c >= 0x7f ? 4 : 1;
        e = o = malloc(n + 1);
        if (!e)
                return NULL;
        for (const unsigned char *c = (const unsigned char *) s; *c; c++)
                if (*c < 0x20 || *c >= 0x7f)
                        o += sprintf(o, "\\x%02x", *c);
                else
                        *o++ = (char) *c;
        *o = 0;
        return e;
}
