/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* AF_UNIX sockets in directories another user controls: made with that user's file-system
 * identity, and connected to without following what they could have put in their place. */

#include <sys/types.h>

/* A new socket of type (SOCK_STREAM, SOCK_SEQPACKET), close-on-exec, bound at path with the
 * file-system identity uid:gid: the file is theirs (mode 0600) and is made with their rights
 * alone, as if they had made it; an existing path (a symlink among them) fails with -EADDRINUSE.
 * Not listening yet: whoever calls listen() is the peer clients see (SO_PEERCRED). */
int unix_socket_bind_as(const char *path, int type, uid_t uid, gid_t gid, int *ret_fd);

/* A non-blocking socket of type connected to the socket file at path. The last component is
 * never followed: it must be a socket owned by uid (or any owner, uid = (uid_t) -1), or
 * -ELOOP/-ENOTSOCK/-EPERM. -ENOENT: nothing there; -ECONNREFUSED: nobody listens. */
int unix_socket_connect_nofollow(const char *path, int type, uid_t uid, int *ret_fd);

/* The pid that called listen() on the socket fd is connected to (SO_PEERCRED). */
int unix_socket_peer_pid(int fd, pid_t *ret);
