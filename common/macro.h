/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((__cleanup__(f)))
#define _unused_ __attribute__((__unused__))
#define _printf_(a, b) __attribute__((__format__(printf, a, b)))
#define _noreturn_ __attribute__((__noreturn__))
#define _pure_ __attribute__((__pure__))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Takes ownership out of a cleanup-guarded local. */
#define TAKE_PTR(p)                        \
        ({                                 \
                __typeof__(p) _ptr_ = (p); \
                (p) = NULL;                \
                _ptr_;                     \
        })
#define TAKE_FD(fd)              \
        ({                       \
                int _fd_ = (fd); \
                (fd) = -EBADF;   \
                _fd_;            \
        })

/* Gives func##p(), usable with _cleanup_(), for a "T *func(T *)" destructor. */
#define DEFINE_CLEANUP(type, func)            \
        static inline void func##p(type *p) { \
                if (*p)                       \
                        (void) func(*p);      \
        }

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd) {
        if (*fd >= 0)
                (void) close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline void close_pairp(int (*p)[2]) {
        closep(&(*p)[0]);
        closep(&(*p)[1]);
}
#define _cleanup_close_pair_ _cleanup_(close_pairp)

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

static inline int safe_close(int fd) {
        if (fd >= 0)
                (void) close(fd);
        return -EBADF;
}

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}
#define streq(a, b) (strcmp((a), (b)) == 0)

static inline const char *strempty(const char *s) {
        return s ?: "";
}

static inline const char *yes_no(bool b) {
        return b ? "yes" : "no";
}

/* A negative errno from a positive one, for errors that did not come from a callee. */
#define SYNTHETIC_ERRNO(e) (-(e))

#define EXIT_TEST_SKIP 77
