/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Files. Every fd is O_CLOEXEC. */
int read_full_file(const char *path, char **ret_contents, size_t *ret_size);
int write_file_atomic(const char *path, const char *contents, mode_t mode);
int write_string_file(const char *path, const char *contents);
/* All of buf, across short writes and EINTR. */
int write_all(int fd, const void *buf, size_t n);
int read_one_line_file(const char *path, char **ret);
/* Reads from fd until EOF, size - 1 bytes, the first newline (stop_at_newline) or timeout_msec,
 * whichever comes first; buf is NUL-terminated. Returns the bytes read, or -ETIMEDOUT when time
 * ran out first (buf still holds what came). For a child's pipe. */
ssize_t read_bounded(int fd, char *buf, size_t size, int timeout_msec, bool stop_at_newline);
