/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cfctl's command line: the options, the verb table, and main. */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "build-config.h"
#include "cfctl/cfctl.h"
#include "common/bus-api.h"
#include "common/fs-util.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/parse-util.h"
#include "common/strv.h"

#define EXIT_USAGE 2

JsonMode arg_json = JSON_OFF;
bool arg_legend = true;
bool arg_ask_password = true;
bool arg_quiet = false;
bool arg_wait = false;
unsigned arg_timeout = 300;
bool arg_follow = false;
int arg_signal = SIGTERM;

/* start: CreateInstance options, only those given. */
static struct {
        char *backend, *kernel, *initrd, *cmdline, *gpu_mode, *restart, *boot_marker, *host_package,
                        *images_dir, *bios;
        char **disks, **extra_args, **images;
        uint32_t number, cpus, memory_mb, boot_timeout_sec, stop_timeout_sec;
        bool has_number, has_cpus, has_memory_mb, has_boot_timeout, has_stop_timeout, no_start,
                        crosvm_disable_sandbox, autostart;
} arg_start;

static int append_str(sd_bus_message *m, const char *key, const char *v) {
        return v ? sd_bus_message_append(m, "{sv}", key, "s", v) : 0;
}

static int append_strv(sd_bus_message *m, const char *key, char **l) {
        int r;

        if (!l)
                return 0;
        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", key);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "as");
        if (r >= 0)
                r = sd_bus_message_append_strv(m, l);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

int cfctl_append_start_options(sd_bus_message *m) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        if ((r = append_str(m, "backend", arg_start.backend)) < 0 ||
            (r = append_str(m, "kernel", arg_start.kernel)) < 0 ||
            (r = append_str(m, "initrd", arg_start.initrd)) < 0 ||
            (r = append_str(m, "cmdline", arg_start.cmdline)) < 0 ||
            (r = append_str(m, "gpu_mode", arg_start.gpu_mode)) < 0 ||
            (r = append_str(m, "restart", arg_start.restart)) < 0 ||
            (r = append_str(m, "boot_marker", arg_start.boot_marker)) < 0 ||
            (r = append_str(m, "host_package", arg_start.host_package)) < 0 ||
            (r = append_str(m, "images_dir", arg_start.images_dir)) < 0 ||
            (r = append_str(m, "bios", arg_start.bios)) < 0 ||
            (r = append_strv(m, "disks", arg_start.disks)) < 0 ||
            (r = append_strv(m, "extra_args", arg_start.extra_args)) < 0)
                return r;
        if (arg_start.has_number &&
            (r = sd_bus_message_append(m, "{sv}", "number", "u", arg_start.number)) < 0)
                return r;
        if (arg_start.has_cpus && (r = sd_bus_message_append(m, "{sv}", "cpus", "u", arg_start.cpus)) < 0)
                return r;
        if (arg_start.has_memory_mb &&
            (r = sd_bus_message_append(m, "{sv}", "memory_mb", "u", arg_start.memory_mb)) < 0)
                return r;
        if (arg_start.has_boot_timeout &&
            (r = sd_bus_message_append(m, "{sv}", "boot_timeout_sec", "u", arg_start.boot_timeout_sec)) < 0)
                return r;
        if (arg_start.has_stop_timeout &&
            (r = sd_bus_message_append(m, "{sv}", "stop_timeout_sec", "u", arg_start.stop_timeout_sec)) < 0)
                return r;
        if (arg_start.no_start && (r = sd_bus_message_append(m, "{sv}", "start", "b", 0)) < 0)
                return r;
        if (arg_start.crosvm_disable_sandbox &&
            (r = sd_bus_message_append(m, "{sv}", "crosvm_disable_sandbox", "b", 1)) < 0)
                return r;
        if (arg_start.autostart && (r = sd_bus_message_append(m, "{sv}", "autostart", "b", 1)) < 0)
                return r;
        r = append_strv(m, "images", arg_start.images);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(m);
}

/* The daemon takes absolute paths only; make a relative one absolute against our cwd. */
static int absolute_path(const char *p, char **ret) {
        char cwd[PATH_MAX];

        if (p[0] == '/')
                *ret = strdup(p);
        else {
                if (!getcwd(cwd, sizeof(cwd)))
                        return -errno;
                *ret = path_join(cwd, p);
        }
        return *ret ? 0 : -ENOMEM;
}

static int parse_u32_arg(const char *name, const char *s, uint32_t *ret) {
        if (parse_uint32(s, ret) < 0) {
                log_error("--%s needs a whole number, not '%s'.", name, s);
                return -EINVAL;
        }
        return 0;
}

typedef enum VerbFlags {
        /* The verb changes something: polkit may ask for a password, so the agent runs. */
        VERB_MAY_AUTHORIZE = 1 << 0,
} VerbFlags;

typedef struct Verb {
        const char *name;
        /* The second word of a verb that has several ("network up"), NULL for the others. The rows
         * of such a verb follow each other; the first is also the one without a second word. */
        const char *action;
        unsigned min_args, max_args; /* including the verb itself */
        VerbFlags flags;
        int (*dispatch)(sd_bus *bus, int argc, char *argv[]);
} Verb;

/* clang-format off */
static const Verb verbs[] = {
        { "start",   NULL,     1, 1,  VERB_MAY_AUTHORIZE, verb_start },
        { "stop",    NULL,     2, 64, VERB_MAY_AUTHORIZE, verb_stop },
        { "kill",    NULL,     2, 64, VERB_MAY_AUTHORIZE, verb_kill },
        { "restart", NULL,     2, 64, VERB_MAY_AUTHORIZE, verb_restart },
        { "suspend", NULL,     2, 64, VERB_MAY_AUTHORIZE, verb_suspend },
        { "resume",  NULL,     2, 64, VERB_MAY_AUTHORIZE, verb_resume },
        { "rm",      NULL,     2, 64, VERB_MAY_AUTHORIZE, verb_rm },
        { "autostart", NULL,   3, 3,  VERB_MAY_AUTHORIZE, verb_autostart },
        { "reset",   NULL,     2, 64, VERB_MAY_AUTHORIZE, verb_reset },
        { "list",    NULL,     1, 1,  0,                  verb_list },
        { "status",  NULL,     1, 2,  0,                  verb_status },
        { "show",    NULL,     2, 2,  0,                  verb_show },
        { "logs",    NULL,     2, 2,  0,                  verb_logs },
        { "monitor", NULL,     1, 1,  0,                  verb_monitor },
        { "doctor",  NULL,     1, 1,  0,                  verb_doctor },
        { "network", "status", 1, 2,  0,                  verb_network_status },
        { "network", "up",     1, 2,  VERB_MAY_AUTHORIZE, verb_network_up },
        { "network", "down",   1, 2,  VERB_MAY_AUTHORIZE, verb_network_down },
        { "reload",  NULL,     1, 1,  VERB_MAY_AUTHORIZE, verb_reload },
};
/* clang-format on */

static void help(void) {
        printf("Usage: cfctl [OPTIONS] COMMAND ...\n"
               "\n"
               "Control cuttlefish-host-resources: the host network for Android Cuttlefish devices.\n"
               "\n"
               "Instances:\n"
               "  start [OPTIONS]     Create and start a device; prints its number (CreateInstance)\n"
               "  list                List instances\n"
               "  status [N]          Summary of instance N (or the list)\n"
               "  show N              All properties of instance N\n"
               "  logs N [-f]         The serial console of instance N\n"
               "  stop N...           Power off (ACPI, then quit, then SIGKILL)\n"
               "  kill [-s SIG] N...  Send a signal to the VMM\n"
               "  restart N...        Stop and start again\n"
               "  suspend N...        Pause the vCPUs\n"
               "  resume N...         Continue paused vCPUs\n"
               "  rm N...             Kill the VMM if it runs and remove, releasing the slot\n"
               "  autostart N on|off  Start N when the daemon starts (after a reboot) or not\n"
               "  reset N...          Discard a stopped instance's overlays (back to its images)\n"
               "  monitor             Print instance events as they happen\n"
               "  doctor              What this host or user lacks, with the command that fixes it\n"
               "\n"
               "Network:\n"
               "  network [status]    Show bridges, slots, taps, addresses and guest DHCP leases\n"
               "  network up          Create or repair the network (SetupNetwork)\n"
               "  network down        Remove every link, firewall table and dnsmasq of the service\n"
               "  reload              Re-read the configuration file and apply it (Reload)\n"
               "\n"
               "Options:\n"
               "  -h --help           Show this help\n"
               "     --version        Show the version\n"
               "     --json=MODE      Print JSON: pretty, short or off (default off; --json = pretty)\n"
               "     --no-legend      Leave out table headers and footers\n"
               "     --no-ask-password  Do not ask for a password to authorize\n"
               "  -q --quiet          Print nothing on success\n"
               "\n"
               "start options (CreateInstance options, '-' for '_'):\n"
               "     --backend=qemu|crosvm|cvd  --number=N  --cpus=N  --memory-mb=N\n"
               "     --kernel=PATH  --initrd=PATH  --cmdline=TEXT  --disk=PATH (repeatable)\n"
               "     --gpu-mode=MODE  --restart=no|on-failure|always  --boot-marker=TEXT\n"
               "     --boot-timeout-sec=N  --extra-arg=ARG (repeatable)  --host-package=PATH\n"
               "     --images-dir=PATH  --stop-timeout-sec=N  --no-start  --bios=PATH\n"
               "     --crosvm-disable-sandbox  --autostart  --image=PATH (repeatable: a shared,\n"
               "     read-only base; the instance boots from an overlay of its own)\n"
               "     --wait           Show progress on stderr until booted or failed\n"
               "     --timeout=SEC    Give up waiting after SEC seconds (default 300)\n"
               "  -s --signal=SIG     kill: signal name or number (default TERM)\n"
               "  -f --follow         logs: keep printing as the console grows\n"
               "\n"
               "DBUS_SYSTEM_BUS_ADDRESS selects the bus. See cfctl(1).\n");
}

enum {
        ARG_VERSION = 0x100,
        ARG_JSON,
        ARG_NO_LEGEND,
        ARG_NO_ASK_PASSWORD,
        ARG_BACKEND,
        ARG_NUMBER,
        ARG_CPUS,
        ARG_MEMORY_MB,
        ARG_KERNEL,
        ARG_INITRD,
        ARG_CMDLINE,
        ARG_DISK,
        ARG_GPU_MODE,
        ARG_RESTART,
        ARG_BOOT_MARKER,
        ARG_BOOT_TIMEOUT,
        ARG_EXTRA_ARG,
        ARG_HOST_PACKAGE,
        ARG_IMAGES_DIR,
        ARG_NO_START,
        ARG_BIOS,
        ARG_CROSVM_DISABLE_SANDBOX,
        ARG_AUTOSTART,
        ARG_IMAGE,
        ARG_STOP_TIMEOUT,
        ARG_WAIT,
        ARG_TIMEOUT,
};

static const struct option options[] = {
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, ARG_VERSION },
        { "json", optional_argument, NULL, ARG_JSON },
        { "no-legend", no_argument, NULL, ARG_NO_LEGEND },
        { "no-ask-password", no_argument, NULL, ARG_NO_ASK_PASSWORD },
        { "quiet", no_argument, NULL, 'q' },
        { "backend", required_argument, NULL, ARG_BACKEND },
        { "number", required_argument, NULL, ARG_NUMBER },
        { "cpus", required_argument, NULL, ARG_CPUS },
        { "memory-mb", required_argument, NULL, ARG_MEMORY_MB },
        { "kernel", required_argument, NULL, ARG_KERNEL },
        { "initrd", required_argument, NULL, ARG_INITRD },
        { "cmdline", required_argument, NULL, ARG_CMDLINE },
        { "disk", required_argument, NULL, ARG_DISK },
        { "gpu-mode", required_argument, NULL, ARG_GPU_MODE },
        { "restart", required_argument, NULL, ARG_RESTART },
        { "boot-marker", required_argument, NULL, ARG_BOOT_MARKER },
        { "boot-timeout-sec", required_argument, NULL, ARG_BOOT_TIMEOUT },
        { "extra-arg", required_argument, NULL, ARG_EXTRA_ARG },
        { "host-package", required_argument, NULL, ARG_HOST_PACKAGE },
        { "images-dir", required_argument, NULL, ARG_IMAGES_DIR },
        { "no-start", no_argument, NULL, ARG_NO_START },
        { "bios", required_argument, NULL, ARG_BIOS },
        { "crosvm-disable-sandbox", no_argument, NULL, ARG_CROSVM_DISABLE_SANDBOX },
        { "autostart", no_argument, NULL, ARG_AUTOSTART },
        { "image", required_argument, NULL, ARG_IMAGE },
        { "stop-timeout-sec", required_argument, NULL, ARG_STOP_TIMEOUT },
        { "wait", no_argument, NULL, ARG_WAIT },
        { "timeout", required_argument, NULL, ARG_TIMEOUT },
        { "signal", required_argument, NULL, 's' },
        { "follow", no_argument, NULL, 'f' },
        {}
};

/* kill's --signal: a name (TERM, SIGTERM, case ignored) or a number. */
static int parse_signal(const char *s, int *ret) {
        uint32_t n;
        int sig = parse_uint32(s, &n) >= 0 ? (int) n : 0;
        const char *name = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;

        for (int k = 1; !sig && k < NSIG; k++)
                if (sigabbrev_np(k) && strcasecmp(name, sigabbrev_np(k)) == 0)
                        sig = k;
        if (sig <= 0 || sig >= NSIG) {
                log_error("Unknown signal '%s': give a name (TERM, KILL, ...) or a number.", s);
                return -EINVAL;
        }
        *ret = sig;
        return 0;
}

/* A path option of start, made absolute: 1, or <0 on an error. The last one given counts. */
static int parse_start_path(const char *arg, char **dest) {
        char *p;

        if (absolute_path(arg, &p) < 0)
                return log_oom();
        free(*dest);
        *dest = p;
        return 1;
}

/* --disk, made absolute: 1, or <0 on an error. */
static int parse_start_disk(const char *arg) {
        char *p;

        if (absolute_path(arg, &p) < 0 || strv_push(&arg_start.disks, p) < 0)
                return log_oom();
        return 1;
}

/* A number option of start (--number, --cpus, ...): 1 when c is one, 0 when not, <0 on an error. */
static int parse_start_number(int c, const char *arg) {
        static const struct {
                int option;
                const char *name;
                uint32_t *value;
                bool *given;
        } numbers[] = {
                { ARG_NUMBER, "number", &arg_start.number, &arg_start.has_number },
                { ARG_CPUS, "cpus", &arg_start.cpus, &arg_start.has_cpus },
                { ARG_MEMORY_MB, "memory-mb", &arg_start.memory_mb, &arg_start.has_memory_mb },
                { ARG_BOOT_TIMEOUT,
                  "boot-timeout-sec",
                  &arg_start.boot_timeout_sec,
                  &arg_start.has_boot_timeout },
                { ARG_STOP_TIMEOUT,
                  "stop-timeout-sec",
                  &arg_start.stop_timeout_sec,
                  &arg_start.has_stop_timeout },
        };
        int r;

        for (size_t k = 0; k < ELEMENTSOF(numbers); k++)
                if (numbers[k].option == c) {
                        r = parse_u32_arg(numbers[k].name, arg, numbers[k].value);
                        if (r < 0)
                                return r;
                        *numbers[k].given = true;
                        return 1;
                }
        return 0;
}

/* start's options (CreateInstance's): 1 when c is one, 0 when not, <0 on an error. */
static int parse_start_option(int c, char *arg) {
        switch (c) {
        case ARG_KERNEL:
                return parse_start_path(arg, &arg_start.kernel);
        case ARG_INITRD:
                return parse_start_path(arg, &arg_start.initrd);
        case ARG_HOST_PACKAGE:
                return parse_start_path(arg, &arg_start.host_package);
        case ARG_IMAGES_DIR:
                return parse_start_path(arg, &arg_start.images_dir);
        case ARG_BIOS:
                return parse_start_path(arg, &arg_start.bios);
        case ARG_DISK:
                return parse_start_disk(arg);
        case ARG_BACKEND:
                arg_start.backend = arg;
                return 1;
        case ARG_CMDLINE:
                arg_start.cmdline = arg;
                return 1;
        case ARG_GPU_MODE:
                arg_start.gpu_mode = arg;
                return 1;
        case ARG_RESTART:
                arg_start.restart = arg;
                return 1;
        case ARG_BOOT_MARKER:
                arg_start.boot_marker = arg;
                return 1;
        case ARG_EXTRA_ARG:
                return strv_push(&arg_start.extra_args, strdup(arg)) < 0 ? log_oom() : 1;
        case ARG_NO_START:
                arg_start.no_start = true;
                return 1;
        case ARG_CROSVM_DISABLE_SANDBOX:
                arg_start.crosvm_disable_sandbox = true;
                return 1;
        case ARG_AUTOSTART:
                arg_start.autostart = true;
                return 1;
        case ARG_IMAGE:
                return strv_push(&arg_start.images, strdup(arg)) < 0 ? log_oom() : 1;
        default:
                return parse_start_number(c, arg);
        }
}

static int parse_json_mode(const char *arg) {
        if (!arg || streq(arg, "pretty"))
                arg_json = JSON_PRETTY;
        else if (streq(arg, "short"))
                arg_json = JSON_SHORT;
        else if (streq(arg, "off"))
                arg_json = JSON_OFF;
        else if (streq(arg, "help")) {
                puts("pretty\nshort\noff");
                return 0;
        } else {
                log_error("Unknown --json mode '%s': use pretty, short or off.", arg);
                return -EINVAL;
        }
        return 1;
}

/* One option: 1 to go on, 0 when done (--help, --version), <0 on an error. */
static int parse_option(int c, char *arg) {
        int r;

        switch (c) {
        case 'h':
                help();
                return 0;
        case ARG_VERSION:
                printf("cfctl %s\n", PACKAGE_VERSION);
                return 0;
        case ARG_JSON:
                return parse_json_mode(arg);
        case ARG_NO_LEGEND:
                arg_legend = false;
                return 1;
        case ARG_NO_ASK_PASSWORD:
                arg_ask_password = false;
                return 1;
        case 'q':
                arg_quiet = true;
                return 1;
        case ARG_WAIT:
                arg_wait = true;
                return 1;
        case ARG_TIMEOUT:
                r = parse_u32_arg("timeout", arg, &arg_timeout);
                return r < 0 ? r : 1;
        case 's':
                r = parse_signal(arg, &arg_signal);
                return r < 0 ? r : 1;
        case 'f':
                arg_follow = true;
                return 1;
        default:
                r = parse_start_option(c, arg);
                /* 0: getopt_long's '?' for an unknown option, which it reported. */
                return r == 0 ? -EINVAL : r;
        }
}

static int parse_argv(int argc, char *argv[]) {
        int c, r;

        /* Options may come before or after the verb ("cfctl start --kernel=..."). */
        while ((c = getopt_long(argc, argv, "hqs:f", options, NULL)) >= 0) {
                r = parse_option(c, optarg);
                if (r <= 0)
                        return r;
        }
        return 1;
}

void cfctl_args_reset(void) {
        free(arg_start.kernel);
        free(arg_start.initrd);
        free(arg_start.host_package);
        free(arg_start.images_dir);
        free(arg_start.bios);
        strv_free(arg_start.disks);
        strv_free(arg_start.extra_args);
        strv_free(arg_start.images);
        arg_start = (typeof(arg_start)){};
        arg_json = JSON_OFF;
        arg_legend = arg_ask_password = true;
        arg_quiet = arg_wait = arg_follow = false;
        arg_timeout = 300;
        arg_signal = SIGTERM;
        /* getopt_long starts afresh (and re-reads its own state) with optind 0. */
        optind = 0;
}

/* The verb argv[0] names (with argv[1], for one with several actions); NULL after saying what is
 * wrong. */
static const Verb *verb_find(int argc, char *argv[]) {
        const Verb *verb = NULL;

        for (size_t i = 0; !verb && i < ELEMENTSOF(verbs); i++)
                if (streq(argv[0], verbs[i].name))
                        verb = &verbs[i];
        if (!verb) {
                log_error("Unknown command '%s'. See 'cfctl --help' for the list.", argv[0]);
                return NULL;
        }
        if ((unsigned) argc < verb->min_args || (unsigned) argc > verb->max_args) {
                log_error("Wrong number of arguments for '%s'. See 'cfctl --help'.", verb->name);
                return NULL;
        }
        if (!verb->action || argc < 2)
                return verb;
        for (const Verb *v = verb; v < verbs + ELEMENTSOF(verbs) && streq(v->name, verb->name); v++)
                if (streq(v->action, argv[1]))
                        return v;
        /* (network is the only verb with actions.) */
        log_error("Unknown network action '%s': use 'up', 'down' or 'status'.", argv[1]);
        return NULL;
}

int cfctl_parse(int argc, char *argv[], int *ret_verb, int *ret_exit) {
        const Verb *verb;
        int r;

        *ret_verb = -1;
        *ret_exit = EXIT_USAGE;
        r = parse_argv(argc, argv);
        if (r <= 0) {
                if (r == 0)
                        *ret_exit = EXIT_SUCCESS;
                return r;
        }

        if (optind >= argc) {
                log_error("No command given. Try 'cfctl network status', or see 'cfctl --help'.");
                return -EINVAL;
        }
        verb = verb_find(argc - optind, argv + optind);
        if (!verb)
                return -EINVAL;
        *ret_verb = (int) (verb - verbs);
        return 1;
}

static int run(int argc, char *argv[], int *ret_exit) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        const Verb *verb;
        int r, v;

        log_open();
        r = cfctl_parse(argc, argv, &v, ret_exit);
        if (r <= 0)
                return r;
        verb = &verbs[v];

        *ret_exit = EXIT_FAILURE;
        r = sd_bus_error_add_map(cf_bus_errors);
        if (r < 0)
                return log_error_errno(r, "Failed to register error map: %m");
        r = sd_bus_default_system(&bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m. Is dbus running?");

        if (verb->flags & VERB_MAY_AUTHORIZE)
                cfctl_agent_open();
        r = verb->dispatch(bus, argc - optind, argv + optind);
        cfctl_agent_close();
        if (r == R_USAGE) {
                *ret_exit = EXIT_USAGE;
                return r;
        }
        if (r >= 0)
                *ret_exit = EXIT_SUCCESS;
        return r;
}

int cfctl_main(int argc, char *argv[]) {
        int code;

        (void) run(argc, argv, &code);
        cfctl_args_reset();
        return code;
}
