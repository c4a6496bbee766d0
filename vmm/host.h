/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What this host offers a VMM: device nodes, backends, container. Cheap checks only (no process
 * is started): the KVM probe that needs QEMU lives in kvm.h. */

struct json_object;

/* Fills o with: kernel, kvm {present, accessible}, vhost_vsock, vhost_net, tun, backends
 * {qemu, crosvm, launch_cvd: path or null}, container (docker, podman, systemd-nspawn, lxc, wsl,
 * or null). */
int host_describe(struct json_object *o);
