/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* 1: QEMU runs with -accel kvm -cpu host here; 0: it does not (why in reason); <0: error.
 * Takes up to about 0.7 s: call once and keep the answer. */
int kvm_probe(const char *qemu, char *reason, size_t reason_size);
