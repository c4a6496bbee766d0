/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/fs-util.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/parse-util.h"
#include "daemon/instance.h"
#include "daemon/persist.h"

DEFINE_CLEANUP(DIR *, closedir);

static int definition_dir(const char *state_dir, unsigned number, char **ret) {
        return asprintf(ret, "%s/instances/%u", state_dir, number) < 0 ? -ENOMEM : 0;
}

static int definition_path(const char *state_dir, unsigned number, char **ret) {
        return asprintf(ret, "%s/instances/%u/definition.json", state_dir, number) < 0 ? -ENOMEM : 0;
}

/* Root's directory, made here or made before by us: never one someone else put in its place. */
static int definition_dir_make(const char *state_dir, unsigned number) {
        _cleanup_free_ char *parent = NULL, *dir = NULL;
        struct stat st;
        int r;

        if (asprintf(&parent, "%s/instances", state_dir) < 0)
                return -ENOMEM;
        r = mkdir_p(parent, 0755);
        if (r < 0)
                return r;
        r = definition_dir(state_dir, number, &dir);
        if (r < 0)
                return r;
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        if (lstat(dir, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode) || st.st_uid != 0)
                return -EPERM;
        return 0;
}

int persist_save(const char *state_dir, Instance *i) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        StateRecord rec = instance_record(i, false);
        int r;

        r = definition_dir_make(state_dir, i->number);
        if (r >= 0)
                r = definition_path(state_dir, i->number, &path);
        if (r >= 0)
                r = state_format(&rec, 1, &text);
        if (r >= 0)
                r = write_file_atomic(path, text, 0644);
        if (r < 0)
                return log_error_errno(
                                r,
                                "Instance %u (uid %u): cannot write its definition under %s/instances: %m. "
                                "It will not come back after a reboot.",
                                i->number,
                                (unsigned) i->owner,
                                state_dir);
        return 0;
}

static int disk_dir(const char *state_dir, unsigned number, char **ret) {
        return asprintf(ret, "%s/instances/%u/disk", state_dir, number) < 0 ? -ENOMEM : 0;
}

int persist_disk_dir(const char *state_dir, unsigned number, uid_t owner, gid_t gid, char **ret) {
        _cleanup_free_ char *dir = NULL;
        struct stat st;
        int r;

        r = definition_dir_make(state_dir, number);
        if (r >= 0)
                r = disk_dir(state_dir, number, &dir);
        if (r < 0)
                return r;
        if (mkdir(dir, 0700) >= 0) {
                if (lchown(dir, owner, gid) < 0)
                        return -errno;
        } else if (errno != EEXIST)
                return -errno;
        if (lstat(dir, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode) || st.st_uid != owner)
                return -EPERM;
        *ret = TAKE_PTR(dir);
        return 0;
}

uint64_t persist_disk_usage(const char *state_dir, unsigned number) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        uint64_t sum = 0;
        struct stat st;

        int fd;

        if (disk_dir(state_dir, number, &dir) < 0)
                return 0;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return 0;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return 0;
        }
        while ((de = readdir(d)))
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISREG(st.st_mode))
                        sum += (uint64_t) st.st_blocks * 512;
        return sum;
}

int persist_reset_disk(const char *state_dir, unsigned number) {
        _cleanup_free_ char *dir = NULL;
        int r;

        r = disk_dir(state_dir, number, &dir);
        if (r < 0)
                return r;
        r = rm_rf(dir);
        return r == -ENOENT ? 0 : r;
}

void persist_remove(const char *state_dir, unsigned number) {
        _cleanup_free_ char *path = NULL, *dir = NULL;
        int r;

        if (definition_path(state_dir, number, &path) < 0 || definition_dir(state_dir, number, &dir) < 0)
                return;
        r = persist_reset_disk(state_dir, number);
        if (r < 0)
                log_warning_errno(r, "Failed to remove the overlays of instance %u: %m", number);
        if (unlink(path) < 0 && errno != ENOENT)
                log_warning_errno(-errno, "Failed to remove %s: %m", path);
        if (rmdir(dir) < 0 && errno != ENOENT)
                log_warning_errno(-errno, "Failed to remove %s: %m", dir);
}

bool persist_exists(const char *state_dir, unsigned number) {
        _cleanup_free_ char *path = NULL;
        struct stat st;

        return definition_path(state_dir, number, &path) >= 0 && lstat(path, &st) >= 0;
}

int persist_load(const char *state_dir, unsigned number, StateRecord *ret, char **ret_error) {
        _cleanup_free_ char *path = NULL, *text = NULL, *error = NULL;
        _cleanup_close_ int fd = -EBADF;
        StateRecord *records = NULL;
        struct stat st;
        size_t n = 0;
        int r;

        r = definition_path(state_dir, number, &path);
        if (r < 0)
                return r;
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0 && errno == ENOENT)
                return -ENOENT;
        if (fd < 0 || fstat(fd, &st) < 0) {
                r = -errno;
                (void) asprintf(ret_error, "cannot open it: %s", strerror(-r));
                return r;
        }
        /* Ours: root's regular file with one link, nothing an owner could have made. */
        if (!S_ISREG(st.st_mode) || st.st_uid != 0 || st.st_nlink != 1) {
                (void) asprintf(ret_error,
                                "it is not a file the daemon wrote (owner %u, mode %o)",
                                st.st_uid,
                                st.st_mode);
                return -EPERM;
        }
        r = read_full_file(path, &text, NULL);
        if (r < 0) {
                (void) asprintf(ret_error, "cannot read it: %s", strerror(-r));
                return r;
        }
        r = state_parse(text, &records, &n, &error);
        if (r == -ENOMEM)
                return r;
        if (r != 0 || n != 1 || records[0].number != number) {
                if (r != 0)
                        (void) asprintf(ret_error, "%s", strempty(error));
                else
                        (void) asprintf(ret_error,
                                        "it holds %zu records, not instance %u's alone",
                                        n,
                                        number);
                state_records_free(records, n);
                return -EINVAL;
        }
        *ret = records[0];
        free(records);
        return 0;
}

int persist_keep_bad(const char *state_dir, unsigned number, char **ret_aside) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = definition_path(state_dir, number, &path);
        if (r < 0)
                return r;
        return state_keep_bad(path, ret_aside);
}

int persist_scan(const char *state_dir, bool numbers[], unsigned max) {
        _cleanup_free_ char *parent = NULL;
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;

        if (asprintf(&parent, "%s/instances", state_dir) < 0)
                return -ENOMEM;
        d = opendir(parent);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                uint32_t n;

                if (parse_uint32(de->d_name, &n) >= 0 && n >= 1 && n <= max)
                        numbers[n] = true;
        }
        return 0;
}
