/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <sys/ioctl.h>

#include "common/macro.h"
#include "netsetup/tap.h"

int tap_open(const char *name, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };

        fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        (void) snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
        /* TUNSETIFF on a name that does not exist would create a new, non-persistent tap: check. */
        if (if_nametoindex(name) == 0)
                return -ENODEV;
        if (ioctl(fd, TUNSETIFF, &ifr) < 0)
                return -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int tap_set_owner(int fd, uid_t uid, gid_t group) {
        if (ioctl(fd, TUNSETOWNER, (unsigned long) uid) < 0)
                return -errno;
        if (ioctl(fd, TUNSETGROUP, (unsigned long) group) < 0)
                return -errno;
        return 0;
}

int tap_reset_owner(const char *name, gid_t group) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = tap_open(name, &fd);
        if (r < 0)
                return r;
        return tap_set_owner(fd, 0, group == (gid_t) -1 ? 0 : group);
}
