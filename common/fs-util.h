/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

int mkdir_p(const char *path, mode_t mode);
char *path_join(const char *a, const char *b);
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
