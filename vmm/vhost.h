/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Brokering /dev/vhost-vsock and /dev/vhost-net: the daemon opens them and hands the fds to the
 * VMM (REFERENCE.md §10 "Broker fds, not names"). A vsock CID claimed with
 * VHOST_VSOCK_SET_GUEST_CID stays reserved exactly as long as that fd is open. */

#include <stdbool.h>

#define VHOST_VSOCK_DEVICE "/dev/vhost-vsock"
#define VHOST_NET_DEVICE "/dev/vhost-net"

/* 0-2 are the hypervisor, local and host; U32_MAX is VMADDR_CID_ANY. */
bool vhost_vsock_cid_valid(unsigned cid);

/* Opens device (NULL: /dev/vhost-vsock); cid > 0 claims it on the fd. -ENOENT: no such device;
 * -EADDRINUSE: another open vhost-vsock fd holds the CID; -EINVAL: not a valid CID. */
int vhost_vsock_open(const char *device, unsigned cid, int *ret_fd);

/* Opens device (NULL: /dev/vhost-net). -ENOENT: no such device. */
int vhost_net_open(const char *device, int *ret_fd);

/* "pid 123 (crosvm), pid 456 (qemu-system-x86)": who has device open, for an error message.
 * Empty when nobody visible does. */
int vhost_device_users(const char *device, char **ret);
