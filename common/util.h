/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

/* Checked number parsing: decimal only, no sign, no trailing garbage. */
int parse_uint32(const char *s, uint32_t *ret);
int parse_boolean(const char *s);

/* NULL-terminated string vectors. */
char **strv_free(char **l);
DEFINE_CLEANUP(char **, strv_free);
size_t strv_length(char *const *l);
int strv_push(char ***l, char *value); /* takes ownership of value, also on failure */
int strv_split(const char *s, const char *separators, char ***ret);
#define STRV_FOREACH(s, l) for (char **s = (l); s && *s; s++)

char *strstrip(char *s);
/* A copy with every byte outside printable ASCII written as \xNN: safe for D-Bus (valid UTF-8)
 * and the journal whatever the input. Takes ownership of s; NULL on OOM (s is freed). */
char *escape_nonprintable(char *s);
bool ifname_valid(const char *name);

/* Files. Every fd is O_CLOEXEC. */
int read_full_file(const char *path, char **ret_contents, size_t *ret_size);
int write_file_atomic(const char *path, const char *contents, mode_t mode);
int write_string_file(const char *path, const char *contents);
/* Closes every fd from first up (a forked child that does not exec keeps nothing of its parent:
 * the bus, the runtime dir's lock). */
int close_from(int first);
/* All of buf, across short writes and EINTR. */
int write_all(int fd, const void *buf, size_t n);
int read_one_line_file(const char *path, char **ret);
int mkdir_p(const char *path, mode_t mode);
char *path_join(const char *a, const char *b);

/* Milliseconds/microseconds since CLOCK_MONOTONIC's epoch. */
uint64_t now_usec(int clock);
#define USEC_PER_SEC UINT64_C(1000000)
#define USEC_PER_MSEC UINT64_C(1000)

/* Waits up to timeout_msec for pid to exit (through a pidfd; does not reap). 0 once it is gone,
 * -ETIMEDOUT if it still runs. */
int wait_pid_exit(pid_t pid, int timeout_msec);
/* Removes path and everything under it, safe in a tree someone else controls and builds while we
 * remove it. An iterative walk through directory fds: no depth limit, O(1) fds open, linear in the
 * number of entries however deep or wide the tree.
 *  - Never follows a symlink. One below path is unlinked as an entry; if path itself is a symlink
 *    (also when written "link/"), the symlink is unlinked and its target left alone. A path that
 *    is not a directory is unlinked.
 *  - Never crosses a mount: a directory below path on another mount than path (another st_dev,
 *    or another mount id from statx() where the kernel has STATX_MNT_ID, so bind mounts count; on
 *    an older kernel only st_dev) is neither entered nor removed, and counts as -EBUSY.
 *  - When the walk goes back up, ".." must be the directory it came down from; if the tree was
 *    moved meanwhile, it stops there with -ESTALE.
 * Whatever can be removed is; a directory with something left in it stays. 0 when all is gone
 * (also when path did not exist); otherwise the first error, or the one that stopped the walk
 * (-ESTALE, -ENOMEM). The components before the last one are followed as usual. -EINVAL for "",
 * "/", "." and "..". Memory: about 150 bytes per level of depth, plus per level the names of the
 * subdirectories still to enter from one 64 KiB getdents batch. */
int rm_rf(const char *path);
/* The same, path relative to dirfd (or AT_FDCWD). */
int rm_rf_at(int dirfd, const char *path);
/* What rm_rf() compares to recognise a directory and its mount. */
typedef struct FileId {
        dev_t dev;
        ino_t ino;
        uint64_t mnt_id;
        bool has_mnt_id; /* statx() gave STATX_MNT_ID (Linux >= 5.8) */
} FileId;
int file_id_from_fd(int fd, FileId *ret);
/* Same st_dev, and the same mount id if both are known. */
bool file_id_same_mount(const FileId *a, const FileId *b);
/* The same inode on the same mount. */
bool file_id_equal(const FileId *a, const FileId *b);
/* Reads from fd until EOF, size - 1 bytes, the first newline (stop_at_newline) or timeout_msec,
 * whichever comes first; buf is NUL-terminated. Returns the bytes read, or -ETIMEDOUT when time
 * ran out first (buf still holds what came). For a child's pipe. */
ssize_t read_bounded(int fd, char *buf, size_t size, int timeout_msec, bool stop_at_newline);

/* Reads field 22 of /proc/PID/stat: the start time in clock ticks after boot. */
int pid_get_starttime(pid_t pid, uint64_t *ret);
