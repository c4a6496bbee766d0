/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <strings.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "build-config.h"
#include "common/bus-api.h"
#include "cfctl/cfctl.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/fs-util.h"
#include "common/macro.h"
#include "common/parse-util.h"
#include "common/strv.h"
#include "common/time-util.h"

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
        char **disks, **extra_args;
        uint32_t number, cpus, memory_mb, boot_timeout_sec, stop_timeout_sec;
        bool has_number, has_cpus, has_memory_mb, has_boot_timeout, has_stop_timeout, no_start,
                        crosvm_disable_sandbox;
} arg_start;

int cfctl_compare_number(const void *a, const void *b) {
        struct json_object *x = *(struct json_object *const *) a, *y = *(struct json_object *const *) b, *vx,
                           *vy;
        int64_t nx = json_object_object_get_ex(x, "number", &vx) ? json_object_get_int64(vx) : 0;
        int64_t ny = json_object_object_get_ex(y, "number", &vy) ? json_object_get_int64(vy) : 0;

        return nx < ny ? -1 : nx > ny;
}

int cfctl_bus_error(int r, const sd_bus_error *error, const char *what) {
        if (sd_bus_error_has_name(error, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
            sd_bus_error_has_name(error, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                return log_error_errno(
                                r,
                                "Failed to %s: the service is not running. Start it with "
                                "'systemctl start cuttlefish-host-resources'.",
                                what);
        return log_error_errno(
                        r,
                        "Failed to %s: %s",
                        what,
                        error && error->message ? error->message : strerror(-r));
}

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

typedef struct Verb {
        const char *name;
        unsigned min_args, max_args; /* including the verb itself */
        int (*dispatch)(sd_bus *bus, int argc, char *argv[]);
} Verb;

static int bus_call(sd_bus *bus, const char *method, const char *what, sd_bus_message **ret_reply) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, MANAGER_PATH, MANAGER_INTERFACE, method);
        if (r < 0)
                return log_error_errno(r, "Failed to create %s() call: %m", method);
        (void) sd_bus_message_set_allow_interactive_authorization(m, arg_ask_password);

        /* The daemon waits up to 5 minutes for someone to type a password. */
        r = sd_bus_call(bus, m, 330 * USEC_PER_SEC, &error, ret_reply);
        if (r < 0) {
                if (sd_bus_error_has_name(&error, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
                    sd_bus_error_has_name(&error, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                        return log_error_errno(
                                        r,
                                        "Failed to %s: the service is not running. Start it with "
                                        "'systemctl start cuttlefish-host-resources'.",
                                        what);
                return log_error_errno(r, "Failed to %s: %s", what, error.message ?: strerror(-r));
        }
        return 0;
}

int cfctl_print_json(struct json_object *o) {
        int flags = arg_json == JSON_SHORT ? JSON_C_TO_STRING_PLAIN
                                           : JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED;

        puts(json_object_to_json_string_ext(o, flags | JSON_C_TO_STRING_NOSLASHESCAPE));
        return 0;
}

static const char *jstr(struct json_object *o, const char *key) {
        struct json_object *v;

        if (!o || !json_object_object_get_ex(o, key, &v) || !v)
                return NULL;
        return json_object_get_string(v);
}

static int64_t jint(struct json_object *o, const char *key, int64_t def) {
        struct json_object *v;

        if (!o || !json_object_object_get_ex(o, key, &v) || !v)
                return def;
        return json_object_get_int64(v);
}

static bool jbool(struct json_object *o, const char *key) {
        struct json_object *v;

        return o && json_object_object_get_ex(o, key, &v) && v && json_object_get_boolean(v);
}

static struct json_object *jget(struct json_object *o, const char *key) {
        struct json_object *v;

        if (!o || !json_object_object_get_ex(o, key, &v))
                return NULL;
        return v;
}

static struct json_object *find_tap(struct json_object *slot, const char *kind) {
        struct json_object *taps = jget(slot, "taps");

        for (size_t i = 0; taps && i < json_object_array_length(taps); i++) {
                struct json_object *t = json_object_array_get_idx(taps, i);
                if (streq_ptr(jstr(t, "kind"), kind))
                        return t;
        }
        return NULL;
}

static const char *tap_cell(struct json_object *t, char *buf, size_t n) {
        if (!t)
                return "-";
        (void) snprintf(buf, n, "%s%s", jstr(t, "name"), jbool(t, "present") ? "" : "(missing)");
        return buf;
}

static void print_network(struct json_object *o) {
        struct json_object *bridges = jget(o, "bridges"), *slots = jget(o, "slots"),
                           *conflicts = jget(o, "conflicts");
        size_t n_leases = 0;

        printf("Network: %s", strempty(jstr(o, "state")));
        if (jstr(o, "error"))
                printf(" (%s)", jstr(o, "error"));
        printf("\n  Slots: %" PRIi64 "   Links: %" PRIi64 "   Firewall: %s%s   Repairs: %" PRIi64 "\n",
               jint(o, "slot_count", 0),
               jint(o, "links", 0),
               strempty(jstr(o, "firewall")),
               jbool(o, "nft_table_present") ? "" : " (table absent)",
               jint(o, "repairs", 0));

        for (size_t i = 0; bridges && i < json_object_array_length(bridges); i++) {
                struct json_object *b = json_object_array_get_idx(bridges, i), *d = jget(b, "dnsmasq");

                printf("  Bridge %s: %s%s%s",
                       strempty(jstr(b, "name")),
                       jbool(b, "present") ? "present" : "MISSING",
                       jbool(b, "managed") ? ", " : " (not managed by this service)",
                       strempty(jstr(b, "address")));
                if (d)
                        printf(", dnsmasq %s (restarts %" PRIi64 ", leases %" PRIi64 ")",
                               jbool(d, "running") ? "running" : "NOT RUNNING",
                               jint(d, "restarts", 0),
                               jint(d, "leases", 0));
                putchar('\n');
        }
        for (size_t i = 0; conflicts && i < json_object_array_length(conflicts); i++)
                printf("  Conflict: %s\n", json_object_get_string(json_object_array_get_idx(conflicts, i)));

        if (arg_legend)
                printf("\n%-4s %-4s %-15s %-15s %-18s %-18s %s\n",
                       "SLOT",
                       "CID",
                       "ETHERNET",
                       "WIFI",
                       "MOBILE",
                       "WIFIAP",
                       "LEASES");
        for (size_t i = 0; slots && i < json_object_array_length(slots); i++) {
                struct json_object *s = json_object_array_get_idx(slots, i);
                struct json_object *e = find_tap(s, "ethernet"), *w = find_tap(s, "wifi");
                struct json_object *mo = find_tap(s, "mobile"), *ap = find_tap(s, "wifiap");
                char eb[32], wb[32], leases[96] = "";
                struct json_object *le = jget(e, "lease"), *lw = jget(w, "lease");

                if (le || lw) {
                        (void) snprintf(leases,
                                        sizeof(leases),
                                        "%s%s%s",
                                        le ? strempty(jstr(le, "ip")) : "",
                                        le && lw ? "," : "",
                                        lw ? strempty(jstr(lw, "ip")) : "");
                        n_leases++;
                }
                printf("%-4" PRIi64 " %-4" PRIi64 " %-15s %-15s %-18s %-18s %s\n",
                       jint(s, "number", 0),
                       jint(s, "vsock_cid", 0),
                       tap_cell(e, eb, sizeof(eb)),
                       tap_cell(w, wb, sizeof(wb)),
                       mo ? strempty(jstr(mo, "address")) : "-",
                       ap ? strempty(jstr(ap, "address")) : "-",
                       leases[0] ? leases : "-");
        }
        if (arg_legend)
                printf("\n%zu slots listed, %zu with a guest lease.\n",
                       slots ? json_object_array_length(slots) : 0,
                       n_leases);
}

static int verb_network_status(sd_bus *bus) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(json_object_putp) struct json_object *o = NULL;
        const char *text;
        int r;

        r = bus_call(bus, "DescribeNetwork", "describe the network", &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "s", &text);
        if (r < 0)
                return log_error_errno(r, "Failed to parse reply: %m");
        o = json_tokener_parse(text);
        if (!o)
                return log_error_errno(-EBADMSG, "The service sent malformed JSON.");

        if (arg_json != JSON_OFF)
                return cfctl_print_json(o);
        print_network(o);
        return 0;
}

static int verb_network(sd_bus *bus, int argc, char *argv[]) {
        const char *action = argc > 1 ? argv[1] : "status";
        int r;

        if (streq(action, "status"))
                return verb_network_status(bus);
        if (streq(action, "up")) {
                r = bus_call(bus, "SetupNetwork", "set up the network", NULL);
                if (r < 0)
                        return r;
                if (!arg_quiet)
                        fprintf(stderr, "Network is up.\n");
                return 0;
        }
        if (streq(action, "down")) {
                r = bus_call(bus, "TeardownNetwork", "tear down the network", NULL);
                if (r < 0)
                        return r;
                if (!arg_quiet)
                        fprintf(stderr, "Network is down: links, firewall table and dnsmasq removed.\n");
                return 0;
        }
        log_error("Unknown network action '%s': use 'up', 'down' or 'status'.", action);
        return R_USAGE;
}

static int verb_reload(sd_bus *bus, int argc, char *argv[]) {
        int r;

        r = bus_call(bus, "Reload", "reload the configuration", NULL);
        if (r < 0)
                return r;
        if (!arg_quiet)
                fprintf(stderr, "Configuration reloaded.\n");
        return 0;
}

static const Verb verbs[] = {
        { "start", 1, 1, verb_start },      { "stop", 2, 64, verb_stop },
        { "kill", 2, 64, verb_kill },       { "restart", 2, 64, verb_restart },
        { "suspend", 2, 64, verb_suspend }, { "resume", 2, 64, verb_resume },
        { "rm", 2, 64, verb_rm },           { "list", 1, 1, verb_list },
        { "status", 1, 2, verb_status },    { "show", 2, 2, verb_show },
        { "logs", 2, 2, verb_logs },        { "monitor", 1, 1, verb_monitor },
        { "doctor", 1, 1, verb_doctor },    { "network", 1, 2, verb_network },
        { "reload", 1, 1, verb_reload },
};

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
               "     --crosvm-disable-sandbox\n"
               "     --wait           Show progress on stderr until booted or failed\n"
               "     --timeout=SEC    Give up waiting after SEC seconds (default 300)\n"
               "  -s --signal=SIG     kill: signal name or number (default TERM)\n"
               "  -f --follow         logs: keep printing as the console grows\n"
               "\n"
               "DBUS_SYSTEM_BUS_ADDRESS selects the bus. See cfctl(1).\n");
}

static int parse_argv(int argc, char *argv[]) {
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
                { "stop-timeout-sec", required_argument, NULL, ARG_STOP_TIMEOUT },
                { "wait", no_argument, NULL, ARG_WAIT },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                { "signal", required_argument, NULL, 's' },
                { "follow", no_argument, NULL, 'f' },
                {}
        };
        int c;

        /* Options may come before or after the verb ("cfctl start --kernel=..."). */
        while ((c = getopt_long(argc, argv, "hqs:f", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("cfctl %s\n", PACKAGE_VERSION);
                        return 0;
                case ARG_JSON:
                        if (!optarg || streq(optarg, "pretty"))
                                arg_json = JSON_PRETTY;
                        else if (streq(optarg, "short"))
                                arg_json = JSON_SHORT;
                        else if (streq(optarg, "off"))
                                arg_json = JSON_OFF;
                        else if (streq(optarg, "help")) {
                                puts("pretty\nshort\noff");
                                return 0;
                        } else {
                                log_error("Unknown --json mode '%s': use pretty, short or off.", optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_NO_LEGEND:
                        arg_legend = false;
                        break;
                case ARG_NO_ASK_PASSWORD:
                        arg_ask_password = false;
                        break;
                case 'q':
                        arg_quiet = true;
                        break;
                case ARG_BACKEND:
                        arg_start.backend = optarg;
                        break;
                case ARG_NUMBER:
                        if (parse_u32_arg("number", optarg, &arg_start.number) < 0)
                                return -EINVAL;
                        arg_start.has_number = true;
                        break;
                case ARG_CPUS:
                        if (parse_u32_arg("cpus", optarg, &arg_start.cpus) < 0)
                                return -EINVAL;
                        arg_start.has_cpus = true;
                        break;
                case ARG_MEMORY_MB:
                        if (parse_u32_arg("memory-mb", optarg, &arg_start.memory_mb) < 0)
                                return -EINVAL;
                        arg_start.has_memory_mb = true;
                        break;
                case ARG_BOOT_TIMEOUT:
                        if (parse_u32_arg("boot-timeout-sec", optarg, &arg_start.boot_timeout_sec) < 0)
                                return -EINVAL;
                        arg_start.has_boot_timeout = true;
                        break;
                case ARG_STOP_TIMEOUT:
                        if (parse_u32_arg("stop-timeout-sec", optarg, &arg_start.stop_timeout_sec) < 0)
                                return -EINVAL;
                        arg_start.has_stop_timeout = true;
                        break;
                case ARG_KERNEL:
                case ARG_INITRD:
                case ARG_HOST_PACKAGE:
                case ARG_IMAGES_DIR:
                case ARG_BIOS:
                case ARG_DISK: {
                        char *p;
                        if (absolute_path(optarg, &p) < 0)
                                return log_oom();
                        if (c == ARG_DISK) {
                                if (strv_push(&arg_start.disks, p) < 0)
                                        return log_oom();
                        } else {
                                char **dest = c == ARG_KERNEL           ? &arg_start.kernel
                                                : c == ARG_INITRD       ? &arg_start.initrd
                                                : c == ARG_HOST_PACKAGE ? &arg_start.host_package
                                                : c == ARG_BIOS         ? &arg_start.bios
                                                                        : &arg_start.images_dir;
                                /* The last one given counts. */
                                free(*dest);
                                *dest = p;
                        }
                        break;
                }
                case ARG_CMDLINE:
                        arg_start.cmdline = optarg;
                        break;
                case ARG_GPU_MODE:
                        arg_start.gpu_mode = optarg;
                        break;
                case ARG_RESTART:
                        arg_start.restart = optarg;
                        break;
                case ARG_BOOT_MARKER:
                        arg_start.boot_marker = optarg;
                        break;
                case ARG_EXTRA_ARG:
                        if (strv_push(&arg_start.extra_args, strdup(optarg)) < 0)
                                return log_oom();
                        break;
                case ARG_NO_START:
                        arg_start.no_start = true;
                        break;
                case ARG_CROSVM_DISABLE_SANDBOX:
                        arg_start.crosvm_disable_sandbox = true;
                        break;
                case ARG_WAIT:
                        arg_wait = true;
                        break;
                case ARG_TIMEOUT:
                        if (parse_u32_arg("timeout", optarg, &arg_timeout) < 0)
                                return -EINVAL;
                        break;
                case 's': {
                        uint32_t n;
                        int sig = parse_uint32(optarg, &n) >= 0 ? (int) n : 0;
                        const char *name = strncasecmp(optarg, "SIG", 3) == 0 ? optarg + 3 : optarg;

                        for (int k = 1; !sig && k < NSIG; k++)
                                if (sigabbrev_np(k) && strcasecmp(name, sigabbrev_np(k)) == 0)
                                        sig = k;
                        if (sig <= 0 || sig >= NSIG) {
                                log_error("Unknown signal '%s': give a name (TERM, KILL, ...) or a number.",
                                          optarg);
                                return -EINVAL;
                        }
                        arg_signal = sig;
                        break;
                }
                case 'f':
                        arg_follow = true;
                        break;
                default:
                        return -EINVAL;
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
        arg_start = (typeof(arg_start)){};
        arg_json = JSON_OFF;
        arg_legend = arg_ask_password = true;
        arg_quiet = arg_wait = arg_follow = false;
        arg_timeout = 300;
        arg_signal = SIGTERM;
        /* getopt_long starts afresh (and re-reads its own state) with optind 0. */
        optind = 0;
}

int cfctl_parse(int argc, char *argv[], int *ret_verb, int *ret_exit) {
        int r, n;

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
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(argv[optind], verbs[i].name))
                        *ret_verb = (int) i;
        if (*ret_verb < 0) {
                log_error("Unknown command '%s'. See 'cfctl --help' for the list.", argv[optind]);
                return -EINVAL;
        }
        n = argc - optind;
        if ((unsigned) n < verbs[*ret_verb].min_args || (unsigned) n > verbs[*ret_verb].max_args) {
                log_error("Wrong number of arguments for '%s'. See 'cfctl --help'.", verbs[*ret_verb].name);
                *ret_verb = -1;
                return -EINVAL;
        }
        return 1;
}

static int run(int argc, char *argv[], int *ret_exit) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        const Verb *verb;
        int r, n, v;

        log_open();
        r = cfctl_parse(argc, argv, &v, ret_exit);
        if (r <= 0)
                return r;
        verb = &verbs[v];
        n = argc - optind;

        *ret_exit = EXIT_FAILURE;
        r = sd_bus_error_add_map(cf_bus_errors);
        if (r < 0)
                return log_error_errno(r, "Failed to register error map: %m");
        r = sd_bus_default_system(&bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m. Is dbus running?");

        /* Verbs that change something may need polkit to ask for a password. */
        if (!streq(verb->name, "list") && !streq(verb->name, "status") && !streq(verb->name, "show") &&
            !streq(verb->name, "logs") && !streq(verb->name, "monitor") && !streq(verb->name, "doctor") &&
            !(streq(verb->name, "network") && (n < 2 || streq(argv[optind + 1], "status"))))
                cfctl_agent_open();
        r = verb->dispatch(bus, n, argv + optind);
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
