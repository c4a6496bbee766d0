/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/strv.h"
#include "common/macro.h"

char **strv_free(char **l) {
        STRV_FOREACH (s, l)
                free(*s);
        return mfree(l);
}

size_t strv_length(char *const *l) {
        size_t n = 0;

        while (l && l[n])
                n++;
        return n;
}

int strv_push(char ***l, char *value) {
        size_t n = strv_length(*l);
        char **c;

        c = reallocarray(*l, n + 2, sizeof(char *));
        if (!c) {
                free(value);
                return -ENOMEM;
        }
        c[n] = value;
        c[n + 1] = NULL;
        *l = c;
        return 0;
}

int strv_split(const char *s, const char *separators, char ***ret) {
        _cleanup_(strv_freep) char **l = NULL;
        int r;

        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;

        while (s && *s) {
                size_t n;

                s += strspn(s, separators);
                n = strcspn(s, separators);
                if (n == 0)
                        break;

                char *e = strndup(s, n);

                if (!e)
                        return -ENOMEM;
                r = strv_push(&l, e);
                if (r < 0)
                        return r;
                s += n;
        }

        *ret = TAKE_PTR(l);
        return 0;
}
