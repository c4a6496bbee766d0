/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/spec.h"
#include "common/macro.h"
#include "common/string-table.h"
#include "common/strv.h"

static const char *const backend_table[_BACKEND_MAX] = {
        [BACKEND_QEMU] = "qemu",
        [BACKEND_CROSVM] = "crosvm",
        [BACKEND_CVD] = "cvd",
};

static const char *const restart_policy_table[_RESTART_MAX] = {
        [RESTART_NO] = "no",
        [RESTART_ON_FAILURE] = "on-failure",
        [RESTART_ALWAYS] = "always",
};

DEFINE_STRING_TABLE_LOOKUP(backend, Backend);
DEFINE_STRING_TABLE_LOOKUP(restart_policy, RestartPolicy);

void instance_spec_init(InstanceSpec *s, Backend default_backend) {
        *s = (InstanceSpec){
                .backend = default_backend,
                .cpus = 2,
                .memory_mb = 1024,
                .restart = RESTART_NO,
                .start = true,
        };
}

void instance_spec_done(InstanceSpec *s) {
        free(s->kernel);
        free(s->initrd);
        free(s->cmdline);
        strv_free(s->disks);
        strv_free(s->images);
        free(s->gpu_mode);
        free(s->boot_marker);
        strv_free(s->extra_args);
        free(s->bios);
        free(s->host_package);
        free(s->images_dir);
        *s = (InstanceSpec){};
}

_printf_(2, 3) static int spec_error(char **ret_error, const char *fmt, ...) {
        va_list ap;

        if (ret_error) {
                va_start(ap, fmt);
                if (vasprintf(ret_error, fmt, ap) < 0)
                        *ret_error = NULL;
                va_end(ap);
        }
        return -EINVAL;
}

static int check_string(const char *field, const char *v, bool path, char **ret_error) {
        if (!v)
                return 0;
        if (strlen(v) > SPEC_STRING_MAX)
                return spec_error(ret_error, "%s is longer than %u bytes", field, SPEC_STRING_MAX);
        if (path && v[0] != '/')
                return spec_error(ret_error, "%s is not an absolute path", field);
        return 0;
}

static int check_list(const char *field, char *const *l, bool path, char **ret_error) {
        size_t n = 0;

        for (char *const *p = l; p && *p; p++, n++) {
                int r = check_string(field, *p, path, ret_error);
                if (r < 0)
                        return r;
        }
        if (n > SPEC_LIST_MAX)
                return spec_error(ret_error, "%s has more than %u entries", field, SPEC_LIST_MAX);
        return 0;
}

int instance_spec_check(const InstanceSpec *s, char **ret_error) {
        int r;

        if (s->backend < 0 || s->backend >= _BACKEND_MAX)
                return spec_error(ret_error, "unknown backend");
        if (s->restart < 0 || s->restart >= _RESTART_MAX)
                return spec_error(ret_error, "unknown restart policy");
        if (s->cpus < 1 || s->cpus > SPEC_CPUS_MAX)
                return spec_error(ret_error, "cpus %u is outside 1..%u", s->cpus, SPEC_CPUS_MAX);
        if (s->memory_mb < SPEC_MEMORY_MB_MIN || s->memory_mb > SPEC_MEMORY_MB_MAX)
                return spec_error(
                                ret_error,
                                "memory_mb %u is outside %u..%u",
                                s->memory_mb,
                                SPEC_MEMORY_MB_MIN,
                                SPEC_MEMORY_MB_MAX);
        if (s->boot_timeout_sec > SPEC_BOOT_TIMEOUT_MAX)
                return spec_error(
                                ret_error,
                                "boot_timeout_sec %u is above %u",
                                s->boot_timeout_sec,
                                SPEC_BOOT_TIMEOUT_MAX);
        if (s->stop_timeout_sec > SPEC_STOP_TIMEOUT_MAX)
                return spec_error(
                                ret_error,
                                "stop_timeout_sec %u is above %u",
                                s->stop_timeout_sec,
                                SPEC_STOP_TIMEOUT_MAX);
        if ((r = check_string("kernel", s->kernel, true, ret_error)) < 0 ||
            (r = check_string("initrd", s->initrd, true, ret_error)) < 0 ||
            (r = check_string("bios", s->bios, true, ret_error)) < 0 ||
            (r = check_string("host_package", s->host_package, true, ret_error)) < 0 ||
            (r = check_string("images_dir", s->images_dir, true, ret_error)) < 0 ||
            (r = check_string("cmdline", s->cmdline, false, ret_error)) < 0 ||
            (r = check_string("boot_marker", s->boot_marker, false, ret_error)) < 0 ||
            (r = check_string("gpu_mode", s->gpu_mode, false, ret_error)) < 0 ||
            (r = check_list("disks", s->disks, true, ret_error)) < 0 ||
            (r = check_list("images", s->images, true, ret_error)) < 0 ||
            (r = check_list("extra_args", s->extra_args, false, ret_error)) < 0)
                return r;
        return 0;
}
