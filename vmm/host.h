/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What this host offers a VMM. host_describe() is cheap (file checks, no process started) and
 * may run in the event loop; host_probe_run() starts programs (each VMM's --version, the KVM and
 * virgl probes) and is for the daemon's host-probe worker process only. */

#include <stddef.h>

struct json_object;

#define HOST_VERSION_TIMEOUT_MSEC 2000
#define HOST_VERSION_OUTPUT_MAX 4096
/* Where a Cuttlefish host package (cuttlefish-base) puts launch_cvd. */

/* Fills o with: kernel, kvm {present, accessible}, vhost_vsock, vhost_net, tun, backends
 * {qemu, crosvm, launch_cvd: {path, version: null} or null}, container (see host_detect_container). */
int host_describe(struct json_object *o);

/* The container the process runs in: "docker" (/.dockerenv), "podman" (/run/.containerenv),
 * the name in /run/systemd/container ("systemd-nspawn", "lxc", ...), the container= variable in
 * PID 1's environment, "wsl"; NULL for none. Returns a static string or one in buf. */
const char *host_detect_container(char *buf, size_t size);

/* The first line the program prints for argv (e.g. {"qemu-system-x86_64", "--version"}), run in
 * a child with stdin on /dev/null, its output read up to HOST_VERSION_OUTPUT_MAX bytes and
 * killed after timeout_msec. -ETIMEDOUT, -ENODATA (no output), or <0. */
int host_program_version(char *const argv[], int timeout_msec, char **ret);

/* The slow part, run once per daemon start and Reload in a worker: {"backends": {as
 * host_describe, with "version" filled}, "gpu_modes": [gpu_probe_to_json], "kvm": {"usable": b,
 * "reason": s}}. */
int host_probe_run(struct json_object **ret);
