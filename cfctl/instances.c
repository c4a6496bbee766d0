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

#include "cfctl/bus-call.h"
#include "cfctl/cfctl.h"
#include "cfctl/json.h"
#include "cfctl/output.h"
#include "common/bus-api.h"
#include "common/json-util.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/parse-util.h"
#include "common/time-util.h"

/* Adds the Instance properties of each object of a GetManagedObjects reply to array. */
static int instances_from_managed_objects(sd_bus_message *reply, struct json_object *array) {
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(reply, 'e', "oa{sa{sv}}")) > 0) {
                r = sd_bus_message_skip(reply, "o");
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
                                _cleanup_(json_object_putp) struct json_object *o = json_object_new_object();

                                r = json_add_bus_properties(o, reply);
                                if (r < 0)
                                        return r;
                                json_object_array_add(array, TAKE_PTR(o));
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
        return sd_bus_message_exit_container(reply);
}

/* All instances' properties, by number, from one GetManagedObjects call. */
static int fetch_instances(sd_bus *bus, struct json_object **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(json_object_putp) struct json_object *array = json_object_new_array();
        int r;

        r = bus_call(bus,
                     &(const BusCall){ .interface = "org.freedesktop.DBus.ObjectManager",
                                       .method = "GetManagedObjects",
                                       .what = "list instances" },
                     &reply,
                     NULL);
        if (r < 0)
                return r;
        r = instances_from_managed_objects(reply, array);
        if (r < 0)
                return log_error_errno(r, "Failed to parse reply: %m");
        *ret = TAKE_PTR(array);
        return 0;
}

static const char *instance_string(struct json_object *p, const char *key) {
        return strempty(json_get_string(p, key));
}

/* The keys DESIGN.md §10 fixes for list --json. */
static struct json_object *list_entry(struct json_object *p) {
        struct json_object *o = json_object_new_object(), *taps = json_get(p, "Taps");

        json_object_object_add(o, "number", json_object_new_int64(json_get_int64(p, "Number")));
        json_object_object_add(o, "owner", json_object_new_int64(json_get_int64(p, "Owner")));
        json_object_object_add(o, "backend", json_object_new_string(instance_string(p, "Backend")));
        json_object_object_add(o, "state", json_object_new_string(instance_string(p, "State")));
        json_object_object_add(o, "reason", json_object_new_string(instance_string(p, "StateReason")));
        json_object_object_add(o, "booted", json_object_new_boolean(json_get_bool(p, "Booted")));
        json_object_object_add(o, "pid", json_object_new_int64(json_get_int64(p, "MainPid")));
        json_object_object_add(o, "cid", json_object_new_int64(json_get_int64(p, "VsockCid")));
        json_object_object_add(o, "taps", taps ? json_object_get(taps) : json_object_new_array());
        json_object_object_add(o, "restart_count", json_object_new_int64(json_get_int64(p, "RestartCount")));
        json_object_object_add(o, "autostart", json_object_new_boolean(json_get_bool(p, "Autostart")));
        json_object_object_add(o, "disk_usage", json_object_new_int64(json_get_int64(p, "DiskUsage")));
        json_object_object_add(o, "status", json_object_new_string(instance_string(p, "StatusText")));
        return o;
}

static int compare_by_number(const void *a, const void *b) {
        int64_t x = json_get_int64(*(struct json_object *const *) a, "number"),
                y = json_get_int64(*(struct json_object *const *) b, "number");

        return x < y ? -1 : x > y;
}

/* The list table of list entries. */
static int list_print(struct json_object *entries) {
        static const TableColumn columns[] = {
                { "NUM", 4 },    { "OWNER", 6 }, { "BACKEND", 7 }, { "STATE", 10 }, { "REASON", 12 },
                { "BOOTED", 6 }, { "PID", 8 },   { "CID", 4 },     { "TAPS", 0 },
        };
        _cleanup_(table_freep) Table *t = NULL;
        size_t n = json_object_array_length(entries);
        int r;

        r = table_new(columns, ELEMENTSOF(columns), &t);
        if (r < 0)
                return log_oom();
        for (size_t k = 0; k < n; k++) {
                struct json_object *o = json_object_array_get_idx(entries, k), *taps = json_get(o, "taps");

                table_add_cellf(t, "%" PRIi64, json_get_int64(o, "number"));
                table_add_cellf(t, "%" PRIi64, json_get_int64(o, "owner"));
                table_add_cell(t, json_get_string(o, "backend"));
                table_add_cell(t, json_get_string(o, "state"));
                table_add_cell(t, json_get_string(o, "reason"));
                table_add_cell(t, yes_no(json_get_bool(o, "booted")));
                table_add_cellf(t, "%" PRIi64, json_get_int64(o, "pid"));
                table_add_cellf(t, "%" PRIi64, json_get_int64(o, "cid"));
                if (taps && json_object_array_length(taps) > 0)
                        table_add_cellf(t,
                                        "%s,...",
                                        json_object_get_string(json_object_array_get_idx(taps, 0)));
                else
                        table_add_cell(t, "");
        }
        r = table_print(t, arg_legend);
        if (r < 0)
                return log_oom();
        if (arg_legend)
                printf("\n%zu instances listed.\n", n);
        return 0;
}

int verb_list(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(json_object_putp) struct json_object *all = NULL, *entries = json_object_new_array();
        int r;

        r = fetch_instances(bus, &all);
        if (r < 0)
                return r;
        for (size_t k = 0; k < json_object_array_length(all); k++)
                json_object_array_add(entries, list_entry(json_object_array_get_idx(all, k)));
        json_object_array_sort(entries, compare_by_number);

        if (arg_json != JSON_OFF) {
                output_json(entries);
                return 0;
        }
        return list_print(entries);
}

static struct json_object *find_instance(struct json_object *all, unsigned number) {
        for (size_t k = 0; k < json_object_array_length(all); k++) {
                struct json_object *p = json_object_array_get_idx(all, k);
                if ((unsigned) json_get_int64(p, "Number") == number)
                        return p;
        }
        return NULL;
}

static int parse_instance_number(const char *s, unsigned *ret) {
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
                return log_error_errno(-ENOENT, NO_INSTANCE_MESSAGE, number);
        *ret = json_object_get(p);
        return 0;
}

int verb_show(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(json_object_putp) struct json_object *p = NULL;
        unsigned number;
        int r;

        r = parse_instance_number(argv[1], &number);
        if (r < 0)
                return r;
        r = instance_props(bus, number, &p);
        if (r < 0)
                return r;
        if (arg_json != JSON_OFF) {
                output_json(p);
                return 0;
        }
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
        r = parse_instance_number(argv[1], &number);
        if (r < 0)
                return r;
        r = instance_props(bus, number, &p);
        if (r < 0)
                return r;
        if (arg_json != JSON_OFF) {
                _cleanup_(json_object_putp) struct json_object *o = list_entry(p);
                output_json(o);
                return 0;
        }
        printf("Instance %u (%s, uid %" PRIi64 ")\n",
               number,
               instance_string(p, "Backend"),
               json_get_int64(p, "Owner"));
        printf("     State: %s (%s)%s%s\n",
               instance_string(p, "State"),
               instance_string(p, "StateReason"),
               *instance_string(p, "StatusText") ? ": " : "",
               instance_string(p, "StatusText"));
        printf("    Booted: %s\n", yes_no(json_get_bool(p, "Booted")));
        printf("  Main PID: %" PRIi64 "\n", json_get_int64(p, "MainPid"));
        printf(" Vsock CID: %" PRIi64 "\n", json_get_int64(p, "VsockCid"));
        printf("  Restarts: %" PRIi64 " (policy %s)\n",
               json_get_int64(p, "RestartCount"),
               instance_string(p, "RestartPolicy"));
        printf("   Console: %s\n", instance_string(p, "ConsoleLog"));
        return 0;
}

/* method on each instance argv[1...] names, in turn, up to the first failure. */
static int call_instances(sd_bus *bus, int argc, char *argv[], const char *method, const char *what) {
        for (int k = 1; k < argc; k++) {
                unsigned number;
                int r;

                r = parse_instance_number(argv[k], &number);
                if (r < 0)
                        return r;
                const BusCall c = {
                        .instance = number, .method = method, .what = what, .flags = BUS_CALL_MAY_AUTHORIZE
                };
                /* Kill(i signal) is the one method with an argument. */
                if (streq(method, "Kill"))
                        r = bus_call(bus, &c, NULL, "i", arg_signal);
                else
                        r = bus_call(bus, &c, NULL, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* autostart N on|off */
int verb_autostart(sd_bus *bus, int argc, char *argv[]) {
        unsigned number;
        int r, on;

        r = parse_instance_number(argv[1], &number);
        if (r < 0)
                return r;
        if (streq(argv[2], "on") || streq(argv[2], "yes") || streq(argv[2], "true"))
                on = 1;
        else if (streq(argv[2], "off") || streq(argv[2], "no") || streq(argv[2], "false"))
                on = 0;
        else
                return log_error_errno(
                                -EINVAL,
                                "'%s' is not on or off. Use 'cfctl autostart %u on' or '... off'.",
                                argv[2],
                                number);
        const BusCall c = { .instance = number,
                            .method = "SetAutostart",
                            .what = "change the instance's autostart",
                            .flags = BUS_CALL_MAY_AUTHORIZE };
        return bus_call(bus, &c, NULL, "b", on);
}

int verb_reset(sd_bus *bus, int argc, char *argv[]) {
        return call_instances(bus, argc, argv, "Reset", "reset the instance");
}

int verb_stop(sd_bus *bus, int argc, char *argv[]) {
        return call_instances(bus, argc, argv, "Stop", "stop the instance");
}

int verb_kill(sd_bus *bus, int argc, char *argv[]) {
        return call_instances(bus, argc, argv, "Kill", "kill the instance");
}

int verb_restart(sd_bus *bus, int argc, char *argv[]) {
        return call_instances(bus, argc, argv, "Restart", "restart the instance");
}

int verb_suspend(sd_bus *bus, int argc, char *argv[]) {
        return call_instances(bus, argc, argv, "Suspend", "suspend the instance");
}

int verb_resume(sd_bus *bus, int argc, char *argv[]) {
        return call_instances(bus, argc, argv, "Resume", "resume the instance");
}

int verb_rm(sd_bus *bus, int argc, char *argv[]) {
        return call_instances(bus, argc, argv, "Remove", "remove the instance");
}

/* start --wait: progress on stderr until instance number (at path) has booted, failed or stopped, or
 * --timeout passed. */
static int start_wait_booted(sd_bus *bus, unsigned number, const char *path) {
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + (uint64_t) arg_timeout * USEC_PER_SEC;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *match = NULL;
        _cleanup_free_ char *last_state = NULL;
        int r;

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
                return log_error_errno(r, "Failed to subscribe to instance %u's changes: %m", number);

        for (;;) {
                _cleanup_(json_object_putp) struct json_object *p = NULL;
                const char *state, *status;

                r = instance_props(bus, number, &p);
                if (r < 0)
                        return r;
                state = instance_string(p, "State");
                status = instance_string(p, "StatusText");
                if (!streq_ptr(last_state, state)) {
                        fprintf(stderr, "Instance %u: %s%s%s\n", number, state, *status ? ": " : "", status);
                        free(last_state);
                        last_state = strdup(state);
                }
                if (json_get_bool(p, "Booted")) {
                        fprintf(stderr, "Instance %u: booted\n", number);
                        return 0;
                }
                if (streq(state, "failed") || streq(state, "stopped"))
                        return log_error_errno(
                                        -EIO,
                                        "Instance %u %s (%s) before it booted. 'cfctl logs %u' shows its console.",
                                        number,
                                        state,
                                        instance_string(p, "StateReason"),
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

int verb_start(sd_bus *bus, int argc, char *argv[]) {
        static const BusCall c = { .method = "CreateInstance",
                                   .what = "create the instance",
                                   .flags = BUS_CALL_MAY_AUTHORIZE };
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *path;
        uint32_t number;
        int r;

        r = bus_call_new(bus, &c, &m);
        if (r < 0)
                return r;
        r = cfctl_append_start_options(m);
        if (r < 0)
                return log_error_errno(r, "Failed to create %s() call: %m", c.method);
        r = bus_call_send(bus, &c, m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "uo", &number, &path);
        if (r < 0)
                return log_error_errno(r, "Failed to parse reply: %m");

        if (arg_wait) {
                r = start_wait_booted(bus, number, path);
                if (r < 0)
                        return r;
        }
        printf("%u\n", number);
        return 0;
}

/* A console log that got no more output for a second: false when its instance stopped, failed or
 * went away. */
static bool logs_instance_active(sd_bus *bus, unsigned number) {
        _cleanup_(json_object_putp) struct json_object *p = NULL;
        const char *state;

        if (instance_props(bus, number, &p) < 0)
                return false;
        state = instance_string(p, "State");
        return !streq(state, "stopped") && !streq(state, "failed");
}

int verb_logs(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(json_object_putp) struct json_object *p = NULL;
        _cleanup_close_ int fd = -EBADF, ino = -EBADF;
        char buf[65536];
        unsigned number;
        const char *path;
        int r;

        r = parse_instance_number(argv[1], &number);
        if (r < 0)
                return r;
        r = instance_props(bus, number, &p);
        if (r < 0)
                return r;
        path = instance_string(p, "ConsoleLog");
        /* Opened with the caller's own rights: the console belongs to the instance's owner. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return log_error_errno(
                                -errno,
                                "Cannot read the console of instance %u (%s): %m. It is readable by "
                                "its owner (uid %" PRIi64 ") and root.",
                                number,
                                path,
                                json_get_int64(p, "Owner"));
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
                } else if (r == 0 && !logs_instance_active(bus, number))
                        return 0;
        }
}

static int on_monitor_signal(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *member = sd_bus_message_get_member(m), *path = sd_bus_message_get_path(m);
        _cleanup_(json_object_putp) struct json_object *o = json_object_new_object();
        struct json_object *changed;
        int r;

        json_object_object_add(o, "signal", json_object_new_string(strempty(member)));
        json_object_object_add(o, "path", json_object_new_string(strempty(path)));
        if (streq_ptr(member, "PropertiesChanged")) {
                const char *iface;
                struct json_object *props = json_object_new_object();

                r = sd_bus_message_read(m, "s", &iface);
                if (r >= 0)
                        r = json_add_bus_properties(props, m);
                json_object_object_add(o, "interface", json_object_new_string(r >= 0 ? iface : ""));
                json_object_object_add(o, "changed", props);
        } else if (streq_ptr(member, "InstanceNew") || streq_ptr(member, "InstanceRemoved")) {
                uint32_t n;
                const char *p;
                if (sd_bus_message_read(m, "uo", &n, &p) >= 0)
                        json_object_object_add(o, "number", json_object_new_int64(n));
        }
        if (arg_json != JSON_OFF)
                output_json(o);
        else {
                printf("%s %s", strempty(member), strempty(path));
                changed = json_get(o, "changed");
                if (changed) {
                        json_object_object_foreach(changed, k, v)
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
