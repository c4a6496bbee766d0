/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <syslog.h>

#include "common/macro.h"

/* Logs to stderr. Under systemd (JOURNAL_STREAM set) every line gets a "<N>" syslog-priority
 * prefix, which journald turns into the message priority. log_*_errno() return the (negative)
 * error they are given, and "%m" prints that error. */

void log_set_max_level(int level);
int log_get_max_level(void);
int log_parse_level(const char *s);
const char *log_level_to_string(int level);
void log_open(void);

int log_internal(int level, int error, const char *fmt, ...) _printf_(3, 4);

#define log_full_errno(level, error, ...)                                                       \
        ({                                                                                      \
                int _l_ = (level), _e_ = (error);                                               \
                (_l_ <= log_get_max_level()) ? log_internal(_l_, _e_, __VA_ARGS__) : -abs(_e_); \
        })
#define log_full(level, ...) (void) log_full_errno((level), 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, error, __VA_ARGS__)
#define log_info_errno(error, ...) log_full_errno(LOG_INFO, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_ERR, error, __VA_ARGS__)

#define log_oom() log_error_errno(-ENOMEM, "Out of memory.")
