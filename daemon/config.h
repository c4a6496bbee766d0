/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* /etc/default/cuttlefish-host-resources: the reference's KEY=value syntax, parsed, never
 * sourced. Comments, blank lines, "export KEY=...", single or double quotes. Unknown keys are
 * warnings; bad values are errors of the form "FILE:LINE: KEY=VALUE: reason. What to do." */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netsetup/plan.h"
#include "vmm/spec.h"

typedef struct Config {
        NetConfig net;
        unsigned max_instances_per_user;
        Backend default_backend;
        bool vmm_seccomp;
        unsigned autostart_parallel;   /* autostart instances started at once */
        uint64_t max_disk_mb_per_user; /* blocks a user's instance directories may use; 0: no limit */
} Config;

#define CONFIG_MAX_INSTANCES_PER_USER_DEFAULT 8
#define CONFIG_AUTOSTART_PARALLEL_DEFAULT 4
#define CONFIG_AUTOSTART_PARALLEL_MAX 64

int config_init_defaults(Config *c);
void config_done(Config *c);

/* Parses text (the contents of file "source", for messages). On failure returns -EINVAL and
 * sets *ret_error to "SOURCE:LINE: ..." (caller frees). Warnings go to *ret_warnings (strv). */
int config_parse(const char *source, const char *text, Config *ret, char **ret_error, char ***ret_warnings);
/* Reads path; a missing file at the default path means defaults, at any other path an error. */
int config_load(const char *path, bool must_exist, Config *ret, char **ret_error, char ***ret_warnings);
