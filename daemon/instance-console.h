/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Following a VMM's serial console log for the boot marker. The log sits in a directory its owner
 * controls: it is opened without blocking (a FIFO would hang us), and only if it is a regular file
 * with one link, owned by the owner or root. Knows no Instance: the owner is told through a
 * callback when the marker shows. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#define CONSOLE_MARKER_MAX 256

typedef struct ConsoleWatch ConsoleWatch;
typedef void (*console_marker_t)(ConsoleWatch *c, void *userdata);

struct ConsoleWatch {
        char *path;                    /* the log; owned */
        uid_t owner;                   /* who may own the file besides root */
        uint64_t start;                /* where the current run's output begins (the log spans runs) */
        uint64_t offset;               /* next byte to scan */
        char tail[CONSOLE_MARKER_MAX]; /* last bytes read, for a marker split across reads */
        size_t tail_len;
        const char *marker; /* borrowed; NULL: not watching */
        sd_event_source *source;
        console_marker_t on_marker;
        void *userdata;
};

int console_watch_init(ConsoleWatch *c, const char *path, uid_t owner);
void console_watch_done(ConsoleWatch *c);

/* Opens the log (O_RDONLY, or O_WRONLY for the VMM's stdout, then in append mode). */
int console_log_open(const ConsoleWatch *c, int mode);
/* The next run's output starts at the log's current end (opened for the VMM as fd). */
void console_watch_new_run(ConsoleWatch *c, int fd);
/* The guest reset in place: only what it writes from now on counts. */
void console_watch_skip_to_end(ConsoleWatch *c);
/* Scans this run's output for marker, now and on every write (inotify); on_marker is called once
 * when it shows (possibly from inside this call), then the watch stops. */
int console_watch_start(
                ConsoleWatch *c,
                sd_event *e,
                const char *marker,
                console_marker_t on_marker,
                void *userdata);
/* One scan now (bounded per call); true when the marker was seen. */
bool console_watch_scan(ConsoleWatch *c);
void console_watch_stop(ConsoleWatch *c);
