/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "build-config.h"
#include "bus-errors.h"
#include "json-util.h"
#include "log.h"
#include "manager.h"
#include "util.h"

#define EXIT_USAGE 2
/* A verb's return for "the user asked wrongly": exit 2, not 1. Outside the errno range. */
#define R_USAGE (-4096)

typedef enum JsonMode {
        JSON_OFF,
        JSON_PRETTY,
        JSON_SHORT,
} JsonMode;

static JsonMode arg_json = JSON_OFF;
static bool arg_legend = true;
static bool arg_ask_password = true;
static bool arg_quiet = false;

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

        /* Setting up 250 slots takes well under a second; still allow for a slow host. */
        r = sd_bus_call(bus, m, 120 * USEC_PER_SEC, &error, ret_reply);
        if (r < 0) {
                if (sd_bus_error_has_name(&error, SD_BUS_ERROR_SERVICE_UNKNOWN) ||
                    sd_bus_error_has_name(&error, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                        return log_error_errno(r, "Failed to %s: the service is not running. Start it with "
                                                  "'systemctl start cuttlefish-host-resources'.", what);
                return log_error_errno(r, "Failed to %s: %s", what, error.message ?: strerror(-r));
        }
        return 0;
}

static int print_json(struct json_object *o) {
        int flags = arg_json == JSON_SHORT ? JSON_C_TO_STRING_PLAIN : JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED;

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
        struct json_object *bridges = jget(o, "bridges"), *slots = jget(o, "slots"), *conflicts = jget(o, "conflicts");
        size_t n_leases = 0;

        printf("Network: %s", strempty(jstr(o, "state")));
        if (jstr(o, "error"))
                printf(" (%s)", jstr(o, "error"));
        printf("\n  Slots: %" PRIi64 "   Links: %" PRIi64 "   Firewall: %s%s   Repairs: %" PRIi64 "\n",
               jint(o, "slot_count", 0), jint(o, "links", 0), strempty(jstr(o, "firewall")),
               jbool(o, "nft_table_present") ? "" : " (table absent)", jint(o, "repairs", 0));

        for (size_t i = 0; bridges && i < json_object_array_length(bridges); i++) {
                struct json_object *b = json_object_array_get_idx(bridges, i), *d = jget(b, "dnsmasq");

                printf("  Bridge %s: %s%s%s", strempty(jstr(b, "name")), jbool(b, "present") ? "present" : "MISSING",
                       jbool(b, "managed") ? ", " : " (not managed by this service)", strempty(jstr(b, "address")));
                if (d)
                        printf(", dnsmasq %s (restarts %" PRIi64 ", leases %" PRIi64 ")",
                               jbool(d, "running") ? "running" : "NOT RUNNING", jint(d, "restarts", 0),
                               jint(d, "leases", 0));
                putchar('\n');
        }
        for (size_t i = 0; conflicts && i < json_object_array_length(conflicts); i++)
                printf("  Conflict: %s\n", json_object_get_string(json_object_array_get_idx(conflicts, i)));

        if (arg_legend)
                printf("\n%-4s %-4s %-15s %-15s %-18s %-18s %s\n", "SLOT", "CID", "ETHERNET", "WIFI", "MOBILE",
                       "WIFIAP", "LEASES");
        for (size_t i = 0; slots && i < json_object_array_length(slots); i++) {
                struct json_object *s = json_object_array_get_idx(slots, i);
                struct json_object *e = find_tap(s, "ethernet"), *w = find_tap(s, "wifi");
                struct json_object *mo = find_tap(s, "mobile"), *ap = find_tap(s, "wifiap");
                char eb[32], wb[32], leases[96] = "";
                struct json_object *le = jget(e, "lease"), *lw = jget(w, "lease");

                if (le || lw) {
                        (void) snprintf(leases, sizeof(leases), "%s%s%s", le ? strempty(jstr(le, "ip")) : "",
                                        le && lw ? "," : "", lw ? strempty(jstr(lw, "ip")) : "");
                        n_leases++;
                }
                printf("%-4" PRIi64 " %-4" PRIi64 " %-15s %-15s %-18s %-18s %s\n", jint(s, "number", 0),
                       jint(s, "vsock_cid", 0), tap_cell(e, eb, sizeof(eb)), tap_cell(w, wb, sizeof(wb)),
                       mo ? strempty(jstr(mo, "address")) : "-", ap ? strempty(jstr(ap, "address")) : "-",
                       leases[0] ? leases : "-");
        }
        if (arg_legend)
                printf("\n%zu slots listed, %zu with a guest lease.\n", slots ? json_object_array_length(slots) : 0,
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
                return print_json(o);
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
        { "network", 1, 2, verb_network },
        { "reload", 1, 1, verb_reload },
};

static void help(void) {
        printf("Usage: cfctl [OPTIONS] COMMAND ...\n"
               "\n"
               "Control cuttlefish-host-resources: the host network for Android Cuttlefish devices.\n"
               "\n"
               "Commands:\n"
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
               "DBUS_SYSTEM_BUS_ADDRESS selects the bus. See cfctl(1).\n");
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_JSON,
                ARG_NO_LEGEND,
                ARG_NO_ASK_PASSWORD,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "json", optional_argument, NULL, ARG_JSON },
                { "no-legend", no_argument, NULL, ARG_NO_LEGEND },
                { "no-ask-password", no_argument, NULL, ARG_NO_ASK_PASSWORD },
                { "quiet", no_argument, NULL, 'q' },
                {}
        };
        int c;

        /* "+": stop at the first non-option, so verb arguments are the verb's. */
        while ((c = getopt_long(argc, argv, "+hq", options, NULL)) >= 0)
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
                default:
                        return -EINVAL;
                }
        return 1;
}

static int run(int argc, char *argv[], int *ret_exit) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        const Verb *verb = NULL;
        int r, n;

        *ret_exit = EXIT_USAGE;
        log_open();
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
                        verb = &verbs[i];
        if (!verb) {
                log_error("Unknown command '%s'. See 'cfctl --help' for the list.", argv[optind]);
                return -EINVAL;
        }
        n = argc - optind;
        if ((unsigned) n < verb->min_args || (unsigned) n > verb->max_args) {
                log_error("Wrong number of arguments for '%s'. See 'cfctl --help'.", verb->name);
                return -EINVAL;
        }

        *ret_exit = EXIT_FAILURE;
        r = sd_bus_error_add_map(cf_bus_errors);
        if (r < 0)
                return log_error_errno(r, "Failed to register error map: %m");
        r = sd_bus_default_system(&bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m. Is dbus running?");

        r = verb->dispatch(bus, n, argv + optind);
        if (r == R_USAGE) {
                *ret_exit = EXIT_USAGE;
                return r;
        }
        if (r >= 0)
                *ret_exit = EXIT_SUCCESS;
        return r;
}

int main(int argc, char *argv[]) {
        int code;

        (void) run(argc, argv, &code);
        return code;
}
