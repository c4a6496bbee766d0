/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/macro.h"
#include "daemon/instance-console.h"

#define CONSOLE_READ_MAX (64 * 1024)
#define CONSOLE_SCAN_MAX (4 * 1024 * 1024)

int console_watch_init(ConsoleWatch *c, const char *path, uid_t owner) {
        *c = (ConsoleWatch){ .owner = owner, .path = strdup(path) };
        return c->path ? 0 : -ENOMEM;
}

void console_watch_done(ConsoleWatch *c) {
        console_watch_stop(c);
        c->path = mfree(c->path);
}

int console_log_open(const ConsoleWatch *c, int mode) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        fd = open(c->path, mode | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || (st.st_uid != c->owner && st.st_uid != 0))
                return -EPERM;
        if (mode != O_RDONLY && fcntl(fd, F_SETFL, O_APPEND) < 0)
                return -errno;
        return TAKE_FD(fd);
}

void console_watch_new_run(ConsoleWatch *c, int fd) {
        struct stat st;

        c->start = fstat(fd, &st) >= 0 ? (uint64_t) st.st_size : 0;
        c->offset = c->start;
        c->tail_len = 0;
}

void console_watch_skip_to_end(ConsoleWatch *c) {
        struct stat st;

        if (stat(c->path, &st) >= 0)
                c->offset = c->start = (uint64_t) st.st_size;
        c->tail_len = 0;
}

static bool console_scan_buffer(ConsoleWatch *c, char *buf, size_t have, size_t mlen) {
        size_t keep;

        /* The console holds escapes and maybe NULs: search bytes, not a C string. */
        if (memmem(buf, have, c->marker, mlen))
                return true;
        keep = MIN(mlen - 1, have);
        memcpy(c->tail, buf + have - keep, keep);
        c->tail_len = keep;
        return false;
}

bool console_watch_scan(ConsoleWatch *c) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t mlen, scanned = 0;

        if (!c->marker)
                return false;
        mlen = strlen(c->marker);
        if (mlen == 0 || mlen > sizeof(c->tail))
                return false;
        fd = console_log_open(c, O_RDONLY);
        if (fd < 0)
                return false;
        buf = malloc(sizeof(c->tail) + CONSOLE_READ_MAX);
        if (!buf)
                return false;

        /* Bounded per call: a huge (or sparse) file must not stall the event loop. */
        while (scanned < CONSOLE_SCAN_MAX) {
                size_t have = c->tail_len;
                ssize_t n;

                /* The bytes kept from the last read, so a marker split across reads is found. */
                memcpy(buf, c->tail, have);
                n = pread(fd, buf + have, CONSOLE_READ_MAX, (off_t) c->offset);
                if (n <= 0)
                        return false;
                scanned += (size_t) n;
                c->offset += (uint64_t) n;
                if (console_scan_buffer(c, buf, have + (size_t) n, mlen))
                        return true;
        }
        return false;
}

static void console_watch_check(ConsoleWatch *c) {
        if (!console_watch_scan(c))
                return;
        console_watch_stop(c);
        if (c->on_marker)
                c->on_marker(c, c->userdata);
}

static int on_console(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        console_watch_check(userdata);
        return 0;
}

int console_watch_start(
                ConsoleWatch *c,
                sd_event *e,
                const char *marker,
                console_marker_t on_marker,
                void *userdata) {
        int r;

        console_watch_stop(c);
        c->marker = marker;
        c->on_marker = on_marker;
        c->userdata = userdata;
        r = sd_event_add_inotify(e, &c->source, c->path, IN_MODIFY | IN_CLOSE_WRITE, on_console, c);
        /* What the VMM wrote before the watch existed (right after exec) counts too. */
        console_watch_check(c);
        return r < 0 ? r : 0;
}

void console_watch_stop(ConsoleWatch *c) {
        c->source = sd_event_source_disable_unref(c->source);
        c->marker = NULL;
}
