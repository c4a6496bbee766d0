/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include <sys/stat.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "build-config.h"
#include "common/log.h"
#include "daemon/manager.h"
#include "common/macro.h"
#include "common/strv.h"

static const char *arg_config = DEFAULT_CONFIG_PATH;
static bool arg_config_given = false;
static const char *arg_runtime_dir = DEFAULT_RUNTIME_DIR;
static const char *arg_state_dir = DEFAULT_STATE_DIR;

static void help(void) {
        printf("Usage: cuttlefish-host-resourcesd [OPTIONS]\n"
               "\n"
               "Prepares this host's network for Android Cuttlefish devices (bridges cvd-ebr/cvd-wbr,\n"
               "four taps per instance slot, dnsmasq, NAT) and serves org.cuttlefish.HostResources1\n"
               "on the system bus. Normally started by cuttlefish-host-resources.service.\n"
               "\n"
               "  -h --help              Show this help and exit\n"
               "     --version           Show the version and exit\n"
               "     --config=PATH       Configuration file (default: %s)\n"
               "     --runtime-dir=PATH  Runtime files: dnsmasq configs, pid records (default: %s)\n"
               "     --state-dir=PATH    Persistent state: dnsmasq leases (default: %s)\n"
               "     --log-level=LEVEL   err, warning, notice, info or debug (default: info)\n"
               "     --check-config      Parse the configuration, report problems and exit\n"
               "\n"
               "The daemon acts on the network namespace it is started in. To try it without touching\n"
               "the host, start it inside 'unshare --net --mount'. DBUS_SYSTEM_BUS_ADDRESS selects the bus.\n"
               "See cuttlefish-host-resourcesd(8) and cfctl(1).\n",
               DEFAULT_CONFIG_PATH,
               DEFAULT_RUNTIME_DIR,
               DEFAULT_STATE_DIR);
}

static bool arg_check_config = false;

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_CONFIG,
                ARG_RUNTIME_DIR,
                ARG_STATE_DIR,
                ARG_LOG_LEVEL,
                ARG_CHECK_CONFIG,
        };
        static const struct option options[] = { { "help", no_argument, NULL, 'h' },
                                                 { "version", no_argument, NULL, ARG_VERSION },
                                                 { "config", required_argument, NULL, ARG_CONFIG },
                                                 { "runtime-dir", required_argument, NULL, ARG_RUNTIME_DIR },
                                                 { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                                                 { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                                                 { "check-config", no_argument, NULL, ARG_CHECK_CONFIG },
                                                 {} };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("cuttlefish-host-resourcesd %s\n", PACKAGE_VERSION);
                        return 0;
                case ARG_CONFIG:
                        arg_config = optarg;
                        arg_config_given = true;
                        break;
                case ARG_RUNTIME_DIR:
                        arg_runtime_dir = optarg;
                        break;
                case ARG_STATE_DIR:
                        arg_state_dir = optarg;
                        break;
                case ARG_LOG_LEVEL: {
                        int l = log_parse_level(optarg);
                        if (l < 0)
                                return log_error_errno(
                                                -EINVAL,
                                                "Unknown log level '%s': use err, warning, notice, "
                                                "info or debug.",
                                                optarg);
                        log_set_max_level(l);
                        break;
                }
                case ARG_CHECK_CONFIG:
                        arg_check_config = true;
                        break;
                case '?':
                        return -EINVAL;
                default:
                        return -EINVAL;
                }

        if (optind < argc)
                return log_error_errno(-EINVAL, "Unexpected argument '%s'. See --help.", argv[optind]);
        if (arg_runtime_dir[0] != '/' || arg_state_dir[0] != '/')
                return log_error_errno(-EINVAL, "--runtime-dir and --state-dir must be absolute paths.");
        return 1;
}

static int run(int argc, char *argv[]) {
        _cleanup_(manager_freep) Manager *m = NULL;
        sigset_t mask;
        int r;

        log_open();
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;

        if (arg_check_config) {
                _cleanup_free_ char *e = NULL;
                _cleanup_(strv_freep) char **warnings = NULL;
                Config c;

                r = config_load(arg_config, arg_config_given, &c, &e, &warnings);
                STRV_FOREACH (w, warnings)
                        log_warning("%s", *w);
                if (r < 0)
                        return log_error_errno(r, "%s", strempty(e));
                log_info("%s: OK, %u slots.", arg_config, c.net.n_slots);
                config_done(&c);
                return 0;
        }

        /* sd-event wants these blocked before it watches them (signals, child processes). */
        (void) sigemptyset(&mask);
        (void) sigaddset(&mask, SIGTERM);
        (void) sigaddset(&mask, SIGINT);
        (void) sigaddset(&mask, SIGHUP);
        (void) sigaddset(&mask, SIGCHLD);
        (void) sigprocmask(SIG_BLOCK, &mask, NULL);
        umask(0022);

        r = manager_new(arg_config, arg_config_given, arg_runtime_dir, arg_state_dir, &m);
        if (r < 0)
                return r;

        r = manager_load_config(m, NULL);
        if (r < 0)
                return log_error_errno(r, "Refusing to start with a bad configuration.");

        r = manager_startup(m);
        if (r < 0)
                return r;

        return manager_run(m);
}

int main(int argc, char *argv[]) {
        int r = run(argc, argv);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
