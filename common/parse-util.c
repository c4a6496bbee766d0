/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include "common/parse-util.h"
#include "common/macro.h"

int parse_uint32(const char *s, uint32_t *ret) {
        unsigned long long v;
        char *end;

        if (!s || !*s || !isdigit((unsigned char) *s))
                return -EINVAL;
        /* No octal surprises: "010" is ten, and "0x10" is rejected. */
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno > 0)
                return -errno;
        if (*end)
                return -EINVAL;
        if (v > UINT32_MAX)
                return -ERANGE;
        *ret = (uint32_t) v;
        return 0;
}

int parse_boolean(const char *s) {
        static const char *const yes[] = { "1", "yes", "y", "true", "t", "on" };
        static const char *const no[] = { "0", "no", "n", "false", "f", "off" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (strcasecmp(s, yes[i]) == 0)
                        return 1;
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                if (strcasecmp(s, no[i]) == 0)
                        return 0;
        return -EINVAL;
}

char *strstrip(char *s) {
        char *e;

        s += strspn(s, " \t\r\n");
        e = s + strlen(s);
        while (e > s && strchr(" \t\r\n", e[-1]))
                e--;
        *e = 0;
        return s;
}

bool ifname_valid(const char *name) {
        size_t n;

        if (!name)
                return false;
        n = strlen(name);
        if (n == 0 || n >= IFNAMSIZ)
                return false;
        if (streq(name, ".") || streq(name, ".."))
                return false;
        for (const char *p = name; *p; p++)
                if ((unsigned char) *p <= ' ' || *p == '/' || *p == ':' || (unsigned char) *p >= 127)
                        return false;
        return true;
}
