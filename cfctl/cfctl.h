/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>

#include <systemd/sd-bus.h>

/* A verb's return for "the user asked wrongly": exit 2, not 1. Outside the errno range. */
#define R_USAGE (-4096)

/* What cfctl says of an instance number that does not exist (with the number). */
#define NO_INSTANCE_MESSAGE "No instance %u. 'cfctl list' shows the instances that exist."

typedef enum JsonMode {
        JSON_OFF,
        JSON_PRETTY,
        JSON_SHORT,
        _JSON_MODE_MAX,
        _JSON_MODE_INVALID = -EINVAL,
} JsonMode;

/* The options the verbs read (cfctl.c sets them; cfctl_args_reset() restores these defaults). */
extern JsonMode arg_json;     /* JSON_OFF */
extern bool arg_legend;       /* true; false: no table headers and footers */
extern bool arg_ask_password; /* true: polkit may ask for a password */
extern bool arg_quiet;        /* false */
extern bool arg_wait;         /* start: false */
extern unsigned arg_timeout;  /* start --wait: 300 s */
extern bool arg_follow;       /* logs: false */
extern int arg_signal;        /* kill: SIGTERM */

/* The command line: cfctl_main() is all of cfctl; cfctl_parse() only reads the options and finds
 * the verb (*ret_verb, an index; -1 when none), so a fuzzer can drive it; cfctl_args_reset()
 * frees what it kept and restores the defaults. Returns >0 to go on, 0 when done (--help), <0 on a
 * usage error, with *ret_exit the exit code so far. */
int cfctl_main(int argc, char *argv[]);
int cfctl_parse(int argc, char *argv[], int *ret_verb, int *ret_exit);
void cfctl_args_reset(void);

/* start's options as CreateInstance's a{sv}: only those given. */
int cfctl_append_start_options(sd_bus_message *m);

/* polkit's pkttyagent while a call may need a password (terminal, not root, asked for). */
void cfctl_agent_open(void);
void cfctl_agent_close(void);

/* instances.c */
int verb_start(sd_bus *bus, int argc, char *argv[]);
int verb_stop(sd_bus *bus, int argc, char *argv[]);
int verb_kill(sd_bus *bus, int argc, char *argv[]);
int verb_restart(sd_bus *bus, int argc, char *argv[]);
int verb_suspend(sd_bus *bus, int argc, char *argv[]);
int verb_resume(sd_bus *bus, int argc, char *argv[]);
int verb_rm(sd_bus *bus, int argc, char *argv[]);
int verb_autostart(sd_bus *bus, int argc, char *argv[]);
int verb_reset(sd_bus *bus, int argc, char *argv[]);
int verb_list(sd_bus *bus, int argc, char *argv[]);
int verb_status(sd_bus *bus, int argc, char *argv[]);
int verb_show(sd_bus *bus, int argc, char *argv[]);
int verb_logs(sd_bus *bus, int argc, char *argv[]);
int verb_monitor(sd_bus *bus, int argc, char *argv[]);
/* doctor.c */
int verb_doctor(sd_bus *bus, int argc, char *argv[]);
/* network.c */
int verb_network_status(sd_bus *bus, int argc, char *argv[]);
int verb_network_up(sd_bus *bus, int argc, char *argv[]);
int verb_network_down(sd_bus *bus, int argc, char *argv[]);
int verb_reload(sd_bus *bus, int argc, char *argv[]);
