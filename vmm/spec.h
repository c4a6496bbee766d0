/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What a caller asked for in CreateInstance(a{sv}), validated. Pure data: no I/O, no D-Bus. */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum Backend {
        BACKEND_QEMU,
        BACKEND_CROSVM,
        BACKEND_CVD,
        _BACKEND_MAX,
        _BACKEND_INVALID = -EINVAL,
} Backend;

typedef enum RestartPolicy {
        RESTART_NO,
        RESTART_ON_FAILURE,
        RESTART_ALWAYS,
        _RESTART_MAX,
        _RESTART_INVALID = -EINVAL,
} RestartPolicy;

#define SPEC_CPUS_MAX 64
#define SPEC_MEMORY_MB_MIN 64
#define SPEC_MEMORY_MB_MAX (1024 * 1024)
#define SPEC_BOOT_TIMEOUT_MAX (24 * 3600)
#define SPEC_LIST_MAX 32     /* disks, extra_args */
#define SPEC_STRING_MAX 4096 /* any one string */

typedef struct InstanceSpec {
        Backend backend;
        unsigned number;    /* 0: lowest free slot */
        unsigned cpus;      /* default 2 */
        unsigned memory_mb; /* default 1024 */
        char *kernel;       /* absolute paths, opened by the VMM as the caller */
        char *initrd;
        char *cmdline;
        char **disks;
        char **images; /* read-only bases: the VMM boots from a qcow2 overlay of each, its own */
        char *gpu_mode;
        RestartPolicy restart;
        char *boot_marker;         /* console text that means "booted"; NULL: booted when running */
        unsigned boot_timeout_sec; /* 0: none */
        char **extra_args;
        char *bios; /* firmware (crosvm --bios, QEMU -bios), opened by the VMM as the caller */
        bool crosvm_disable_sandbox; /* crosvm --disable-sandbox: no per-device minijail */
        char *host_package;
        char *images_dir;
        bool start;                /* default true */
        bool autostart;            /* started again by the daemon at its start (after a reboot) */
        unsigned stop_timeout_sec; /* Stop(): seconds for the guest to power off before QEMU quits; 0: 10 */
} InstanceSpec;

const char *backend_to_string(Backend b);
Backend backend_from_string(const char *s);
const char *restart_policy_to_string(RestartPolicy p);
RestartPolicy restart_policy_from_string(const char *s);

#define SPEC_STOP_TIMEOUT_MAX 3600

void instance_spec_init(InstanceSpec *s, Backend default_backend);
/* Every limit above, on a spec from anywhere (state.json, say): a valid backend and restart
 * policy, numbers in range, strings and lists within their bounds, paths absolute. On failure,
 * -EINVAL and *ret_error names the field (ret_error may be NULL). */
int instance_spec_check(const InstanceSpec *s, char **ret_error);
void instance_spec_done(InstanceSpec *s);
