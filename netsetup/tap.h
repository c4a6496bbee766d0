/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Attaching to the service's persistent taps to hand them to a VMM as file descriptors. */

#include <sys/types.h>

/* Attaches to persistent tap name. -EBUSY: another process (a VMM, a launch_cvd run by hand)
 * holds it; -ENODEV: it does not exist. Returns an O_CLOEXEC fd. */
int tap_open(const char *name, int *ret_fd);
/* Who may attach besides root: uid and members of group. The kernel cannot unset either, so
 * "nobody else" is uid 0 / gid 0. */
int tap_set_owner(int fd, uid_t uid, gid_t group);
/* Back to the pool: owner root, group (the service's tap group; (gid_t) -1: root). -EBUSY if
 * someone holds it. */
int tap_reset_owner(const char *name, gid_t group);
