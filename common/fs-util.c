/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/fs-util.h"
#include "common/macro.h"

int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

char *path_join(const char *a, const char *b) {
        char *p;

        if (asprintf(&p, "%s/%s", a, b) < 0)
                return NULL;
        return p;
}

/* rm_rf(): an iterative walk that holds one directory fd (the level it is reading), with the
 * ancestors' identities and names on a heap stack, so neither the depth nor the width of a tree
 * someone else built can exhaust fds or the C stack. */

#define RM_RF_BUF_SIZE (64 * 1024)

/* Names of the entries of one directory that could not be removed, so that later passes over it
 * skip them instead of failing on them again: an open-addressing hash set. */
typedef struct NameSet {
        char **slots;
        size_t n, size; /* size is 0 or a power of two */
} NameSet;

static char **name_set_slot(const NameSet *s, const char *name) {
        uint64_t h = UINT64_C(14695981039346656037); /* FNV-1a */
        size_t i;

        for (const char *c = name; *c; c++)
                h = (h ^ (unsigned char) *c) * UINT64_C(1099511628211);
        for (i = (size_t) h & (s->size - 1); s->slots[i] && !streq(s->slots[i], name);
             i = (i + 1) & (s->size - 1))
                ;
        return &s->slots[i];
}

static bool name_set_contains(const NameSet *s, const char *name) {
        return s->n > 0 && *name_set_slot(s, name);
}

static int name_set_put(NameSet *s, const char *name) {
        char **slot;

        if (2 * (s->n + 1) > s->size) {
                NameSet g = { .n = s->n, .size = MAX(2 * s->size, (size_t) 16) };

                g.slots = calloc(g.size, sizeof(char *));
                if (!g.slots)
                        return -ENOMEM;
                for (size_t i = 0; i < s->size; i++)
                        if (s->slots[i])
                                *name_set_slot(&g, s->slots[i]) = s->slots[i];
                free(s->slots);
                *s = g;
        }
        slot = name_set_slot(s, name);
        if (*slot)
                return 0;
        *slot = strdup(name);
        if (!*slot)
                return -ENOMEM;
        s->n++;
        return 0;
}

static void name_set_done(NameSet *s) {
        for (size_t i = 0; i < s->size; i++)
                free(s->slots[i]);
        free(s->slots);
        *s = (NameSet){};
}

int file_id_from_fd(int fd, FileId *ret) {
        struct statx sx;
        struct stat st;

        if (statx(fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_INO | STATX_MNT_ID, &sx) >= 0 &&
            (sx.stx_mask & STATX_INO)) {
                *ret = (FileId){
                        .dev = makedev(sx.stx_dev_major, sx.stx_dev_minor),
                        .ino = (ino_t) sx.stx_ino,
                        .mnt_id = sx.stx_mnt_id,
                        .has_mnt_id = sx.stx_mask & STATX_MNT_ID,
                };
                return 0;
        }
        /* No statx() (ENOSYS, or a seccomp filter), or no inode number from it: st_dev only. */
        if (fstat(fd, &st) < 0)
                return -errno;
        *ret = (FileId){ .dev = st.st_dev, .ino = st.st_ino };
        return 0;
}

bool file_id_same_mount(const FileId *a, const FileId *b) {
        return a->dev == b->dev && (!a->has_mnt_id || !b->has_mnt_id || a->mnt_id == b->mnt_id);
}

bool file_id_equal(const FileId *a, const FileId *b) {
        return a->ino == b->ino && file_id_same_mount(a, b);
}

typedef struct RmRfLevel {
        FileId id;
        char *name;    /* in the parent; NULL for the top */
        off_t resume;  /* the getdents offset after the last batch */
        bool clean;    /* this pass over the directory started at 0 and went down into no child */
        bool failed;   /* something in it stays, so it stays too */
        NameSet skip;  /* its entries that could not be removed */
        char *pending; /* non-empty subdirectories from the last batch, each NUL-terminated */
        size_t pending_pos, pending_len;
} RmRfLevel;

typedef struct RmRf {
        RmRfLevel *levels; /* levels[0] is the top, levels[n_levels - 1] the directory fd is */
        size_t n_levels, n_allocated;
        int fd;
        int error; /* the first error */
        char *buf;
} RmRf;

static void rm_rf_level_done(RmRfLevel *l) {
        free(l->name);
        free(l->pending);
        name_set_done(&l->skip);
}

static void rm_rf_done(RmRf *w) {
        for (size_t i = 0; i < w->n_levels; i++)
                rm_rf_level_done(&w->levels[i]);
        free(w->levels);
        free(w->buf);
        w->fd = safe_close(w->fd);
}

static RmRfLevel *rm_rf_current(RmRf *w) {
        return &w->levels[w->n_levels - 1];
}

/* Records that name (or, if NULL, the directory as a whole) stays; 0 unless out of memory. */
static int rm_rf_fail(RmRf *w, RmRfLevel *l, const char *name, int error) {
        if (w->error == 0)
                w->error = error;
        l->failed = true;
        return name ? name_set_put(&l->skip, name) : 0;
}

static int rm_rf_push(RmRf *w, const char *name, const FileId *id) {
        RmRfLevel *l;

        if (w->n_levels == w->n_allocated) {
                size_t n = MAX(2 * w->n_allocated, (size_t) 16);

                l = reallocarray(w->levels, n, sizeof(RmRfLevel));
                if (!l)
                        return -ENOMEM;
                w->levels = l;
                w->n_allocated = n;
        }
        l = &w->levels[w->n_levels];
        *l = (RmRfLevel){ .id = *id, .clean = true };
        if (name) {
                l->name = strdup(name);
                if (!l->name)
                        return -ENOMEM;
        }
        w->n_levels++;
        return 0;
}

/* Enters the directory name: 1 if now in it, 0 if it was gone or stays. */
static int rm_rf_descend(RmRf *w, const char *name) {
        _cleanup_close_ int fd = -EBADF;
        FileId id;
        int r;

        fd = openat(w->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : rm_rf_fail(w, rm_rf_current(w), name, -errno);

        r = file_id_from_fd(fd, &id);
        if (r < 0)
                return rm_rf_fail(w, rm_rf_current(w), name, r);

        /* A mount point (or a bind mount): neither entered nor removed. -EBUSY, as rmdir() says. */
        if (!file_id_same_mount(&id, &w->levels[0].id))
                return rm_rf_fail(w, rm_rf_current(w), name, -EBUSY);

        r = rm_rf_push(w, name, &id);
        if (r < 0)
                return r;
        safe_close(w->fd);
        w->fd = TAKE_FD(fd);
        return 1;
}

/* Goes down into the next pending subdirectory: 1 if it did, 0 if none is left. */
static int rm_rf_descend_pending(RmRf *w) {
        size_t level = w->n_levels - 1;
        RmRfLevel *l = &w->levels[level];

        while (l->pending) {
                const char *name = l->pending + l->pending_pos;
                int r;

                l->pending_pos += strlen(name) + 1;
                r = rm_rf_descend(w, name);
                l = &w->levels[level]; /* levels may have moved */
                if (l->pending_pos >= l->pending_len) {
                        l->pending = mfree(l->pending);
                        l->pending_pos = l->pending_len = 0;
                }
                if (r > 0)
                        l->clean = false;
                if (r != 0)
                        return r;
        }
        return 0;
}

static int unlinkat_errno(int fd, const char *name, bool dir) {
        return unlinkat(fd, name, dir ? AT_REMOVEDIR : 0) < 0 ? -errno : 0;
}

/* One entry of the current directory: 1 if it is a directory to empty first, 0 if done with it. */
static int rm_rf_entry(RmRf *w, const char *name, unsigned char type) {
        bool dir = type == DT_DIR;
        int r;

        if (type == DT_UNKNOWN) {
                struct stat st;

                if (fstatat(w->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return errno == ENOENT ? 0 : rm_rf_fail(w, rm_rf_current(w), name, -errno);
                dir = S_ISDIR(st.st_mode);
        }

        /* A non-directory (a symlink too) is unlinked, never opened; an empty directory is
         * removed without being entered. */
        r = unlinkat_errno(w->fd, name, dir);
        if (r == -EISDIR || r == -ENOTDIR) { /* replaced by the other kind since getdents */
                dir = !dir;
                r = unlinkat_errno(w->fd, name, dir);
        }
        if (r >= 0 || r == -ENOENT)
                return 0;
        return dir ? 1 : rm_rf_fail(w, rm_rf_current(w), name, r);
}

/* The n bytes of entries in w->buf: removes what it can right away, and queues the directories
 * to empty first. */
static int rm_rf_batch(RmRf *w, size_t n) {
        RmRfLevel *l = rm_rf_current(w);

        for (size_t i = 0; i < n;) {
                struct dirent64 *de = (struct dirent64 *) (w->buf + i);
                size_t k = strlen(de->d_name) + 1;
                int r;

                i += de->d_reclen;
                l->resume = de->d_off;
                if (streq(de->d_name, ".") || streq(de->d_name, "..") ||
                    name_set_contains(&l->skip, de->d_name))
                        continue;

                r = rm_rf_entry(w, de->d_name, de->d_type);
                if (r <= 0) {
                        if (r < 0)
                                return r;
                        continue;
                }
                if (!l->pending) {
                        l->pending = malloc(n); /* the names take less than their entries */
                        if (!l->pending)
                                return -ENOMEM;
                }
                memcpy(l->pending + l->pending_len, de->d_name, k);
                l->pending_len += k;
        }
        return 0;
}

/* Goes on with the current directory: 1 if the walk went down into a child, 0 when nothing is
 * left to try (the directory is empty, or holds only what could not be removed). */
static int rm_rf_scan(RmRf *w) {
        for (;;) {
                RmRfLevel *l;
                ssize_t n;
                int r;

                r = rm_rf_descend_pending(w);
                if (r != 0)
                        return r;

                l = rm_rf_current(w);
                n = getdents64(w->fd, w->buf, RM_RF_BUF_SIZE);
                if (n < 0)
                        return rm_rf_fail(w, l, NULL, -errno);
                if (n > 0) {
                        r = rm_rf_batch(w, (size_t) n);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (l->clean)
                        return 0;
                /* The walk went down into children and read on from the offset it had reached,
                 * so a wide directory is read once; one more pass from the start catches what a
                 * filesystem whose offsets moved made it skip. */
                if (lseek(w->fd, 0, SEEK_SET) < 0)
                        return rm_rf_fail(w, l, NULL, -errno);
                l->clean = true;
        }
}

/* Back up to the parent of the current directory, which is then removed unless something in it
 * stays. -ESTALE if ".." is no longer the directory the walk came down from. */
static int rm_rf_ascend(RmRf *w) {
        RmRfLevel *child = rm_rf_current(w), *parent = child - 1;
        _cleanup_close_ int fd = -EBADF;
        FileId id;
        int r;

        fd = openat(w->fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;

        r = file_id_from_fd(fd, &id);
        if (r < 0)
                return r;
        if (!file_id_equal(&id, &parent->id))
                return -ESTALE;

        safe_close(w->fd);
        w->fd = TAKE_FD(fd);
        if (lseek(w->fd, parent->resume, SEEK_SET) < 0)
                parent->clean = true; /* a fresh fd reads from 0 */

        r = 0;
        if (child->failed)
                r = rm_rf_fail(w, parent, child->name, 0);
        else if (unlinkat(w->fd, child->name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                r = rm_rf_fail(w, parent, child->name, -errno);

        rm_rf_level_done(child);
        w->n_levels--;
        return r;
}

/* Removes everything below the directory w->fd is open on. */
static int rm_rf_walk(RmRf *w) {
        for (;;) {
                int r;

                r = rm_rf_scan(w);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;

                if (w->n_levels == 1)
                        return 0;
                r = rm_rf_ascend(w);
                if (r < 0)
                        return r;
        }
}

/* name is one path component in dfd. */
static int rm_rf_top(int dfd, const char *name) {
        _cleanup_(rm_rf_done) RmRf w = { .fd = -EBADF };
        struct stat st;
        FileId id;
        int r;

        w.fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (w.fd < 0) {
                if (errno == ENOENT)
                        return 0;
                if (errno != ENOTDIR && errno != ELOOP)
                        return -errno;
                /* Not a directory, or a symlink: unlink that, never what a symlink points to. */
                r = unlinkat_errno(dfd, name, false);
                return r == -ENOENT ? 0 : r;
        }

        r = file_id_from_fd(w.fd, &id);
        if (r < 0)
                return r;
        w.buf = malloc(RM_RF_BUF_SIZE);
        if (!w.buf)
                return -ENOMEM;
        r = rm_rf_push(&w, NULL, &id);
        if (r < 0)
                return r;

        r = rm_rf_walk(&w);
        if (r < 0)
                return r;
        if (w.error < 0)
                return w.error;

        /* Only the directory we emptied: rmdir() would take another empty one as well. */
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (st.st_dev != id.dev || st.st_ino != id.ino)
                return -ESTALE;
        r = unlinkat_errno(dfd, name, true);
        return r == -ENOENT ? 0 : r;
}

int rm_rf_at(int dirfd, const char *path) {
        _cleanup_close_ int parent = -EBADF;
        _cleanup_free_ char *p = NULL;
        char *base;
        size_t n;

        p = strdup(path);
        if (!p)
                return -ENOMEM;
        /* "link/" would follow the symlink: the trailing slashes go, and link is unlinked. */
        for (n = strlen(p); n > 1 && p[n - 1] == '/'; n--)
                p[n - 1] = 0;

        base = strrchr(p, '/');
        if (!base)
                base = p;
        else
                *base++ = 0;
        if (!*base || streq(base, ".") || streq(base, ".."))
                return -EINVAL;
        if (base == p)
                return rm_rf_top(dirfd, base);

        /* The leading components are the caller's, and followed as usual. */
        parent = openat(dirfd, *p ? p : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (parent < 0)
                return errno == ENOENT ? 0 : -errno;
        return rm_rf_top(parent, base);
}

int rm_rf(const char *path) {
        return rm_rf_at(AT_FDCWD, path);
}
