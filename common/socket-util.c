/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/socket-util.h"

static int sockaddr_un_set(struct sockaddr_un *sa, const char *path, socklen_t *ret_len) {
        size_t n = path ? strlen(path) : 0;

        if (n == 0)
                return -EINVAL;
        if (n >= sizeof(sa->sun_path))
                return -ENAMETOOLONG;
        *sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
        memcpy(sa->sun_path, path, n);
        *ret_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n + 1);
        return 0;
}

/* setfsuid()/setfsgid() report the old value, not success: ask again. */
static int fs_ids_set(uid_t uid, gid_t gid) {
        (void) setfsgid(gid);
        (void) setfsuid(uid);
        if ((uid_t) setfsuid((uid_t) -1) != uid || (gid_t) setfsgid((gid_t) -1) != gid)
                return -EPERM;
        return 0;
}

int unix_socket_bind_as(const char *path, int type, uid_t uid, gid_t gid, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        uid_t old_uid = (uid_t) setfsuid((uid_t) -1);
        gid_t old_gid = (gid_t) setfsgid((gid_t) -1);
        struct sockaddr_un sa;
        socklen_t len;
        mode_t mask;
        int r;

        r = sockaddr_un_set(&sa, path, &len);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        /* With a non-root fsuid the kernel takes the file capabilities away too: the directory's
         * own permissions decide, as for the user. */
        r = fs_ids_set(uid, gid);
        if (r >= 0) {
                mask = umask(0177);
                r = bind(fd, (struct sockaddr *) &sa, len) < 0 ? -errno : 0;
                (void) umask(mask);
        }
        (void) setfsuid(old_uid);
        (void) setfsgid(old_gid);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int unix_socket_connect_nofollow(const char *path, int type, uid_t uid, int *ret_fd) {
        _cleanup_close_ int inode = -EBADF, fd = -EBADF;
        struct sockaddr_un sa;
        struct stat st;
        socklen_t len;
        char proc[64];
        int r;

        r = sockaddr_un_set(&sa, path, &len); /* (only its length is checked) */
        if (r < 0)
                return r;
        inode = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (inode < 0)
                return -errno;
        if (fstat(inode, &st) < 0)
                return -errno;
        if (S_ISLNK(st.st_mode))
                return -ELOOP;
        if (!S_ISSOCK(st.st_mode))
                return -ENOTSOCK;
        if (uid != (uid_t) -1 && st.st_uid != uid)
                return -EPERM;
        /* connect() follows a path; this one leads to the inode just checked and nowhere else. */
        (void) snprintf(proc, sizeof(proc), "/proc/self/fd/%i", inode);
        r = sockaddr_un_set(&sa, proc, &len);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, len) < 0 && errno != EINPROGRESS)
                return -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int unix_socket_peer_pid(int fd, pid_t *ret) {
        struct ucred cred;
        socklen_t len = sizeof(cred);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return -errno;
        *ret = cred.pid;
        return 0;
}
