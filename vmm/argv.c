/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/argv.h"
#include "common/fs-util.h"
#include "common/macro.h"
#include "common/strv.h"

int argv_add(char ***l, const char *s) {
        char *c = strdup(s);

        if (!c)
                return -ENOMEM;
        return strv_push(l, c);
}

int argv_addf(char ***l, const char *fmt, ...) {
        va_list ap;
        char *c;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&c, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return strv_push(l, c);
}

int argv_add_many(char ***l, ...) {
        va_list ap;
        int r = 0;

        va_start(ap, l);
        for (const char *s = va_arg(ap, const char *); s && r >= 0; s = va_arg(ap, const char *))
                r = argv_add(l, s);
        va_end(ap);
        return r;
}

bool is_executable_file(const char *path) {
        struct stat st;

        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
                return false;
        return access(path, X_OK) == 0;
}

int find_in_path(const char *name, char **ret) {
        const char *path = getenv("PATH");
        _cleanup_(strv_freep) char **dirs = NULL;
        int r;

        r = strv_split(path ?: "", ":", &dirs);
        if (r < 0)
                return r;
        r = argv_add(&dirs, "/usr/bin");
        if (r >= 0)
                r = argv_add(&dirs, "/usr/local/bin");
        if (r < 0)
                return r;

        STRV_FOREACH (d, dirs) {
                _cleanup_free_ char *p = NULL;

                if ((*d)[0] != '/')
                        continue;

                p = path_join(*d, name);
                if (!p)
                        return -ENOMEM;
                if (is_executable_file(p)) {
                        *ret = TAKE_PTR(p);
                        return 0;
                }
        }
        return -ENOENT;
}

int find_program(const char *env_name, const char *name, char **ret) {
        const char *e = env_name ? getenv(env_name) : NULL;
        char *p;

        if (!ret)
                return -EINVAL;
        if (!e || !e[0])
                return find_in_path(name, ret);
        if (!strchr(e, '/'))
                return find_in_path(e, ret);
        if (!is_executable_file(e))
                return -ENOENT;
        p = strdup(e);
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

bool argv_path_ok(const char *p) {
        return p && p[0] == '/' && strlen(p) < SPEC_STRING_MAX;
}

bool argv_mac_ok(const char *m) {
        if (!m || strlen(m) != 17)
                return false;
        for (size_t i = 0; i < 17; i++)
                if (i % 3 == 2 ? m[i] != ':' : !isxdigit((unsigned char) m[i]))
                        return false;
        return true;
}

int argv_check_vm(const InstanceSpec *spec, unsigned n_nics, unsigned nics_max, const char *const *macs) {
        if (n_nics > nics_max)
                return -EINVAL;
        for (unsigned i = 0; i < n_nics; i++)
                if (!argv_mac_ok(macs[i]))
                        return -EINVAL;
        if (spec->cpus == 0 || spec->memory_mb == 0)
                return -EINVAL;
        if ((spec->kernel && !argv_path_ok(spec->kernel)) || (spec->initrd && !argv_path_ok(spec->initrd)) ||
            (spec->bios && !argv_path_ok(spec->bios)))
                return -EINVAL;
        return 0;
}
