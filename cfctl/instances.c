/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cfctl's instance verbs: start, stop, kill, restart, suspend, resume, rm, list, status, show,
 * logs, monitor. */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "cfctl/cfctl.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/bus-api.h"
#include "common/macro.h"
#include "common/parse-util.h"
#include "common/strv.h"
#include "common/time-util.h"


/* A variant of a basic type or an array of strings, as JSON. */
static int variant_to_json(sd_bus_message *m, struct json_object **ret) {
        const char *contents;
        char type;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(m, 'v', contents);
        if (r < 0)
                return r;

        if (streq(contents, "s") || streq(contents, "o")) {
                const char *s;
                r = sd_bus_message_read_basic(m, contents[0], &s);
                *ret = r >= 0 ? json_object_new_string(s) : NULL;
        } else if (streq(contents, "u")) {
                uint32_t u;
                r = sd_bus_message_read_basic(m, 'u', &u);
                *ret = json_object_new_int64(u);
        } else if (streq(contents, "i")) {
                int32_t i;
                r = sd_bus_message_read_basic(m, 'i', &i);
                *ret = json_object_new_int(i);
        } else if (streq(contents, "t")) {
                uint64_t t;
                r = sd_bus_message_read_basic(m, 't', &t);
                *ret = json_object_new_int64((int64_t) t);
        } else if (streq(contents, "b")) {
                int b;
                r = sd_bus_message_read_basic(m, 'b', &b);
                *ret = json_object_new_boolean(b);
        } else if (streq(contents, "as")) {
                _cleanup_(strv_freep) char **l = NULL;
                r = sd_bus_message_read_strv(m, &l);
                *ret = json_object_new_array();
                STRV_FOREACH (s, l)
                        json_object_array_add(*ret, json_object_new_string(*s));
        } else {
                r = sd_bus_message_skip(m, contents);
                *ret = NULL;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

/* Properties of interface from an a{sv} into a JSON object. */
static int props_to_json(sd_bus_message *m, struct json_object *o) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                struct json_object *v = NULL;
                const char *name;

                r = sd_bus_message_read(m, "s", &name);
                if (r < 0)
                        return r;
                r = variant_to_json(m, &v);
                if (r < 0)
                        return r;
                json_object_object_add(o, name, v);
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

/* All instances' properties, by number, from one GetManagedObjects call. */
static int fetch_instances(sd_bus *bus, struct json_object **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(json_object_putp) struct json_object *arr = json_object_new_array();
        int r;

        r = sd_bus_call_method(
                        bus,
                        BUS_NAME,
                        MANAGER_PATH,
                        "org.freedesktop.DBus.ObjectManager",
                        "GetManagedObjects",
                        &error,
                        &reply,
                        NULL);
        if (r < 0)
                return cfctl_bus_error(r, &error, "list instances");

        r = sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(reply, 'e', "oa{sa{sv}}")) > 0) {
                const char *path;

                r = sd_bus_message_read(reply, "o", &path);
                if (r < 0)
                        return r;
                r = sd_bus_message_enter_container(reply, 'a', "{sa{sv}}");
                if (r < 0)
                        return r;
                while ((r = sd_bus_message_enter_container(reply, 'e', "sa{sv}")) > 0) {
                        const char *iface;

                        r = sd_bus_message_read(reply, "s", &iface);
                        if (r < 0)
                                return r;
                        if (streq(iface, INSTANCE_INTERFACE)) {
                                struct json_object *o = json_object_new_object();
                                r = props_to_json(reply, o);
                                if (r < 0) {
                                        json_object_put(o);
                                        return r;
                                }
                                json_object_array_add(arr, o);
                        } else {
                                r = sd_bus_message_skip(reply, "a{sv}");
                                if (r < 0)
                                        return r;
                        }
                        r = sd_bus_message_exit_container(reply);
                        if (r < 0)
                                return r;
                }
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(arr);
        return 0;
}

static int64_t jget_int(struct json_object *o, const char *k) {
        struct json_object *v;
        return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

static const char *jget_str(struct json_object *o, const char *k) {
        struct json_object *v;
        return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

static bool jget_bool(struct json_object *o, const char *k) {
        struct json_object *v;
        return json_object_object_get_ex(o, k, &v) && json_object_get_boolean(v);
}

/* The keys DESIGN.md §10 fixes for list --json. */
static struct json_object *list_entry(struct json_object *p) {
        struct json_object *o = json_object_new_object(), *taps;

        json_object_object_add(o, "number", json_object_new_int64(jget_int(p, "Number")));
        json_object_object_add(o, "owner", json_object_new_int64(jget_int(p, "Owner")));
        json_object_object_add(o, "backend", json_object_new_string(jget_str(p, "Backend")));
        json_object_object_add(o, "state", json_object_new_string(jget_str(p, "State")));
        json_object_object_add(o, "reason", json_object_new_string(jget_str(p, "StateReason")));
        json_object_object_add(o, "booted", json_object_new_boolean(jget_bool(p, "Booted")));
        json_object_object_add(o, "pid", json_object_new_int64(jget_int(p, "MainPid")));
        json_object_object_add(o, "cid", json_object_new_int64(jget_int(p, "VsockCid")));
        json_object_object_add(
                        o,
                        "taps",
                        json_object_object_get_ex(p, "Taps", &taps) ? json_object_get(taps)
                                                                    : json_object_new_array());
        json_object_object_add(o, "restart_count", json_object_new_int64(jget_int(p, "RestartCount")));
        json_object_object_add(o, "status", json_object_new_string(jget_str(p, "StatusText")));
        return o;
}

int verb_list(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(json_object_putp) struct json_object *all = NULL, *out = json_object_new_array();
        size_t n;
        int r;

        r = fetch_instances(bus, &all);
        if (r < 0)
                return r;
        n = json_object_array_length(all);
        for (size_t k = 0; k < n; k++)
                json_object_array_add(out, list_entry(json_object_array_get_idx(all, k)));
        json_object_array_sort(out, cfctl_compare_number);

        if (arg_json != JSON_OFF)
                return cfctl_print_json(out);
        if (arg_legend)
                printf("%-4s %-6s %-7s %-10s %-12s %-6s %-8s %-4s %s\n",
                       "NUM",
                       "OWNER",
                       "BACKEND",
                       "STATE",
                       "REASON",
                       "BOOTED",
                       "PID",
                       "CID",
                       "TAPS");
        for (size_t k = 0; k < n; k++) {
                struct json_object *o = json_object_array_get_idx(out, k), *taps;
                char tapbuf[64] = "";

                if (json_object_object_get_ex(o, "taps", &taps) && json_object_array_length(taps) > 0)
                        (void) snprintf(tapbuf,
                                        sizeof(tapbuf),
                                        "%s,...",
                                        json_object_get_string(json_object_array_get_idx(taps, 0)));
                printf("%-4" PRIi64 " %-6" PRIi64 " %-7s %-10s %-12s %-6s %-8" PRIi64 " %-4" PRIi64 " %s\n",
                       jget_int(o, "number"),
                       jget_int(o, "owner"),
                       jget_str(o, "backend"),
                       jget_str(o, "state"),
                       jget_str(o, "reason"),
                       yes_no(jget_bool(o, "booted")),
                       jget_int(o, "pid"),
                       jget_int(o, "cid"),
                       tapbuf);
        }
        if (arg_legend)
                printf("\n%zu instances listed.\n", n);
        return 0;
}

static struct json_object *find_instance(struct json_object *all, unsigned number) {
        for (size_t k = 0; k < json_object_array_length(all); k++) {
                struct json_object *p = json_object_array_get_idx(all, k);
                if ((unsigned) jget_int(p, "Number") == number)
                        return p;
        }
        return NULL;
}

int cfctl_parse_number(const char *s, unsigned *ret) {
        uint32_t n;

        if (parse_uint32(s, &n) < 0 || n < 1) {
                log_error("'%s' is not an instance number. 'cfctl list' shows them.", s);
                return R_USAGE;
        }
        *ret = n;
        return 0;
}

/* Instance N's properties, or an error that says it does not exist. */
static int instance_props(sd_bus *bus, unsigned number, struct json_object **ret) {
        _cleanup_(json_object_putp) struct json_object *all = NULL;
        struct json_object *p;
        int r;

        r = fetch_instances(bus, &all);
        if (r < 0)
                return r;
        p = find_instance(all, number);
        if (!p)
                return log_error_errno(
                                -ENOENT,
                                "No instance %u. 'cfctl list' shows the instances that exist.",
                                number);
        *ret = json_object_get(p);
        return 0;
}

int verb_show(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(json_object_putp) struct json_object *p = NULL;
        unsigned number;
        int r;

        r = cfctl_parse_number(argv[1], &number);
        if (r < 0)
                return r;
        r = instance_props(bus, number, &p);
        if (r < 0)
                return r;
        if (arg_json != JSON_OFF)
                return cfctl_print_json(p);
        json_object_object_foreach(p, key, val)
                        printf("%s=%s\n", key, val ? json_object_get_string(val) : "");
        return 0;
}

int verb_status(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(json_object_putp) struct json_object *p = NULL;
        unsigned number;
        int r;

        if (argc < 2)
                return verb_list(bus, argc, argv);
        r = cfctl_parse_number(argv[1], &number);
        if (r < 0)
                return r;
        r = instance_props(bus, number, &p);
        if (r < 0)
                return r;
        if (arg_json != JSON_OFF) {
                _cleanup_(json_object_putp) struct json_object *o = list_entry(p);
                return cfctl_print_json(o);
        }
        printf("Instance %u (%s, uid %" PRIi64 ")\n", number, jget_str(p, "Backend"), jget_int(p, "Owner"));
        printf("     State: %s (%s)%s%s\n",
               jget_str(p, "State"),
               jget_str(p, "StateReason"),
               *jget_str(p, "StatusText") ? ": " : "",
               jget_str(p, "StatusText"));
        printf("    Booted: %s\n", yes_no(jget_bool(p, "Booted")));
        printf("  Main PID: %" PRIi64 "\n", jget_int(p, "MainPid"));
        printf(" Vsock CID: %" PRIi64 "\n", jget_int(p, "VsockCid"));
        printf("  Restarts: %" PRIi64 " (policy %s)\n",
               jget_int(p, "RestartCount"),
               jget_str(p, "RestartPolicy"));
        printf("   Console: %s\n", jget_str(p, "ConsoleLog"));
        return 0;
}

static int call_instance(
                sd_bus *bus, unsigned number, const char *method, const char *what, const char *sig, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        path = cf_instance_path(number);
        if (!path)
                return log_oom();
        r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, path, INSTANCE_INTERFACE, method);
        if (r < 0)
                return r;
        (void) sd_bus_message_set_allow_interactive_authorization(m, arg_ask_password);
        if (sig) {
                va_list ap;
                va_start(ap, sig);
                r = sd_bus_message_appendv(m, sig, ap);
                va_end(ap);
                if (r < 0)
                        return r;
        }
        r = sd_bus_call(bus, m, 330 * USEC_PER_SEC, &error, &reply);
        if (r < 0) {
                if (sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_OBJECT) ||
                    sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_METHOD))
                        return log_error_errno(
                                        -ENOENT,
                                        "No instance %u. 'cfctl list' shows the instances that exist.",
                                        number);
                return cfctl_bus_error(r, &error, what);
        }
        return 0;
}

#define DEFINE_SIMPLE_VERB(verb, method, what)                              \
        int verb_##verb(sd_bus *bus, int argc, char *argv[]) {              \
                for (int k = 1; k < argc; k++) {                            \
                        unsigned number;                                    \
                        int r = cfctl_parse_number(argv[k], &number);       \
                        if (r < 0)                                          \
                                return r;                                   \
                        r = call_instance(bus, number, method, what, NULL); \
                        if (r < 0)                                          \
                                return r;                                   \
                }                                                           \
                return 0;                                                   \
        }

DEFINE_SIMPLE_VERB(stop, "Stop", "stop the instance");
DEFINE_SIMPLE_VERB(restart, "Restart", "restart the instance");
DEFINE_SIMPLE_VERB(suspend, "Suspend", "suspend the instance");
DEFINE_SIMPLE_VERB(resume, "Resume", "resume the instance");
DEFINE_SIMPLE_VERB(rm, "Remove", "remove the instance");

int verb_kill(sd_bus *bus, int argc, char *argv[]) {
        for (int k = 1; k < argc; k++) {
                unsigned number;
                int r = cfctl_parse_number(argv[k], &number);
                if (r < 0)
                        return r;
                r = call_instance(bus, number, "Kill", "kill the instance", "i", arg_signal);
                if (r < 0)
                        return r;
        }
        return 0;
}

int verb_start(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *path;
        uint32_t number;
        int r;

        r = sd_bus_message_new_method_call(
                        bus, &m, BUS_NAME, MANAGER_PATH, MANAGER_INTERFACE, "CreateInstance");
        if (r < 0)
                return r;
        (void) sd_bus_message_set_allow_interactive_authorization(m, arg_ask_password);
        r = cfctl_append_start_options(m);
        if (r < 0)
                return r;
        r = sd_bus_call(bus, m, 330 * USEC_PER_SEC, &error, &reply);
        if (r < 0)
                return cfctl_bus_error(r, &error, "create the instance");
        r = sd_bus_message_read(reply, "uo", &number, &path);
        if (r < 0)
                return r;

        if (arg_wait) {
                uint64_t deadline = now_usec(CLOCK_MONOTONIC) +
                                (uint64_t) arg_timeout * USEC_PER_SEC;
                _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *match = NULL;
                _cleanup_free_ char *last_state = NULL;

                /* Wake up on the instance's PropertiesChanged rather than polling. */
                r = sd_bus_match_signal(
                                bus,
                                &match,
                                BUS_NAME,
                                path,
                                "org.freedesktop.DBus.Properties",
                                "PropertiesChanged",
                                NULL,
                                NULL);
                if (r < 0)
                        return log_error_errno(
                                        r, "Failed to subscribe to instance %u's changes: %m", number);

                for (;;) {
                        _cleanup_(json_object_putp) struct json_object *p = NULL;
                        const char *state;

                        r = instance_props(bus, number, &p);
                        if (r < 0)
                                return r;
                        state = jget_str(p, "State");
                        if (!last_state || !streq(last_state, state)) {
                                fprintf(stderr,
                                        "Instance %u: %s%s%s\n",
                                        number,
                                        state,
                                        *jget_str(p, "StatusText") ? ": " : "",
                                        jget_str(p, "StatusText"));
                                free(last_state);
                                last_state = strdup(state);
                        }
                        if (jget_bool(p, "Booted")) {
                                fprintf(stderr, "Instance %u: booted\n", number);
                                break;
                        }
                        if (streq(state, "failed") || streq(state, "stopped"))
                                return log_error_errno(
                                                -EIO,
                                                "Instance %u %s (%s) before it booted. 'cfctl logs %u' "
                                                "shows its console.",
                                                number,
                                                state,
                                                jget_str(p, "StateReason"),
                                                number);
                        if (now_usec(CLOCK_MONOTONIC) > deadline)
                                return log_error_errno(
                                                -ETIMEDOUT,
                                                "Instance %u did not boot within %u s (still %s).",
                                                number,
                                                arg_timeout,
                                                state);
                        /* Wait for the next change signal (bounded, in case one is missed), then look. */
                        r = sd_bus_wait(bus, USEC_PER_SEC);
                        if (r < 0)
                                return r;
                        while ((r = sd_bus_process(bus, NULL)) > 0)
                                ;
                }
        }
        printf("%u\n", number);
        return 0;
}

int verb_logs(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(json_object_putp) struct json_object *p = NULL;
        _cleanup_close_ int fd = -EBADF, ino = -EBADF;
        char buf[65536];
        unsigned number;
        const char *path;
        int r;

        r = cfctl_parse_number(argv[1], &number);
        if (r < 0)
                return r;
        r = instance_props(bus, number, &p);
        if (r < 0)
                return r;
        path = jget_str(p, "ConsoleLog");
        /* Opened with the caller's own rights: the console belongs to the instance's owner. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_error_errno(
                                -errno,
                                "Cannot read the console of instance %u (%s): %m. It is readable by "
                                "its owner (uid %" PRIi64 ") and root.",
                                number,
                                path,
                                jget_int(p, "Owner"));
        if (arg_follow) {
                ino = inotify_init1(IN_CLOEXEC);
                if (ino < 0 || inotify_add_watch(ino, path, IN_MODIFY | IN_DELETE_SELF | IN_MOVE_SELF) < 0)
                        return log_error_errno(-errno, "Cannot follow %s: %m", path);
        }
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));

                if (n < 0)
                        return log_error_errno(-errno, "Reading %s: %m", path);
                if (n > 0) {
                        if (fwrite(buf, 1, (size_t) n, stdout) != (size_t) n)
                                return -EIO;
                        continue;
                }
                (void) fflush(stdout);
                if (!arg_follow)
                        return 0;
                /* Wait for more, but notice when the instance stops or goes away. */
                r = poll(&(struct pollfd){ .fd = ino, .events = POLLIN }, 1, 1000);
                if (r > 0) {
                        char ev[4096];
                        (void) !read(ino, ev, sizeof(ev));
                } else if (r == 0) {
                        _cleanup_(json_object_putp) struct json_object *q = NULL;
                        if (instance_props(bus, number, &q) < 0)
                                return 0;
                        const char *st = jget_str(q, "State");
                        if (streq(st, "stopped") || streq(st, "failed"))
                                return 0;
                }
        }
}

static int on_monitor_signal(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *member = sd_bus_message_get_member(m), *path = sd_bus_message_get_path(m);
        _cleanup_(json_object_putp) struct json_object *o = json_object_new_object();
        int r;

        json_object_object_add(o, "signal", json_object_new_string(strempty(member)));
        json_object_object_add(o, "path", json_object_new_string(strempty(path)));
        if (streq_ptr(member, "PropertiesChanged")) {
                const char *iface;
                struct json_object *props = json_object_new_object();

                r = sd_bus_message_read(m, "s", &iface);
                if (r >= 0)
                        r = props_to_json(m, props);
                json_object_object_add(o, "interface", json_object_new_string(r >= 0 ? iface : ""));
                json_object_object_add(o, "changed", props);
        } else if (streq_ptr(member, "InstanceNew") || streq_ptr(member, "InstanceRemoved")) {
                uint32_t n;
                const char *p;
                if (sd_bus_message_read(m, "uo", &n, &p) >= 0)
                        json_object_object_add(o, "number", json_object_new_int64(n));
        }
        if (arg_json != JSON_OFF)
                (void) cfctl_print_json(o);
        else {
                printf("%s %s", strempty(member), strempty(path));
                struct json_object *ch;
                if (json_object_object_get_ex(o, "changed", &ch)) {
                        json_object_object_foreach(ch, k, v)
                                        printf(" %s=%s", k, v ? json_object_get_string(v) : "");
                }
                putchar('\n');
        }
        (void) fflush(stdout);
        return 0;
}

int verb_monitor(sd_bus *bus, int argc, char *argv[]) {
        int r;

        r = sd_bus_match_signal(bus, NULL, BUS_NAME, NULL, NULL, NULL, on_monitor_signal, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to subscribe to signals: %m");
        if (!arg_quiet)
                fprintf(stderr, "Monitoring %s; ^C to stop.\n", BUS_NAME);
        for (;;) {
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return log_error_errno(r, "Bus connection lost: %m");
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0 && r != -EINTR)
                        return r;
        }
}
