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
/* Removes path and everything under it, through directory fds, never following a symlink (safe in a
 * directory someone else controls); at most 32 levels deep. 0 if path did not exist. */
int rm_rf(const char *path);
/* Reads from fd until EOF, size - 1 bytes, the first newline (stop_at_newline) or timeout_msec,
 * whichever comes first; buf is NUL-terminated. Returns the bytes read, or -ETIMEDOUT when time
 * ran out first (buf still holds what came). For a child's pipe. */
ssize_t read_bounded(int fd, char *buf, size_t size, int timeout_msec, bool stop_at_newline);

/* Reads field 22 of /proc/PID/stat: the start time in clock ticks after boot. */
int pid_get_starttime(pid_t pid, uint64_t *ret);
