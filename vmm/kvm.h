/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* 1: QEMU runs with -accel kvm -cpu host here; 0: it does not (why in reason); <0: error.
 * Takes up to about 2 s (a few hundred ms where KVM works): call once and keep the answer. */
int kvm_probe(const char *qemu, char *reason, size_t reason_size);

/* Whether a process with these credentials may open /dev/kvm read-write (its owner, group and
 * mode bits; ACLs are not consulted). The probe runs as root, the VMM as its owner: a user outside
 * the kvm group gets TCG, not a QEMU that exits at start. */
bool kvm_device_accessible(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups);
