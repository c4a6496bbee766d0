/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "spec.h"
#include "util.h"

static const char *const backend_table[_BACKEND_MAX] = {
        [BACKEND_QEMU] = "qemu",
        [BACKEND_CROSVM] = "crosvm",
        [BACKEND_CVD] = "cvd",
};

static const char *const restart_table[_RESTART_MAX] = {
        [RESTART_NO] = "no",
        [RESTART_ON_FAILURE] = "on-failure",
        [RESTART_ALWAYS] = "always",
};

const char *backend_to_string(Backend b) {
        if (b < 0 || b >= _BACKEND_MAX)
                return NULL;
        return backend_table[b];
}

Backend backend_from_string(const char *s) {
        for (Backend b = 0; b < _BACKEND_MAX; b++)
                if (streq_ptr(s, backend_table[b]))
                        return b;
        return _BACKEND_INVALID;
}

const char *restart_policy_to_string(RestartPolicy p) {
        if (p < 0 || p >= _RESTART_MAX)
                return NULL;
        return restart_table[p];
}

RestartPolicy restart_policy_from_string(const char *s) {
        for (RestartPolicy p = 0; p < _RESTART_MAX; p++)
                if (streq_ptr(s, restart_table[p]))
                        return p;
        return _RESTART_INVALID;
}

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
        free(s->gpu_mode);
        free(s->boot_marker);
        strv_free(s->extra_args);
        free(s->bios);
        free(s->host_package);
        free(s->images_dir);
        *s = (InstanceSpec){};
}
