/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/vhost.h>

#include "common/fileio.h"
#include "common/macro.h"
#include "common/parse-util.h"
#include "vmm/vhost.h"

#define USERS_MAX 8

bool vhost_vsock_cid_valid(unsigned cid) {
        return cid >= 3 && cid != UINT32_MAX;
}

static int open_device(const char *device, int *ret_fd) {
        struct stat st;
        int fd;

        fd = open(device, O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode)) {
                safe_close(fd);
                return -ENODEV;
        }
        *ret_fd = fd;
        return 0;
}

int vhost_vsock_open(const char *device, unsigned cid, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        uint64_t c = cid;
        int r;

        if (!ret_fd || (cid > 0 && !vhost_vsock_cid_valid(cid)))
                return -EINVAL;
        r = open_device(device ?: VHOST_VSOCK_DEVICE, &fd);
        if (r < 0)
                return r;
        if (cid > 0 && ioctl(fd, VHOST_VSOCK_SET_GUEST_CID, &c) < 0)
                return -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int vhost_net_open(const char *device, int *ret_fd) {
        if (!ret_fd)
                return -EINVAL;
        return open_device(device ?: VHOST_NET_DEVICE, ret_fd);
}

int vhost_device_users(const char *device, char **ret) {
        _cleanup_free_ char *out = NULL;
        DIR *proc;
        struct stat dev;
        struct dirent *de;
        unsigned n = 0;

        if (!device || !ret)
                return -EINVAL;
        if (stat(device, &dev) < 0)
                return -errno;
        out = strdup("");
        proc = opendir("/proc");
        if (!out || !proc) {
                if (proc)
                        closedir(proc);
                return -ENOMEM;
        }
        while ((de = readdir(proc)) && n < USERS_MAX) {
                char path[64], comm[64] = "?";
                _cleanup_free_ char *c = NULL;
                uint32_t pid;
                DIR *fds;
                struct dirent *fe;
                bool found = false;

                if (parse_uint32(de->d_name, &pid) < 0)
                        continue;
                (void) snprintf(path, sizeof(path), "/proc/%u/fd", pid);
                fds = opendir(path);
                if (!fds)
                        continue;
                while (!found && (fe = readdir(fds))) {
                        char link[PATH_MAX];
                        struct stat st;

                        (void) snprintf(link, sizeof(link), "/proc/%u/fd/%s", pid, fe->d_name);
                        found = stat(link, &st) >= 0 && S_ISCHR(st.st_mode) && st.st_rdev == dev.st_rdev;
                }
                closedir(fds);
                if (!found)
                        continue;
                (void) snprintf(path, sizeof(path), "/proc/%u/comm", pid);
                if (read_one_line_file(path, &c) >= 0)
                        (void) snprintf(comm, sizeof(comm), "%s", c);
                char *joined;
                if (asprintf(&joined, "%s%spid %u (%s)", out, n > 0 ? ", " : "", pid, comm) < 0) {
                        closedir(proc);
                        return -ENOMEM;
                }
                free(out);
                out = joined;
                n++;
        }
        closedir(proc);
        *ret = TAKE_PTR(out);
        return 0;
}
