/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "common/log.h"

static int log_max_level = LOG_INFO;
static bool log_prefix_priority = false;

static const char *const level_names[] = {
        [LOG_EMERG] = "emerg",     [LOG_ALERT] = "alert",   [LOG_CRIT] = "crit", [LOG_ERR] = "err",
        [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

void log_set_max_level(int level) {
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

int log_parse_level(const char *s) {
        for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
                if (strcasecmp(s, level_names[i]) == 0)
                        return (int) i;
        return -EINVAL;
}

const char *log_level_to_string(int level) {
        if (level < 0 || (size_t) level >= ELEMENTSOF(level_names))
                return NULL;
        return level_names[level];
}

void log_open(void) {
        const char *e;

        /* journald sets JOURNAL_STREAM for services whose stderr it reads. */
        log_prefix_priority = !!getenv("JOURNAL_STREAM");

        e = getenv("CF_LOG_LEVEL");
        if (e && log_parse_level(e) >= 0)
                log_max_level = log_parse_level(e);
}

int log_internal(int level, int error, const char *fmt, ...) {
        char buf[2048];
        va_list ap;
        int saved = errno;

        error = abs(error);
        /* "%m" prints the error we were given, not whatever errno happens to be. */
        errno = error;
        va_start(ap, fmt);
        (void) vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);

        if (log_prefix_priority)
                fprintf(stderr, "<%i>%s\n", level, buf);
        else
                fprintf(stderr, "%s\n", buf);

        errno = saved;
        return -error;
}
