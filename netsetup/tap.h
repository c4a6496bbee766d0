/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Attaching to the service's persistent taps to hand them to a VMM as file descriptors. */

#include <sys/types.h>

/* Attaches to persistent tap name. -EBUSY: another process (a VMM, a launch_cvd run by hand)
 * holds it; -ENODEV: it does not exist. Returns an O_CLOEXEC fd. */
int tap_open(const char *name, int *ret_fd);
/* Who may attach besides root: uid (or (uid_t) -1) and group (or (gid_t) -1). */
int tap_set_owner(int fd, uid_t uid, gid_t group);
/* Restores ownership on an unattached persistent tap. -EBUSY if someone holds it. */
int tap_reset_owner(const char *name, gid_t group);
